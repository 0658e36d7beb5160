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
    out = np.empty(tile.window_shape + trail, dtype=dtype)
    # one write per window position: each pair of runs is a block of the image (read as a
    # forward range, then reversed or repeated in memory) or the fill value
    i = 0
    for rs, rc, rst in rows.runs:
        j = 0
        for cs, cc, cst in cols.runs:
            if rs is None or cs is None:
                out[i:i + rc, j:j + cc] = fill
            else:
                out[i:i + rc, j:j + cc] = _run_block(src, (rs, rc, rst), (cs, cc, cst))
            j += cc
        i += rc
    return out


def _forward(start: int, count: int, step: int):
    """The forward range a run reads and how to lay it out: (first, stop, reverse, repeat)."""
    if step == 0 or count == 1:
        return start, start + 1, False, count
    if step == 1:
        return start, start + count, False, 1
    return start - count + 1, start + 1, True, 1  # step -1: a reflection, read forward then reversed


def _run_block(src, row_run, col_run) -> np.ndarray:
    (r0, r1, r_rev, r_rep), (c0, c1, c_rev, c_rep) = _forward(*row_run), _forward(*col_run)
    block = np.asarray(src[r0:r1, c0:c1])
    if r_rev:
        block = block[::-1]
    if c_rev:
        block = block[:, ::-1]
    if r_rep > 1 or c_rep > 1:
        block = np.broadcast_to(block, (row_run[1], col_run[1]) + block.shape[2:])
    return block
