"""A tile's window, fetched from an image that slices like an array.

Only the ranges :attr:`cnnconv.shape.tiles.AxisWindow.reads` names are read (one block when
the window lies inside the image, a few when a reflection or a wrap reaches elsewhere); the
window is laid out from them by the runs of the plan, with the fill value where the
boundary rule puts it.
"""

from __future__ import annotations

import numpy as np


def _positions(axis, reads):
    """Index of each window position in the concatenation of ``reads`` (-1: fill)."""
    offsets, total = [], 0
    for a, b in reads:
        offsets.append((a, b, total))
        total += b - a
    pos = np.empty(axis.length, dtype=np.intp)
    i = 0
    for s, c, st in axis.runs:
        if s is None:
            pos[i : i + c] = -1
        else:
            src = s + st * np.arange(c)
            for a, b, off in offsets:
                if a <= s < b:  # a run lies inside one read range (ranges merge what touches)
                    pos[i : i + c] = src - a + off
                    break
        i += c
    return pos


def _simple(axis):
    """Whether the window is exactly one range of the image, read as is."""
    return len(axis.runs) == 1 and axis.runs[0][0] is not None and (axis.runs[0][2] == 1 or axis.runs[0][1] == 1)


def gather(src, tile, fill=0.0, dtype=None) -> np.ndarray:
    """The window of ``tile`` over ``src``: (rows, cols, ...) with the border the plan says.

    Parameters
    ----------
    src : array-like (H, W) or (H, W, C)
        Anything whose ``src[a:b, c:d]`` gives an array: NumPy, a memory map, Zarr, Dask
        (computed block by block).
    tile : cnnconv.shape.tiles.Tile
    fill : float
        The value of fill positions (zero, constant, pooling's padding).
    dtype : dtype, optional
        The window's dtype (default: ``src``'s); the fill must fit it.

    Shape
    -----
    (H, W, ...) -> ``tile.window_shape + (...)``.

    Examples
    --------
    >>> from cnnconv.shape.tiles import tile_plan
    >>> x = np.arange(12).reshape(3, 4)
    >>> t = next(iter(tile_plan(x.shape, (3, 3), pads=((1, 1), (1, 1)), boundary="wrap", tile=2)))
    >>> gather(x, t).tolist()
    [[11, 8, 9, 10], [3, 0, 1, 2], [7, 4, 5, 6], [11, 8, 9, 10]]
    """
    rows, cols = tile.rows, tile.cols
    dtype = np.dtype(src.dtype if dtype is None else dtype)
    trail = tuple(src.shape[2:])
    if _simple(rows) and _simple(cols):
        a, b = rows.reads[0]
        c, d = cols.reads[0]
        return np.asarray(src[a:b, c:d]).astype(dtype, copy=False)
    rr, cr = rows.reads, cols.reads
    if not rr or not cr:  # the window lies wholly in a filled border
        return np.full(tile.window_shape + trail, fill, dtype=dtype)
    band = [np.concatenate([np.asarray(src[a:b, c:d]) for c, d in cr], axis=1) for a, b in rr]
    block = np.concatenate(band, axis=0).astype(dtype, copy=False)
    rp, cp = _positions(rows, rr), _positions(cols, cr)
    out = block[np.ix_(np.maximum(rp, 0), np.maximum(cp, 0))]
    if rows.filled:
        out[rp < 0] = fill
    if cols.filled:
        out[:, cp < 0] = fill
    return out
