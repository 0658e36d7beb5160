"""Correlation, convolution and pooling of Dask arrays, one task per output tile.

Each output tile is one task that gets only the image ranges its window reads (its halo from
the neighbouring chunks, its border by the boundary rule, reflections and wraps from the far
side) and runs the NumPy core on them (:mod:`cnnconv.tiling`), so the result equals the NumPy
core's on the same data. Dask's ``map_overlap`` has no stride, so the tiles come from the
integer tile plan (:mod:`cnnconv.shape.tiles`): output tiles start on stride steps, with
``ceil(chunk / stride)`` outputs per tile along each axis (the input's first chunk), so an
input chunked in multiples of the stride gives one output tile per input chunk, each reading
its chunk and the halo the kernel's span adds.

Needs the ``dask`` extra: ``pip install 'cnnconv[dask]'``.
"""

from __future__ import annotations

from cnnconv.errors import CnnconvError

__all__ = ["correlate", "convolve", "pool"]


def _dask():
    try:
        import dask
        import dask.array as da
    except ImportError:
        raise CnnconvError("cnnconv.dask needs Dask: pip install 'cnnconv[dask]'") from None
    return dask, da


class _Regions:
    """The blocks one tile reads, served to :func:`cnnconv.tiling.gather` by their slices."""

    def __init__(self, blocks, shape, dtype):
        self.blocks, self.shape, self.dtype = blocks, shape, dtype

    def __getitem__(self, key):
        # a run of the window reads part of one of the ranges the plan named
        (rows, cols) = key
        for (a, b, c, d), block in self.blocks.items():
            if a <= rows.start and rows.stop <= b and c <= cols.start and cols.stop <= d:
                return block[rows.start - a:rows.stop - a, cols.start - c:cols.stop - c]
        raise KeyError((rows.start, rows.stop, cols.start, cols.stop))


def _one(blocks, shape, dtype, job, tile):
    from cnnconv.tiling.windows import gather

    return job.run(gather(_Regions(blocks, shape, dtype), tile, job.fill, job.dtype), tile)


def _pair(value) -> tuple[int, int]:
    """A stride as (rows, cols); what it cannot be is left for the core to refuse by name."""
    import numpy as np

    a = np.asarray(value)
    if a.dtype.kind not in "iu" or a.size not in (1, 2):
        return (1, 1)
    steps = tuple(int(v) for v in np.broadcast_to(a.reshape(-1), (2,)))
    return tuple(max(1, v) for v in steps)


def outputs_per_tile(chunks: tuple, stride) -> tuple[int, int]:
    """Outputs per tile along rows and columns: ``ceil(chunk / stride)`` of the first chunks.

    Shape
    -----
    A (rows, cols) chunk and a stride (int or pair) -> (rows, cols) of outputs, each >= 1.

    Examples
    --------
    >>> outputs_per_tile(((256, 256, 100), (300,)), 2), outputs_per_tile(((5,), (7,)), (1, 3))
    ((128, 150), (5, 3))
    """
    steps = _pair(stride)
    return tuple(max(1, -(-int(c[0]) // s)) for c, s in zip(chunks[:2], steps))


def _run(x, make_job, stride):
    from cnnconv.shape.tiles import Tile

    dask, da = _dask()
    x = x if isinstance(x, da.Array) else da.asarray(x)
    if x.ndim not in (2, 3):
        raise CnnconvError(f"cnnconv.dask takes an image (H, W) or (H, W, C), got shape {x.shape}")
    job = make_job(x.shape, x.dtype, outputs_per_tile(x.chunks, stride))
    trail = tuple(job.output_shape[2:])
    grid = []
    for r in job.tiles.rows:
        row = []
        for c in job.tiles.cols:
            tile = Tile(r, c)
            blocks = {(a, b, cc, d): x[a:b, cc:d] for a, b in r.reads for cc, d in c.reads}
            task = dask.delayed(_one, pure=True)(blocks, x.shape, x.dtype, job, tile)
            row.append(da.from_delayed(task, tile.out_shape + trail, dtype=job.dtype))
        grid.append(row)
    return da.concatenate([da.concatenate(row, axis=1) for row in grid], axis=0)


def correlate(x, w, *, mode=None, padding=None, stride=1, dilation=1, boundary="zero", cval=0.0, method="auto"):
    """:func:`cnnconv.conv.correlate` of a Dask array (H, W) or (H, W, C), lazily, tile by tile.

    Shape
    -----
    As :func:`cnnconv.conv.correlate`; the output's chunks are the tiles.

    Examples
    --------
    >>> import dask.array as da, numpy as np
    >>> x = da.from_array(np.arange(36.0).reshape(6, 6), chunks=(4, 3))
    >>> correlate(x, np.ones((3, 3)), mode="same", boundary="wrap").compute()[0].tolist()
    [126.0, 117.0, 126.0, 135.0, 144.0, 135.0]
    """
    from cnnconv.tiling.compute import conv_tiles

    return _run(x, lambda shape, dtype, tile: conv_tiles(
        shape, w, mode=mode, padding=padding, stride=stride, dilation=dilation, boundary=boundary, cval=cval,
        dtype=dtype, method=method, tile=tile), stride)


def convolve(x, w, *, mode=None, padding=None, stride=1, dilation=1, boundary="zero", cval=0.0, method="auto"):
    """:func:`cnnconv.conv.convolve` of a Dask array, lazily, tile by tile (see :func:`correlate`).

    Shape
    -----
    As :func:`cnnconv.conv.convolve`.

    Examples
    --------
    >>> import dask.array as da, numpy as np
    >>> x = da.from_array(np.eye(4), chunks=2)
    >>> convolve(x, np.array([[1.0, 2.0]]), mode="full", stride=(1, 2)).compute().tolist()
    [[1.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 2.0]]
    """
    from cnnconv.tiling.compute import conv_tiles

    return _run(x, lambda shape, dtype, tile: conv_tiles(
        shape, w, mode=mode, padding=padding, stride=stride, dilation=dilation, boundary=boundary, cval=cval,
        flip=True, dtype=dtype, method=method, tile=tile), stride)


def pool(x, kernel_size, *, stride=None, padding=0, op="max", ceil_mode=False, count_include_pad=False, dilation=1):
    """:func:`cnnconv.pooling.pool` of a Dask array (H, W) or (H, W, C), lazily, tile by tile.

    Shape
    -----
    As :func:`cnnconv.pooling.pool`: ``floor((n + 2p - d*(k-1) - 1) / s) + 1`` (ceil with
    ``ceil_mode``); chunks in multiples of the stride give one output chunk per input chunk.

    Examples
    --------
    >>> import dask.array as da, numpy as np
    >>> y = pool(da.from_array(np.arange(64.0).reshape(8, 8), chunks=4), 2, op="avg")
    >>> y.numblocks, y.compute()[0].tolist()
    ((2, 2), [4.5, 6.5, 8.5, 10.5])
    """
    from cnnconv.tiling.compute import pool_tiles

    return _run(x, lambda shape, dtype, tile: pool_tiles(
        shape, kernel_size, stride=stride, padding=padding, op=op, ceil_mode=ceil_mode,
        count_include_pad=count_include_pad, dilation=dilation, dtype=dtype, tile=tile),
        kernel_size if stride is None else stride)
