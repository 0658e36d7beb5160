"""Receptive-field arithmetic, and which input pixels a strided window never reads.

Integer-only, like :mod:`cnnconv.shape.arithmetic`: the recurrence of Araujo, Norris and Sim,
"Computing Receptive Fields of Convolutional Neural Networks" (Distill, 2019), one layer
at a time, and the rows/columns a stride leaves unread at the end of an axis.
"""

from __future__ import annotations

from math import gcd

from cnnconv.shape.arithmetic import _at_least_one, _pair


def receptive_field_step(
    rf: int,
    jump: int,
    start: int,
    kernel_size: int,
    stride: int = 1,
    padding_before: int = 0,
    dilation: int = 1,
) -> tuple[int, int, int]:
    """Receptive field (size, jump, start) after one convolution or pooling layer.

    The recurrence of Araujo, Norris & Sim, "Computing Receptive Fields of Convolutional
    Neural Networks" (Distill, 2019), run from the input (``rf=1, jump=1, start=0``) to
    the output, along one axis::

        rf'    = rf + dilation*(kernel_size - 1) * jump
        jump'  = jump * stride
        start' = start - padding_before * jump

    ``jump`` is the distance in input pixels between neighbouring outputs (the effective
    stride); ``start`` is the input coordinate of the first pixel the first output sees
    (negative: it lies in the padding).

    Examples
    --------
    >>> step = receptive_field_step
    >>> step(*step(1, 1, 0, 5), 2, stride=2)   # conv5 then pool2: 6 pixels, jump 2
    (6, 2, 0)
    >>> step(1, 1, 0, 3, padding_before=1, dilation=2)
    (5, 1, -1)
    """
    _at_least_one(kernel_size=kernel_size, stride=stride, dilation=dilation, jump=jump)
    return rf + dilation * (kernel_size - 1) * jump, jump * stride, start - padding_before * jump


def transposed_receptive_field_step(
    rf: int,
    jump: int,
    start: int,
    kernel_size: int,
    stride: int = 1,
    padding: int = 0,
    dilation: int = 1,
) -> tuple[int, int, int]:
    """A safe upper bound on the receptive field after a transposed convolution.

    Output ``o`` of a transposed convolution reads input ``i`` when
    ``o + padding - i*stride`` is a tap offset ``t*dilation`` (``0 <= t < kernel_size``),
    so at most ``dilation*(kernel_size-1) // stride + 1`` consecutive inputs: the size
    grows by ``(dilation*(kernel_size-1) // stride) * jump``, exact for the widest output.
    Neighbouring outputs are ``jump/stride`` input pixels apart on average but can be a
    whole ``jump`` apart, so the jump is kept (not divided): every later layer's size is
    then an upper bound too. ``start`` is the first input the first output can read,
    ``ceil((padding - dilation*(kernel_size-1)) / stride)`` inputs along.

    Examples
    --------
    >>> transposed_receptive_field_step(1, 1, 0, 2, stride=2)   # each output sees one input
    (1, 1, 0)
    >>> transposed_receptive_field_step(1, 1, 0, 3, stride=2, padding=1)
    (2, 1, 0)
    >>> transposed_receptive_field_step(1, 1, 0, 3)              # stride 1: like a full conv3
    (3, 1, -2)
    """
    _at_least_one(kernel_size=kernel_size, stride=stride, dilation=dilation, jump=jump)
    span = dilation * (kernel_size - 1)
    first = -((span - padding) // stride)  # ceil((padding - span) / stride)
    return rf + (span // stride) * jump, jump, start + first * jump


def unread_tail(
    n: int,
    out: int,
    kernel_size: int,
    stride: int = 1,
    padding: tuple[int, int] = (0, 0),
    dilation: int = 1,
) -> tuple[int, int]:
    """Input pixels and padding pixels after the last window: never read by any output.

    The last window ends at ``(out-1)*stride + dilation*(kernel_size-1)`` of the padded
    axis; what lies beyond is dropped: the after-padding first, then real input. With
    floor division that is ``(n + p_before + p_after - dilation*(kernel_size-1) - 1) % stride``
    pixels; a ceil-mode last window that runs past the end drops none.

    Returns
    -------
    (int, int)
        (real input pixels never read, padding pixels never read).

    Examples
    --------
    >>> unread_tail(224, 54, 11, stride=4)                  # AlexNet conv1 without padding
    (1, 0)
    >>> unread_tail(227, 55, 11, stride=4)
    (0, 0)
    >>> unread_tail(224, 55, 11, stride=4, padding=(2, 2))  # torchvision: a padding column
    (0, 1)
    """
    before, after = _pair(padding)
    last = (out - 1) * stride + dilation * (kernel_size - 1)
    beyond = max(n + before + after - 1 - last, 0)
    return min(max(beyond - after, 0), n), min(beyond, after)


def read_fraction(kernel_size: int, stride: int = 1, dilation: int = 1) -> tuple[int, int]:
    """How many of every ``stride`` consecutive input rows some window reads: (read, stride).

    Windows start every ``stride`` pixels and read taps ``t*dilation``; the taps cover
    ``min(kernel_size, stride // gcd(stride, dilation))`` of the ``stride`` residues, so
    pixels are skipped when the stride exceeds the kernel or shares a factor with the
    dilation. Computed without looping over the sizes.

    Examples
    --------
    >>> read_fraction(3, stride=2)
    (2, 2)
    >>> read_fraction(2, stride=3)
    (2, 3)
    >>> read_fraction(3, stride=2, dilation=2)   # taps 0, 2, 4: odd rows never read
    (1, 2)
    """
    _at_least_one(kernel_size=kernel_size, stride=stride, dilation=dilation)
    return min(kernel_size, stride // gcd(stride, dilation)), stride
