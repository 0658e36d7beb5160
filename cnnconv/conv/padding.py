"""Argument checking and boundary padding shared by :mod:`cnnconv.conv.correlation` and its transpose.

Everything here is validation and integer bookkeeping except :func:`pad_array`, which
fills the padded border with the values a boundary rule asks for.
"""

from __future__ import annotations

import numpy as np

from cnnconv.errors import CnnconvError
from cnnconv.shape.arithmetic import full_padding, same_padding

#: Boundary rule -> numpy.pad mode. cnnconv's "reflect" is the half-sample
#: reflection (dcba|abcd), which numpy calls "symmetric"; cnnconv's "mirror" is the
#: whole-sample reflection (dcb|abcd), which numpy calls "reflect". numpy.pad
#: repeats both reflections periodically when the padding is wider than the input.
BOUNDARIES = {
    "zero": "constant",
    "constant": "constant",
    "edge": "edge",
    "reflect": "symmetric",
    "mirror": "reflect",
    "wrap": "wrap",
}

MODES = ("valid", "same", "full")

# Other libraries' names for the same rules, to point users at cnnconv's name.
_ALIASES = {
    "symmetric": "reflect", "symm": "reflect", "half-sample": "reflect",
    "reflect101": "mirror", "reflect_101": "mirror", "whole-sample": "mirror",
    "nearest": "edge", "replicate": "edge", "clamp": "edge",
    "circular": "wrap", "grid-wrap": "wrap", "periodic": "wrap",
    "zeros": "zero", "fill": "zero", "grid-constant": "constant",
}  # fmt: skip


def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def per_axis(value, ndim: int, name: str, minimum: int | None = 1) -> tuple[int, ...]:
    """A window setting (stride, dilation, kernel size, padding ...) as one Python int per spatial axis.

    The rule of every convolution and pooling argument: one int for every axis, or one int per
    axis (a tuple, a list or a 1-D array). An int is a Python or NumPy integer, never a bool
    (``True`` would quietly be a window of 1) and never a float, even a whole one.

    Parameters
    ----------
    value : int or sequence of int
        What the caller gave.
    ndim : int
        The number of spatial axes.
    name : str
        The argument's name, for the message.
    minimum : int or None
        Smallest value allowed on every axis; None leaves the range to the caller (pooling's
        :func:`cnnconv.shape.arithmetic.pool_out_size` names its own limits).

    Returns
    -------
    tuple of ndim ints

    Examples
    --------
    >>> per_axis(2, 2, "stride"), per_axis((1, 3), 2, "dilation"), per_axis(np.array([1, 3]), 2, "stride")
    ((2, 2), (1, 3), (1, 3))
    >>> per_axis(True, 2, "stride")
    Traceback (most recent call last):
    ...
    cnnconv.errors.CnnconvError: stride must be whole numbers, got True
    """
    items = value.tolist() if isinstance(value, np.ndarray) else value  # NumPy ints -> ints, 0-d -> scalar
    values = tuple(items) if isinstance(items, (tuple, list)) else (items,) * ndim
    if len(values) != ndim:
        axes = "one int" if ndim == 1 else f"one int or {ndim} ints (one per axis)"
        raise CnnconvError(f"{name} must be {axes}, got {value!r}")
    if not all(map(_is_int, values)):
        raise CnnconvError(f"{name} must be whole numbers, got {value!r}")
    if minimum is not None and min(values) < minimum:
        raise CnnconvError(f"{name} must be >= {minimum} on every axis, got {value!r}")
    return tuple(int(v) for v in values)


def explicit_padding(padding, ndim: int) -> tuple[tuple[int, int], ...]:
    """Explicit ``padding`` as (before, after) per spatial axis.

    Accepted: one int (every side); for 2-D, ``(ph, pw)`` (both sides of each axis)
    or ``((top, bottom), (left, right))``; for 1-D, ``(before, after)``.

    Examples
    --------
    >>> explicit_padding(1, 2)
    ((1, 1), (1, 1))
    >>> explicit_padding((1, 2), 2)
    ((1, 1), (2, 2))
    >>> explicit_padding(((0, 1), (2, 3)), 2)
    ((0, 1), (2, 3))
    >>> explicit_padding((0, 1), 1)
    ((0, 1),)
    """
    if ndim == 1:
        allowed = "one int or (before, after)"
    else:
        allowed = "one int, (ph, pw), or ((top, bottom), (left, right))"
    error = CnnconvError(f"padding must be {allowed} of ints >= 0, got {padding!r}")
    if _is_int(padding):
        pads = ((int(padding),) * 2,) * ndim
    elif not isinstance(padding, (tuple, list)):
        raise error
    elif ndim == 1 and len(padding) == 2 and all(_is_int(p) for p in padding):
        pads = ((int(padding[0]), int(padding[1])),)
    elif len(padding) == ndim and all(_is_int(p) for p in padding):
        pads = tuple((int(p), int(p)) for p in padding)
    elif len(padding) == ndim and all(
        isinstance(p, (tuple, list)) and len(p) == 2 and all(_is_int(q) for q in p) for p in padding
    ):
        pads = tuple((int(p[0]), int(p[1])) for p in padding)
    else:
        raise error
    if min(min(p) for p in pads) < 0:
        raise error
    return pads


def mode_padding(mode: str, n: int, k: int, stride: int, dilation: int) -> tuple[int, int]:
    """(before, after) padding of an output-size mode along one axis.

    ``valid``: none. ``same``: output ``ceil(n / stride)``, total
    ``max((out-1)*stride + dilation*(k-1) + 1 - n, 0)``, smaller half before.
    ``full``: ``dilation*(k-1)`` on each side.

    Examples
    --------
    >>> mode_padding("same", 5, 2, 1, 1), mode_padding("full", 5, 3, 1, 2)
    ((0, 1), (4, 4))
    """
    if mode == "valid":
        return 0, 0
    if mode == "full":
        return full_padding(k, dilation)
    return same_padding(n, k, stride, dilation)


def origin_padding(n: int, k: int, stride: int, dilation: int, origin: int, flip: bool) -> tuple[int, int]:
    """(before, after) padding that puts kernel tap ``origin`` over each output's input pixel.

    Output ``i`` sits on input pixel ``i*stride``; there are ``ceil(n / stride)`` outputs,
    as in ``same`` mode. For correlation tap ``origin`` multiplies that pixel, so
    ``before = origin*dilation``; for convolution (the kernel flipped) the same tap does,
    so ``before = dilation*(k-1) - origin*dilation``. ``after`` is what the last window needs.

    Examples
    --------
    >>> origin_padding(5, 3, 1, 1, 0, False), origin_padding(5, 3, 1, 1, 0, True)
    ((0, 2), (2, 0))
    >>> origin_padding(6, 4, 1, 1, 1, False)   # the default origin (k-1)//2 is same mode's padding
    (1, 2)
    """
    span = dilation * (k - 1) + 1
    before = span - 1 - origin * dilation if flip else origin * dilation
    out = -(-n // stride)
    return before, max((out - 1) * stride + span - before - n, 0)


def check_origin(origin, spatial_k) -> tuple[int, ...]:
    """``origin`` as one tap index per spatial axis, each in ``0 .. k-1``.

    Examples
    --------
    >>> check_origin((0, 2), (3, 3)), check_origin(1, (3,))
    ((0, 2), (1,))
    """
    values = per_axis(origin, len(spatial_k), "origin", minimum=0)
    if any(o >= k for o, k in zip(values, spatial_k)):
        raise CnnconvError(f"origin {values} must lie in the kernel: each index below the kernel size {tuple(spatial_k)}")
    return values


def resolve_padding(mode, padding, spatial_in, spatial_k, stride, dilation, mirror_same, origin=None):
    """The (before, after) pads per axis for ``mode``/``padding``, and the mode's name.

    ``mirror_same`` swaps before/after in ``same`` mode (what ``convolve`` does, so that
    it flips the kernel about the same origin as ``correlate`` and is its adjoint).
    ``origin`` (a tap index per axis) replaces same mode's centre: see :func:`origin_padding`.
    """
    if mode is not None and padding is not None:
        raise CnnconvError(
            f"give either mode or padding, not both (got mode={mode!r}, padding={padding!r})"
        )
    if origin is not None:
        if padding is not None or mode not in (None, "same"):
            raise CnnconvError(
                f"an origin places the kernel for same-size output: it goes with mode 'same', "
                f"not {'padding' if padding is not None else repr(mode)}"
            )
        origin = check_origin(origin, spatial_k)
        return "same", tuple(
            origin_padding(n, k, s, d, o, mirror_same)
            for n, k, s, d, o in zip(spatial_in, spatial_k, stride, dilation, origin)
        )
    if padding is not None:
        return "explicit", explicit_padding(padding, len(spatial_in))
    mode = "valid" if mode is None else mode
    if mode not in MODES:
        raise CnnconvError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
    pads = []
    for n, k, s, d in zip(spatial_in, spatial_k, stride, dilation):
        before, after = mode_padding(mode, n, k, s, d)
        pads.append((after, before) if mirror_same and mode == "same" else (before, after))
    return mode, tuple(pads)


def check_boundary(boundary, cval) -> float:
    """Validate ``boundary`` and return the fill value (0 unless ``constant``)."""
    if not isinstance(boundary, str) or boundary not in BOUNDARIES:
        alias = _ALIASES.get(boundary.lower()) if isinstance(boundary, str) else None
        hint = f" (what other libraries call {boundary!r} is {alias!r} here)" if alias else ""
        raise CnnconvError(
            f"unknown boundary {boundary!r}; choose one of {', '.join(BOUNDARIES)}{hint}"
        )
    try:
        cval = float(cval)
    except (TypeError, ValueError):
        raise CnnconvError(f"cval must be a number, got {cval!r}") from None
    if boundary == "constant":
        if not np.isfinite(cval):
            raise CnnconvError(f"cval must be finite, got {cval!r}")
        return cval
    if cval != 0.0:
        raise CnnconvError(
            f"cval={cval!r} is only used with boundary='constant', got boundary={boundary!r}"
        )
    return 0.0


def pad_array(x: np.ndarray, pads, boundary: str, cval: float = 0.0) -> np.ndarray:
    """Pad the leading ``len(pads)`` axes of ``x`` with the boundary rule's values.

    Shape
    -----
    (n0, n1, ...) -> (n0 + b0 + a0, n1 + b1 + a1, ...) for pads ((b0, a0), (b1, a1));
    trailing (channel) axes are not padded.

    Examples
    --------
    >>> pad_array(np.array([1.0, 2.0, 3.0]), ((4, 2),), "reflect").tolist()
    [3.0, 3.0, 2.0, 1.0, 1.0, 2.0, 3.0, 3.0, 2.0]
    >>> pad_array(np.array([1.0, 2.0, 3.0]), ((4, 2),), "mirror").tolist()
    [1.0, 2.0, 3.0, 2.0, 1.0, 2.0, 3.0, 2.0, 1.0]
    """
    if not any(b or a for b, a in pads):
        return x
    width = tuple(pads) + ((0, 0),) * (x.ndim - len(pads))
    np_mode = BOUNDARIES[boundary]
    if np_mode == "constant":
        return np.pad(x, width, mode="constant", constant_values=cval)
    return np.pad(x, width, mode=np_mode)


def as_real_array(a, name: str) -> np.ndarray:
    """``a`` as an array of bool, int or float; anything else is refused by name."""
    a = np.asarray(a)
    if a.dtype.kind not in "biuf":
        raise CnnconvError(f"{name} must hold real numbers (bool, int or float), got dtype {a.dtype}")
    return a


def as_float(a, name: str = "input") -> np.ndarray:
    """``a`` as an array of its :func:`compute_dtype` (float32 stays float32, real types become float64).

    Examples
    --------
    >>> as_float([1, 2]).dtype, as_float(np.ones(2, np.float32)).dtype
    (dtype('float64'), dtype('float32'))
    """
    a = as_real_array(a, name)
    return a.astype(compute_dtype(a.dtype), copy=False)


def finite_kernel(w) -> np.ndarray:
    """The kernel as a real array; NaN or inf taps are refused (they would poison every output)."""
    w = as_real_array(w, "kernel")
    if w.size and not np.all(np.isfinite(w)):
        bad = int(np.sum(~np.isfinite(w)))
        raise CnnconvError(f"kernel must be finite, got {bad} NaN/inf value(s) in shape {w.shape}")
    return w


def compute_dtype(dtype) -> np.dtype:
    """float32 stays float32; every other input dtype (ints, bool, float16, float64) -> float64."""
    if dtype is not None and np.dtype(dtype) == np.float32:
        return np.dtype(np.float32)
    return np.dtype(np.float64)


def check_bias(bias, n_channels: int, dtype) -> np.ndarray | None:
    """``bias`` as a scalar or (n_channels,) array of ``dtype``; None stays None."""
    if bias is None:
        return None
    b = as_real_array(bias, "bias").astype(dtype)
    if n_channels:
        allowed = f"a scalar or shape ({n_channels},)"
    else:
        allowed = "a scalar (this output has no channel axis)"
    if b.ndim > 1 or (b.ndim == 1 and b.shape[0] != n_channels):
        raise CnnconvError(f"bias must be {allowed}, got shape {b.shape}")
    if not np.all(np.isfinite(b)):
        raise CnnconvError("bias must be finite, got NaN/inf")
    return b
