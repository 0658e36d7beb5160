"""Where pooling windows fall: sizes, padding, the slices each tap reads, window counts.

Integer bookkeeping (and the argument checks) shared by the forward pass in
:mod:`cnnconv.pooling.forward` and the backward pass in :mod:`cnnconv.pooling.backward`. The
windows of one axis are described by (kernel_size k, stride s, padding p, dilation d)
and the output length from :func:`cnnconv.shape.arithmetic.pool_out_size`; tap ``t`` of window
``i`` reads input position ``i*s - p + t*d``.
"""

from __future__ import annotations

import numpy as np

from cnnconv.conv.padding import per_axis  # convolution's rule for an int: no bools, no floats
from cnnconv.errors import CnnconvError
from cnnconv.shape.arithmetic import pool_out_size


#: Pooling operations accepted by ``op=``.
POOL_OPS = ("max", "avg", "min")
#: What padding holds for each op: the identity of its reduction, so padding never wins.
FILL = {"max": -np.inf, "min": np.inf, "avg": 0.0}


def check_op(op: str) -> str:
    """``op`` if it is one of :data:`POOL_OPS`."""
    if op not in POOL_OPS:
        raise CnnconvError(f"unknown pooling op {op!r}; choose one of {', '.join(POOL_OPS)}")
    return op


def check_batch(x: np.ndarray, name: str = "x") -> None:
    """Refuse anything but an (N, H, W, C) batch."""
    if x.ndim != 4:
        raise CnnconvError(f"{name} must be a batch of shape (N, H, W, C), got shape {x.shape}")


def signal_settings(kernel_size, stride, padding, dilation) -> tuple:
    """The window settings of a 1-D signal as those of a height-1 image: 1 (or no padding) down the height.

    Examples
    --------
    >>> signal_settings(3, None, 1, 2)
    ((1, 3), None, (0, 1), (1, 2))
    """
    one = lambda v, name: (1, *per_axis(v, 1, name, minimum=None))  # noqa: E731
    return (one(kernel_size, "kernel_size"), None if stride is None else one(stride, "stride"),
            (0, *per_axis(padding, 1, "padding", minimum=None)), one(dilation, "dilation"))  # fmt: skip


def covered(taps: slice) -> int:
    """How many windows a tap slice from :meth:`Geometry.taps` reaches (its leading ones).

    Examples
    --------
    >>> covered(slice(1, 5, 2)), covered(slice(0, 5, 2))
    (2, 3)
    """
    return (taps.stop - taps.start - 1) // taps.step + 1


class Geometry:
    """Window placement along the two spatial axes of an (N, H, W, C) array.

    Examples
    --------
    >>> g = Geometry((1, 5, 5, 1), 2, None, 0, 1, ceil_mode=True)
    >>> g.out, g.padded, g.canvas          # a last, partial window, but nothing to pad
    ((3, 3), False, (5, 5))
    >>> g.taps(0)                          # tap 1 of the last window lies past the input
    [slice(0, 5, 2), slice(1, 5, 2)]
    >>> [covered(t) for t in g.taps(0)]
    [3, 2]
    >>> g.divisor(False, float)[:, :, 0].tolist()[2]
    [2.0, 2.0, 1.0]
    """

    def __init__(self, shape, kernel_size, stride, padding, dilation, ceil_mode):
        self.shape = shape
        self.k = per_axis(kernel_size, 2, "kernel_size", minimum=None)
        self.s = self.k if stride is None else per_axis(stride, 2, "stride", minimum=None)
        self.p = per_axis(padding, 2, "padding", minimum=None)
        self.d = per_axis(dilation, 2, "dilation", minimum=None)
        n = shape[1:3]
        for a, axis in ((0, "height"), (1, "width")):
            if self.p[a] > n[a]:
                # every window would hold the whole input; also keeps the work bounded by the input
                raise CnnconvError(
                    f"pooling padding {self.p[a]} is larger than the input {axis} {n[a]}; "
                    "use at most the input size (or global pooling)"
                )
        self.out = tuple(
            pool_out_size(n[a], self.k[a], self.s[a], self.p[a], self.d[a], ceil_mode) for a in (0, 1)
        )
        if min(self.out) < 1:
            raise CnnconvError(
                f"pooling window {self.k[0]}x{self.k[1]} (stride {self.s[0]}x{self.s[1]}, padding "
                f"{self.p[0]}x{self.p[1]}, dilation {self.d[0]}x{self.d[1]}) does not fit an input "
                f"of {n[0]}x{n[1]}: the output would be empty"
            )
        # The canvas holds the left padding and the input only. Whatever a window reads past
        # it (right padding, a ceil-mode overhang) is the reduction's identity, so no tap ever
        # needs it materialised: a 3000-wide ceil-mode window on an 8x8 image costs 8x8, and
        # the work is bounded by the canvas too, never by kernel_size (10**9 is fine).
        self.canvas = tuple(self.p[a] + n[a] for a in (0, 1))
        self.padded = self.p != (0, 0)
        for a, axis in ((0, "height"), (1, "width")):
            if not (self.counts(a, False) > 0).all():
                raise CnnconvError(
                    f"a pooling window along the {axis} reads only padding (kernel_size {self.k[a]}, "
                    f"dilation {self.d[a]}, padding {self.p[a]}, input {n[a]}): use less padding or dilation"
                )

    def taps(self, axis: int) -> list[slice]:
        """The slice each tap of ``axis`` reads in the canvas, clipped to the canvas.

        Tap ``t`` covers windows ``0 .. covered(slice) - 1``; the windows after them read
        nothing there (every window starts inside the canvas, so tap 0 covers them all).
        Taps that lie wholly past the canvas are left out.
        """
        s, d, o, end = self.s[axis], self.d[axis], self.out[axis], self.canvas[axis]
        return [slice(t * d, min(t * d + (o - 1) * s + 1, end), s) for t in range(self._reaching(axis))]

    def _reaching(self, axis: int) -> int:
        """How many taps start inside the canvas (the later ones read only what lies past it)."""
        return min(self.k[axis], (self.canvas[axis] - 1) // self.d[axis] + 1)

    def inside(self, axis: int) -> np.ndarray:
        """(taps, out) booleans: tap t of window i lies on the input, for the taps of :meth:`taps`."""
        s, d, o, p = self.s[axis], self.d[axis], self.out[axis], self.p[axis]
        pos = np.arange(o)[None, :] * s + np.arange(self._reaching(axis))[:, None] * d - p
        return (pos >= 0) & (pos < self.shape[1 + axis])

    def counts(self, axis: int, include_pad: bool) -> np.ndarray:
        """(out,) how many taps of each window lie on the input (or on it and its padding).

        Tap t of window i reads ``q = i*s - p + t*d``; ``low <= q < high`` holds for t from
        ``ceil((low - i*s + p) / d)`` up to (not including) ``ceil((high - i*s + p) / d)``.
        """
        k, s, d, o, p = self.k[axis], self.s[axis], self.d[axis], self.out[axis], self.p[axis]
        n = self.shape[1 + axis]
        low, high = (-p, n + p) if include_pad else (0, n)
        start = np.arange(o) * s - p
        first, stop = -((start - low) // d), -((start - high) // d)  # ceil((low - start) / d), ...
        return np.clip(np.minimum(stop, k) - np.maximum(first, 0), 0, None)

    def canvas_of(self, x: np.ndarray, fill: float) -> np.ndarray:
        """``x`` placed in its padded canvas (``x`` itself when nothing is padded)."""
        if not self.padded:
            return x
        n, h, w, c = x.shape
        xp = np.full((n, *self.canvas, c), fill, dtype=x.dtype)
        xp[:, self.p[0] : self.p[0] + h, self.p[1] : self.p[1] + w] = x
        return xp

    def canvas_rows(self, x: np.ndarray, start: int, stop: int, fill: float) -> np.ndarray:
        """Rows ``start:stop`` of the canvas of ``x``, clipped to the canvas (a view of ``x`` when no padding is in them)."""
        n, h, w, c = x.shape
        stop = min(stop, self.canvas[0])
        first, last = start - self.p[0], stop - self.p[0]  # the same rows, in input coordinates
        if first >= 0 and self.p[1] == 0:
            return x[:, first:last]
        part = np.full((n, stop - start, self.canvas[1], c), fill, dtype=x.dtype)
        lo, hi = max(first, 0), min(last, h)
        if hi > lo:
            part[:, lo - first : hi - first, self.p[1] : self.p[1] + w] = x[:, lo:hi]
        return part

    def uncanvas(self, dxp: np.ndarray) -> np.ndarray:
        h, w = self.shape[1:3]
        return dxp[:, self.p[0] : self.p[0] + h, self.p[1] : self.p[1] + w]

    def divisor(self, include_pad: bool, dtype) -> np.ndarray:
        """(Ho, Wo, 1) window counts for the average."""
        counts = [self.counts(a, include_pad) for a in (0, 1)]
        return np.multiply.outer(counts[0], counts[1]).astype(dtype)[:, :, None]
