"""The floating-point error policy: no NumPy warning ever reaches a user, no overflow goes unsaid.

Two halves. The core's public functions (correlation, pooling, the image operations,
prediction) run under :func:`quiet_floats`, ``np.errstate(all="ignore")``: an overflow
gives ``inf`` there instead of a ``RuntimeWarning`` on stderr. And values are checked
before they can overflow (kernel weights, ``--scale``, ``--offset``, a model's mean and
std, learning rates), or the result is checked where it is turned into samples
(:func:`check_finite`), which names what overflowed and what to lower.
"""

from __future__ import annotations

import functools

import numpy as np

from cnnconv.errors import CnnconvError


def quiet_floats(function):
    """Run ``function`` with NumPy's floating-point warnings off (results say what happened).

    >>> @quiet_floats
    ... def overflow(): return np.float32(3e38) * np.float32(10)
    >>> float(overflow())
    inf
    """

    @functools.wraps(function)
    def quiet(*args, **kwargs):
        with np.errstate(all="ignore"):
            return function(*args, **kwargs)

    return quiet


def check_finite(low: float, high: float, values: np.ndarray, what: str = "the result") -> None:
    """Raise ``CnnconvError`` when ``values`` (whose extremes are ``low``, ``high``) hold NaN or infinity.

    The extremes are what the caller has worked out already, so a finite result costs nothing.

    >>> check_finite(0.0, 1.0, np.array([0.0, 1.0]))
    >>> check_finite(0.0, float("inf"), np.array([0.0, np.inf]))
    Traceback (most recent call last):
    ...
    cnnconv.errors.CnnconvError: the result overflowed: 1 of 2 values are beyond what float64 holds (inf or NaN); lower --scale, --offset or the kernel's weights
    """
    if np.isfinite(low) and np.isfinite(high):
        return
    raise overflow_error(int(np.count_nonzero(~np.isfinite(values))), values.size, values.dtype, what)


def overflow_error(bad: int, size: int, dtype, what: str = "the result") -> CnnconvError:
    """The error for a result of which ``bad`` of ``size`` values overflowed ``dtype``.

    >>> str(overflow_error(2, 9, np.float32))
    "the result overflowed: 2 of 9 values are beyond what float32 holds (inf or NaN); lower --scale, --offset or the kernel's weights"
    """
    return CnnconvError(f"{what} overflowed: {bad} of {size} values are beyond what {np.dtype(dtype)} holds "
                        "(inf or NaN); lower --scale, --offset or the kernel's weights")
