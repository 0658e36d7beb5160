"""The float type a picture is computed in: ``--precision auto|float32|float64``.

Integer samples are computed in float32 when that is exact or its error is far below half
a sample level, and in float64 otherwise; float samples in float64 (as :func:`cnnconv.conv.correlate`
computes anything that is not float32). ``auto`` picks float32 for integer samples when

- the kernel's weights are integers and every sum of them over samples stays below 2**24
  (``sum|w| * top < 2**24``): every partial sum is an integer float32 holds exactly, so the
  result is exact (8-bit samples with any integer kernel up to ``sum|w| = 65793``; 16-bit
  ones up to ``sum|w| = 256``); or
- the rounding error stays below an eighth of a level: ``sqrt(taps) * eps32 * sum|w| * top
  * |scale| <= 1/8`` (``eps32 = 2**-23``; rounding errors of a sum grow as a random walk),
  so the rounded result is the same as float64's except where the exact value lies within
  that error of a tie (``k + 0.5``);

and float64 otherwise, or when the scaled values could pass float32's range (``10**30``).
Pooling's max, min and median pick samples, exact in float32 for samples below 2**24; an
average is a sum (exact below 2**24) divided once.

>>> import numpy as np
>>> compute_type(np.uint8, [np.array([[1, 0, -1]] * 3)])
dtype('float32')
>>> compute_type(np.uint16, [np.full((7, 7), 1 / 49)])      # a 7x7 box on 16 bits: bounded
dtype('float32')
>>> compute_type(np.uint16, [np.full((31, 31), 1.0)], scale=1 / 961)  # 961 taps on 16 bits
dtype('float64')
>>> compute_type(np.uint8, [np.ones((3, 3))], precision="float64")
dtype('float64')
"""

from __future__ import annotations

import math

import numpy as np

from cnnconv.errors import CnnconvError

PRECISIONS = ("auto", "float32", "float64")
#: Largest rounding error, in sample levels, that ``auto`` accepts in float32.
LEVEL_ERROR_MAX = 0.125
#: Scaled values beyond this go to float64 (float32 holds up to 3.4e38).
FLOAT32_SAFE = 1e30
_EXACT = 2.0**24
_EPS32 = float(np.finfo(np.float32).eps)


def check_precision(precision: str) -> None:
    if precision not in PRECISIONS:
        raise CnnconvError(f"precision must be one of {', '.join(map(repr, PRECISIONS))}, got {precision!r}")


def _top(dtype: np.dtype) -> float:
    info = np.iinfo(dtype)
    return float(max(abs(info.min), info.max))


def float32_error(dtype, kernels, scale: float = 1.0, offset: float = 0.0) -> float | None:
    """Bound of float32's rounding error, in output levels, or None when float32 is exact.

    >>> float32_error(np.uint8, [np.ones((3, 3))]) is None
    True
    >>> round(float32_error(np.uint16, [np.full((3, 3), 1 / 9)]), 4)
    0.0234
    """
    dtype = np.dtype(dtype)
    top = _top(dtype)
    sums = 0.0  # the largest bound of a kernel's sum of products (0 for an exact one)
    reach = 0.0  # the largest value a kernel can give
    for w in kernels:
        w = np.asarray(w, dtype=np.float64)
        total = float(np.abs(w).sum()) * top
        reach = max(reach, total)
        if not (np.all(w == np.round(w)) and total < _EXACT):
            sums = max(sums, math.sqrt(w.size) * _EPS32 * total)
    scale, offset = abs(float(scale)), abs(float(offset))
    # scaling and adding the offset are one rounding each, relative to the scaled value
    error = sums if (scale, offset) == (1.0, 0.0) else sums * scale + _EPS32 * (reach * scale + offset)
    return None if error == 0 else error


def _settled(dtype, precision: str) -> np.dtype | None:
    """The float type when the precision or the sample type decides it alone, else None.

    A given precision; float64 for float samples and for 32-bit integers, whose values
    float32's significand does not hold.
    """
    check_precision(precision)
    if precision != "auto":
        return np.dtype(precision)
    dtype = np.dtype(dtype)
    if dtype.kind not in "ui" or _top(dtype) >= _EXACT:
        return np.dtype(np.float64)
    return None


def compute_type(dtype, kernels, *, scale: float = 1.0, offset: float = 0.0, factor: float = 1.0,
                 precision: str = "auto") -> np.dtype:
    """The float type to compute samples of ``dtype`` with ``kernels`` in (see the module docstring).

    Parameters
    ----------
    dtype : numpy dtype
        The input's sample type.
    kernels : sequence of array_like
        The effective weights of every kernel (after ``--normalize``).
    scale, offset : float
        Applied to the result before the cast.
    factor : float
        The depth change applied after (``1/257`` for 16 -> 8 bits): errors shrink with it.
    precision : {"auto", "float32", "float64"}
    """
    settled = _settled(dtype, precision)
    if settled is not None:
        return settled
    dtype = np.dtype(dtype)
    top = _top(dtype)
    reach = max(float(np.abs(np.asarray(w, dtype=np.float64)).sum()) for w in kernels) * top
    if reach * abs(float(scale)) + abs(float(offset)) > FLOAT32_SAFE:
        return np.dtype(np.float64)
    error = float32_error(dtype, kernels, scale, offset)
    if error is None or error * abs(float(factor)) <= LEVEL_ERROR_MAX:
        return np.dtype(np.float32)
    return np.dtype(np.float64)


def pool_compute_type(dtype, op: str, taps: int, precision: str = "auto") -> np.dtype:
    """The float type a pooling of samples of ``dtype`` runs in (see the module docstring).

    >>> pool_compute_type(np.uint16, "avg", 4), pool_compute_type(np.int32, "max", 4)
    (dtype('float32'), dtype('float64'))
    """
    settled = _settled(dtype, precision)
    if settled is not None:
        return settled
    top = _top(np.dtype(dtype))
    limit = top * (taps if op == "avg" else 1)
    return np.dtype(np.float32) if limit < _EXACT else np.dtype(np.float64)
