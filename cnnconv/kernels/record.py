"""The ``Kernel`` record: weights with their name, scale, offset and description.

Checked once when made (finite, non-empty, 2-D or 3-D, scale not 0) and read-only after;
the parsers that build it are :mod:`cnnconv.kernels.parsers`' and :mod:`cnnconv.kernels.parametric`'s.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from cnnconv.errors import CnnconvError


@dataclass(frozen=True, eq=False)
class Kernel:
    """A named kernel: weights, and the scale and offset that go with them.

    The filter applied is ``correlate(x, weights * scale) + offset``.

    Parameters
    ----------
    name : str
    weights : ndarray
        float64, (kh, kw) or (kh, kw, C); stored read-only.
    scale : float
        Multiplies the weights (``1/16`` for an integer Gaussian); never 0.
    offset : float
        Added to every output value.
    description : str
    origin : (int, int) or None
        The tap that lies over each output's pixel (row, column in the kernel's own
        coordinates), as ImageMagick's ``3x3+0+0:`` gives it; None is the centre
        ``(k-1)//2`` that ``same`` mode uses. Only for 2-D weights.

    Examples
    --------
    >>> k = Kernel("blur", [[1, 2, 1]], scale=0.25)
    >>> k.shape, k.effective().tolist()
    ((1, 3), [[0.25, 0.5, 0.25]])
    >>> Kernel("corner", [[1, 2], [3, 4]], origin=(1, 1)).origin, Kernel("c", [[1, 2, 3]], origin=(0, 1)).origin
    ((1, 1), None)
    """

    name: str
    weights: np.ndarray = field(repr=False)
    scale: float = 1.0
    offset: float = 0.0
    description: str = ""
    origin: tuple | None = None

    def __post_init__(self):
        try:
            w = np.array(self.weights, dtype=np.float64)
        except (TypeError, ValueError):
            raise CnnconvError(f"kernel {self.name!r}: weights must be a rectangular array of real numbers") from None
        if w.ndim not in (2, 3) or w.size == 0:
            raise CnnconvError(f"kernel {self.name!r}: weights must be a non-empty 2-D or 3-D array, got shape {w.shape}")
        if not np.isfinite(w).all():
            raise CnnconvError(f"kernel {self.name!r}: weights must be finite numbers (no NaN or infinity)")
        for what in ("scale", "offset"):
            value = getattr(self, what)
            try:
                value = float(value)
            except (TypeError, ValueError):
                value = float("nan")
            if not np.isfinite(value):
                raise CnnconvError(f"kernel {self.name!r}: {what} must be a finite number, got {getattr(self, what)!r}")
            object.__setattr__(self, what, value)
        if self.scale == 0:
            raise CnnconvError(f"kernel {self.name!r}: scale must not be 0 (it would zero every output)")
        _check_range(self.name, w * self.scale, self.offset)
        if self.origin is not None:
            origin = tuple(self.origin) if isinstance(self.origin, (tuple, list)) else None
            if (w.ndim != 2 or origin is None or len(origin) != 2
                    or not all(isinstance(o, (int, np.integer)) and not isinstance(o, bool) for o in origin)
                    or not all(0 <= o < n for o, n in zip(origin, w.shape))):
                raise CnnconvError(
                    f"kernel {self.name!r}: origin must be (row, col) inside the {w.shape} weights, got {self.origin!r}"
                )
            origin = tuple(int(o) for o in origin)
            object.__setattr__(self, "origin", None if origin == tuple((n - 1) // 2 for n in w.shape) else origin)
        w.setflags(write=False)
        object.__setattr__(self, "weights", w)

    @property
    def shape(self) -> tuple[int, ...]:
        return self.weights.shape

    def effective(self) -> np.ndarray:
        """The weights the filter applies: ``weights * scale`` (float64, a new array)."""
        return self.weights * self.scale

    def __eq__(self, other):
        if not isinstance(other, Kernel):
            return NotImplemented
        return (self.name, self.scale, self.offset, self.description, self.origin) == (
            other.name, other.scale, other.offset, other.description, other.origin
        ) and self.shape == other.shape and bool(np.array_equal(self.weights, other.weights))

    __hash__ = None


#: 8-bit images are filtered in float32: every weight must be a float32 number that is not lost.
_FLOAT32 = np.finfo(np.float32)
_FLOAT32_MAX, _FLOAT32_TINY = float(_FLOAT32.max), float(_FLOAT32.tiny)


def _check_range(name: str, effective: np.ndarray, offset: float) -> None:
    """Refuse weights that float32 cannot hold, before a filter overflows or underflows on them."""
    with np.errstate(over="ignore"):
        magnitude = np.abs(effective)
    top = float(magnitude.max())
    if top > _FLOAT32_MAX or not np.isfinite(top):
        value = float(effective.flat[int(np.argmax(magnitude))])
        raise CnnconvError(f"kernel {name!r}: the weight {value:g} is beyond what float32 holds (+-{_FLOAT32.max:.3g}), "
                           "which 8-bit images are filtered in; scale the kernel down")
    if abs(offset) > _FLOAT32_MAX:
        raise CnnconvError(f"kernel {name!r}: the offset {offset:g} is beyond what float32 holds (+-{_FLOAT32.max:.3g})")
