"""Correlation and pooling one output tile at a time, equal to the whole-image result.

:func:`conv_tiles` and :func:`pool_tiles` plan the work once for the whole image (the
padding ``mode`` gives, the engine ``auto`` picks for the whole image, the average's window
counts) and return an object whose ``run(window, tile)`` computes one tile from its window
(:func:`cnnconv.tiling.windows.gather`). Each tile runs the same engine with the same taps
in the same order as the whole image does, so the tiles put together are the whole result,
bit for bit (the tests check it for every engine, mode, padding, stride, dilation and
boundary). :func:`correlate_tiled` and :func:`pool_tiled` do the whole loop over an array.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cnnconv.conv.correlation import ConvPlan, conv_plan, correlate
from cnnconv.conv.padding import as_float, as_real_array, finite_kernel
from cnnconv.errors import CnnconvError
from cnnconv.pooling.geometry import FILL, Geometry, check_op
from cnnconv.shape.tiles import TilePlan, pool_tile_plan, tile_plan
from cnnconv.tiling.windows import gather

_REDUCE = {"max": np.maximum, "min": np.minimum, "avg": np.add}


def _check_image(shape, what: str) -> None:
    if len(shape) not in (2, 3):
        raise CnnconvError(f"{what} tile by tile takes an image (H, W) or (H, W, C), got shape {tuple(shape)}")


@dataclass(frozen=True)
class ConvTiles:
    """A correlation planned for the whole image, run one tile at a time.

    Attributes
    ----------
    conv : ConvPlan, the whole image's plan (``output_shape``, ``method``, ``dtype``)
    tiles : TilePlan, the tiles and their windows
    weights : ndarray, the kernel as correlated (flipped for a convolution), in ``conv.dtype``
    fill : float, the value of filled border positions (``cval``, 0 for ``zero``)
    """

    conv: ConvPlan
    tiles: TilePlan
    weights: np.ndarray
    fill: float

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(self.conv.dtype)

    @property
    def output_shape(self) -> tuple:
        return self.conv.output_shape

    def run(self, window: np.ndarray, tile=None) -> np.ndarray:
        """The tile's output from its window (``gather(src, tile, self.fill, self.dtype)``).

        Shape
        -----
        (rows, cols, ...) window -> ``tile.out_shape + channels``.
        """
        return correlate(window.astype(self.dtype, copy=False), self.weights, padding=0,
                         stride=self.conv.stride, dilation=self.conv.dilation, method=self.conv.method)


def conv_tiles(shape, w, *, mode=None, padding=None, stride=1, dilation=1, boundary="zero", cval=0.0,
               flip=False, dtype=None, method="auto", tile=256, origin=None) -> ConvTiles:
    """Plan ``correlate`` (``convolve`` with ``flip``) of an image of ``shape`` in output tiles.

    Parameters are those of :func:`cnnconv.conv.correlate`; ``dtype`` is the image's dtype;
    ``tile`` is outputs per tile (one int or (rows, cols)); ``origin`` places the kernel as
    :func:`cnnconv.conv.conv_plan` does.

    Examples
    --------
    >>> t = conv_tiles((1000, 800, 3), np.ones((5, 5)), mode="same", stride=2, tile=128)
    >>> t.conv.output_shape, t.tiles.grid, t.conv.method
    ((500, 400, 3), (4, 4), 'separable')
    """
    _check_image(shape, "correlate")
    w = finite_kernel(w)
    plan = conv_plan(shape, w.shape, mode=mode, padding=padding, stride=stride, dilation=dilation,
                     boundary=boundary, cval=cval, flip=flip, dtype=dtype, method=method, kernel=w,
                     origin=origin)
    dt = np.dtype(plan.dtype)
    w = w.astype(dt)
    if flip:
        w = w[::-1, ::-1]
    tiles = tile_plan(shape, w.shape, stride=plan.stride, dilation=plan.dilation, pads=plan.padding,
                      boundary=plan.boundary, tile=tile)
    return ConvTiles(plan, tiles, np.ascontiguousarray(w), plan.cval)


@dataclass(frozen=True)
class PoolTiles:
    """A pooling planned for the whole image, run one tile at a time (see :func:`pool_tiles`)."""

    geometry: Geometry
    tiles: TilePlan
    op: str
    count_include_pad: bool
    dtype: np.dtype
    has_channels: bool

    @property
    def fill(self) -> float:
        return FILL[self.op]

    @property
    def output_shape(self) -> tuple:
        return self.tiles.out_shape + self.channels

    @property
    def channels(self) -> tuple:
        return tuple(self.geometry.shape[3:]) if self.has_channels else ()

    def run(self, window: np.ndarray, tile) -> np.ndarray:
        """The tile's output from its window (``gather(src, tile, self.fill, self.dtype)``).

        The taps are reduced in the order :func:`cnnconv.pooling.pool` reduces them (rows,
        then columns), and an average divides by the whole image's window counts.
        """
        x = window.astype(self.dtype, copy=False)
        x = x if x.ndim == 3 else x[:, :, None]
        g, reduce = self.geometry, _REDUCE[self.op]
        (kh, kw), (sh, sw), (dh, dw) = g.k, g.s, g.d
        ho, wo = tile.out_shape
        partial = x[0 : (ho - 1) * sh + 1 : sh].copy()
        for t in range(1, kh):
            reduce(partial, x[t * dh : t * dh + (ho - 1) * sh + 1 : sh], out=partial)
        out = partial[:, 0 : (wo - 1) * sw + 1 : sw].copy()
        for t in range(1, kw):
            reduce(out, partial[:, t * dw : t * dw + (wo - 1) * sw + 1 : sw], out=out)
        if self.op == "avg":
            (r0, r1), (c0, c1) = tile.rows.out, tile.cols.out
            counts = [g.counts(a, self.count_include_pad) for a in (0, 1)]
            out /= np.multiply.outer(counts[0][r0:r1], counts[1][c0:c1]).astype(out.dtype)[:, :, None]
        return out if self.has_channels else out[:, :, 0]


def pool_tiles(shape, kernel_size, *, stride=None, padding=0, op="max", ceil_mode=False,
               count_include_pad=False, dilation=1, dtype=None, tile=256) -> PoolTiles:
    """Plan :func:`cnnconv.pooling.pool` of an (H, W) or (H, W, C) image in output tiles.

    Examples
    --------
    >>> p = pool_tiles((7, 7), 2, ceil_mode=True, op="avg", tile=2)
    >>> p.output_shape, p.tiles.grid
    ((4, 4), (2, 2))
    """
    _check_image(shape, "pool")
    op = check_op(op)
    batch = (1, shape[0], shape[1], shape[2] if len(shape) == 3 else 1)
    g = Geometry(batch, kernel_size, stride, padding, dilation, ceil_mode)
    tiles = pool_tile_plan(shape, g.k, stride=g.s, padding=g.p, dilation=g.d, ceil_mode=ceil_mode, tile=tile)
    dt = np.dtype(np.float32 if np.dtype(dtype or np.float64) == np.float32 else np.float64)
    return PoolTiles(g, tiles, op, bool(count_include_pad), dt, len(shape) == 3)


def _assemble(src, job) -> np.ndarray:
    out = None
    for tile in job.tiles:
        block = job.run(gather(src, tile, job.fill, job.dtype), tile)
        if out is None:
            out = np.empty(job.tiles.out_shape + block.shape[2:], dtype=block.dtype)
        (r0, r1), (c0, c1) = tile.rows.out, tile.cols.out
        out[r0:r1, c0:c1] = block
    return out


def correlate_tiled(x, w, *, tile=256, flip=False, **geometry) -> np.ndarray:
    """``correlate(x, w, **geometry)`` (``convolve`` with ``flip``) computed tile by tile.

    Shape
    -----
    As :func:`cnnconv.conv.correlate` for (H, W) and (H, W, C) inputs.

    Examples
    --------
    >>> x = np.arange(20.0).reshape(4, 5)
    >>> correlate_tiled(x, np.ones((2, 2)), stride=2, tile=1).tolist()
    [[12.0, 20.0], [52.0, 60.0]]
    """
    if not hasattr(x, "shape") or not hasattr(x, "dtype"):
        x = as_real_array(x, "input")
    return _assemble(x, conv_tiles(x.shape, w, flip=flip, dtype=x.dtype, tile=tile, **geometry))


def pool_tiled(x, kernel_size, *, tile=256, **options) -> np.ndarray:
    """``pool(x, kernel_size, **options)`` computed tile by tile.

    Examples
    --------
    >>> pool_tiled(np.arange(25.0).reshape(5, 5), 2, ceil_mode=True, tile=1).tolist()
    [[6.0, 8.0, 9.0], [16.0, 18.0, 19.0], [21.0, 23.0, 24.0]]
    """
    if not hasattr(x, "shape") or not hasattr(x, "dtype"):
        x = as_float(x)
    return _assemble(x, pool_tiles(x.shape, kernel_size, dtype=x.dtype, tile=tile, **options))
