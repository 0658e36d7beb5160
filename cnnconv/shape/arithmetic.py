"""Integer shape arithmetic for convolution, pooling and transposed convolution.

Every function here takes and returns Python ints: nothing allocates an array,
so sizing a network with 10**9-pixel inputs costs nothing. Results may be zero or
negative (a layer that shrinks its input to nothing); callers that need a usable
size check for that and name the layer.
"""

from __future__ import annotations

from cnnconv.errors import CnnconvError


def _pair(padding: int | tuple[int, int], name: str = "padding") -> tuple[int, int]:
    if isinstance(padding, (tuple, list)):
        if len(padding) != 2:
            raise CnnconvError(f"{name} must be one int or (before, after), got {padding!r}")
        before, after = (int(p) for p in padding)
    else:
        before = after = int(padding)
    if before < 0 or after < 0:
        raise CnnconvError(f"{name} must be >= 0, got {padding!r}")
    return before, after


def _at_least_one(**values: int) -> None:
    for name, value in values.items():
        if int(value) < 1:
            raise CnnconvError(f"{name} must be >= 1, got {value!r}")


def conv_out_size(
    n: int,
    kernel_size: int,
    stride: int = 1,
    padding: int | tuple[int, int] = 0,
    dilation: int = 1,
) -> int:
    """Length of a strided, dilated, padded correlation along one axis.

    ``floor((n + p_before + p_after - dilation*(kernel_size-1) - 1) / stride) + 1``

    Parameters
    ----------
    n : int
        Input length.
    kernel_size : int
        Number of kernel taps along the axis.
    stride, dilation : int
        Step between outputs and between taps (both >= 1).
    padding : int or (int, int)
        Zeros (or boundary values) added on each side, or (before, after).

    Returns
    -------
    int
        The output length; zero or negative when the kernel does not fit.

    Examples
    --------
    >>> conv_out_size(32, 5)
    28
    >>> conv_out_size(224, 11, stride=4, padding=2)   # AlexNet conv1: one column unread
    55
    >>> conv_out_size(7, 3, stride=2)
    3
    """
    _at_least_one(kernel_size=kernel_size, stride=stride, dilation=dilation)
    before, after = _pair(padding)
    span = dilation * (kernel_size - 1) + 1
    return (n + before + after - span) // stride + 1


def same_padding(n: int, kernel_size: int, stride: int = 1, dilation: int = 1) -> tuple[int, int]:
    """Padding (before, after) that makes the output length ``ceil(n / stride)``.

    The total is ``max((out - 1)*stride + dilation*(kernel_size - 1) + 1 - n, 0)``;
    the smaller half goes before, the larger after (PyTorch's rule for stride 1,
    TensorFlow/Keras' for larger strides).

    Examples
    --------
    >>> same_padding(5, 3)
    (1, 1)
    >>> same_padding(5, 2)          # even kernel: the extra zero goes after
    (0, 1)
    >>> same_padding(224, 7, stride=2)
    (2, 3)
    """
    _at_least_one(n=n, kernel_size=kernel_size, stride=stride, dilation=dilation)
    out = -(-n // stride)
    total = max((out - 1) * stride + dilation * (kernel_size - 1) + 1 - n, 0)
    return total // 2, total - total // 2


def full_padding(kernel_size: int, dilation: int = 1) -> tuple[int, int]:
    """Padding (before, after) of ``full`` mode: ``dilation*(kernel_size-1)`` each side.

    Examples
    --------
    >>> full_padding(3)
    (2, 2)
    >>> full_padding(3, dilation=2)
    (4, 4)
    """
    _at_least_one(kernel_size=kernel_size, dilation=dilation)
    p = dilation * (kernel_size - 1)
    return p, p


def pool_out_size(
    n: int,
    kernel_size: int,
    stride: int | None = None,
    padding: int = 0,
    dilation: int = 1,
    ceil_mode: bool = False,
) -> int:
    """Output length of pooling, PyTorch's rule.

    ``floor_or_ceil((n + 2*padding - dilation*(kernel_size-1) - 1) / stride) + 1``;
    with ``ceil_mode`` a last window may overhang the end by less than a stride (even
    when no whole window fits), but one that would start inside the right padding is
    dropped. ``stride`` defaults to ``kernel_size``; ``padding`` must be at most
    ``kernel_size // 2``.

    Examples
    --------
    >>> pool_out_size(28, 2)
    14
    >>> pool_out_size(5, 2)
    2
    >>> pool_out_size(5, 2, ceil_mode=True)
    3
    >>> pool_out_size(5, 2, padding=1, ceil_mode=True)   # a 4th window would start in the padding
    3
    >>> pool_out_size(3, 4, stride=2, ceil_mode=True)    # one window larger than the input, as torch
    1
    """
    stride = kernel_size if stride is None else stride
    _at_least_one(kernel_size=kernel_size, stride=stride, dilation=dilation)
    if padding < 0 or 2 * padding > kernel_size:
        raise CnnconvError(
            f"pooling padding must be between 0 and kernel_size // 2 = {kernel_size // 2}, got {padding}"
        )
    span = dilation * (kernel_size - 1) + 1
    num = n + 2 * padding - span
    if not ceil_mode:
        return num // stride + 1
    out = -(-num // stride) + 1
    if (out - 1) * stride >= n + padding:
        out -= 1
    return out


def conv_transpose_out_size(
    n: int,
    kernel_size: int,
    stride: int = 1,
    padding: int = 0,
    output_padding: int = 0,
    dilation: int = 1,
) -> int:
    """Output length of a transposed convolution.

    ``(n - 1)*stride - 2*padding + dilation*(kernel_size - 1) + output_padding + 1``,
    with ``output_padding < max(stride, dilation)`` (it picks one of the input sizes
    that a strided correlation maps to ``n``).

    Examples
    --------
    >>> conv_transpose_out_size(2, 2)
    3
    >>> conv_transpose_out_size(2, 2, stride=2)
    4
    >>> conv_transpose_out_size(14, 3, stride=2, padding=1, output_padding=1)
    28
    """
    _at_least_one(kernel_size=kernel_size, stride=stride, dilation=dilation)
    if padding < 0:
        raise CnnconvError(f"padding must be >= 0, got {padding}")
    if not 0 <= output_padding < max(stride, dilation):
        raise CnnconvError(
            f"output_padding must be >= 0 and < max(stride, dilation) = {max(stride, dilation)}, "
            f"got {output_padding}"
        )
    return (n - 1) * stride - 2 * padding + dilation * (kernel_size - 1) + output_padding + 1

