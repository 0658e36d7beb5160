"""Tile plans: which part of an image each tile of a correlation's or a pooling's output reads.

An output too large to compute at once is cut into tiles of output rows and columns. Tile
boundaries lie in output coordinates, so every tile starts on a stride step: output ``o``
of an axis reads padded positions ``o*stride + t*dilation`` for taps ``t < k``, and a tile
of outputs ``o0..o1-1`` reads padded positions ``o0*stride .. (o1-1)*stride + span - 1``,
its *window* (``span = dilation*(k-1) + 1``; the halo is the window's overlap with the next
tile's). A window position ``q`` is image position ``q - before``; where that lies outside
the image, the boundary rule says which image position holds its value (or that it holds
the fill value), by the index maps ``numpy.pad`` uses:

- ``zero``/``constant`` (and pooling's padding): the fill value;
- ``edge``: the nearest end;
- ``reflect`` (half-sample, ``dcba|abcd``): period ``2n``;
- ``mirror`` (whole-sample, ``dcb|abcd``): period ``2n - 2`` (a length-1 axis repeats its value);
- ``wrap``: period ``n``, so a border at the top reads the bottom of the image.

Each axis of a window is described by runs ``(source, count, step)``: ``count`` window
positions read image positions ``source, source + step, ...`` (``step`` 1, -1 for a
reflection, 0 for a repeated edge), or the fill value when ``source`` is None. A reader
fetches :attr:`AxisWindow.reads` (ascending, disjoint ranges of the image) and lays the
runs out from them; nothing but those ranges is read, even when a reflection or a wrap
reaches the far side of the image.

Integer arithmetic only: planning a 10**6-tile output costs no array.
"""

from __future__ import annotations

from dataclasses import dataclass

from cnnconv.errors import CnnconvError
from cnnconv.shape.arithmetic import pool_out_size

#: Boundary rules whose padding is a fill value rather than image values.
FILLED = ("zero", "constant", "fill")
RULES = ("zero", "constant", "edge", "reflect", "mirror", "wrap", "fill")


def source_index(q: int, n: int, boundary: str) -> int | None:
    """The image position (0..n-1) that holds the value at position ``q`` of the padded axis.

    None where the boundary rule puts its fill value (zero, constant, pooling's padding).

    Examples
    --------
    >>> [source_index(q, 3, "reflect") for q in range(-4, 7)]
    [2, 2, 1, 0, 0, 1, 2, 2, 1, 0, 0]
    >>> [source_index(q, 3, "mirror") for q in range(-4, 7)]
    [0, 1, 2, 1, 0, 1, 2, 1, 0, 1, 2]
    >>> [source_index(q, 3, "wrap") for q in (-1, 3)], source_index(-1, 3, "zero")
    ([2, 0], None)
    """
    if 0 <= q < n:
        return q
    if boundary in FILLED:
        return None
    if boundary == "edge":
        return 0 if q < 0 else n - 1
    if boundary == "wrap":
        return q % n
    if boundary == "reflect":
        m = q % (2 * n)
        return m if m < n else 2 * n - 1 - m
    if boundary == "mirror":
        if n == 1:
            return 0
        m = q % (2 * n - 2)
        return m if m < n else 2 * n - 2 - m
    raise CnnconvError(f"unknown boundary {boundary!r}; choose one of {', '.join(RULES)}")


def _runs(lo: int, hi: int, n: int, boundary: str) -> tuple:
    """Runs ``(source, count, step)`` for image positions ``lo..hi-1`` (may lie outside 0..n-1)."""
    runs: list = []
    for q in range(lo, min(hi, 0)):  # before the image: the halo, a few positions
        _push(runs, source_index(q, n, boundary), 1, 1)
    if min(hi, n) > max(lo, 0):
        _push(runs, max(lo, 0), min(hi, n) - max(lo, 0), 1)
    for q in range(max(lo, n), hi):
        _push(runs, source_index(q, n, boundary), 1, 1)
    return tuple(runs)


def _push(runs: list, src, count: int, step: int) -> None:
    """Append a run, merged into the last one when it continues it."""
    if runs:
        s, c, st = runs[-1]
        if src is None and s is None:
            runs[-1] = (None, c + count, 0)
            return
        if src is not None and s is not None:
            if c == 1 and (src - s in (-1, 0, 1) if count == 1 else src - s == step == 1):
                runs[-1] = (s, c + count, src - s)
                return
            if c > 1 and src == s + c * st and (count == 1 or step == st):
                runs[-1] = (s, c + count, st)
                return
    runs.append((src, count, step if src is not None else 0))


@dataclass(frozen=True)
class AxisWindow:
    """One axis of a tile: the outputs it makes and the image positions its window reads.

    Attributes
    ----------
    out : (start, stop)
        Output indices of the tile.
    window : (start, stop)
        Image positions under the window (``start`` may be negative, ``stop`` past the image):
        ``stop - start = (out[1]-out[0]-1)*stride + span``.
    runs : tuple of (source, count, step)
        Where each window position's value comes from (see the module docstring).
    n : int
        Image length along the axis.
    """

    out: tuple
    window: tuple
    runs: tuple
    n: int

    @property
    def length(self) -> int:
        """Window positions: the rows (or columns) the tile's computation sees."""
        return self.window[1] - self.window[0]

    @property
    def inside(self) -> tuple:
        """(start, stop) of the window's part that lies on the image (empty when it lies beside it)."""
        start = min(max(self.window[0], 0), self.n)
        return start, max(min(self.window[1], self.n), start)

    @property
    def border(self) -> tuple:
        """(before, after): window positions outside the image, whose values the boundary rule gives."""
        lo, hi = self.window
        before = min(max(0, -lo), hi - lo)
        return before, hi - lo - before - (self.inside[1] - self.inside[0])

    @property
    def reads(self) -> tuple:
        """Ascending, disjoint ``(start, stop)`` ranges of image positions the runs need."""
        spans = sorted(
            (min(s, s + (c - 1) * st), max(s, s + (c - 1) * st) + 1) for s, c, st in self.runs if s is not None
        )
        merged: list[list] = []
        for a, b in spans:
            if merged and a <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], b)
            else:
                merged.append([a, b])
        return tuple((a, b) for a, b in merged)

    @property
    def filled(self) -> bool:
        """Whether some window position takes the fill value."""
        return any(s is None for s, _, _ in self.runs)

    def sources(self) -> list:
        """The image position of every window position (None: fill), in order.

        >>> axis_windows(4, 3, 1, 1, (1, 1), "mirror", 4)[0].sources()
        [1, 0, 1, 2, 3, 2]
        """
        out = []
        for s, c, st in self.runs:
            out.extend([None] * c if s is None else [s + i * st for i in range(c)])
        return out


def axis_windows(n, k, stride, dilation, pads, boundary, tile, n_out=None) -> list:
    """The tiles of one axis: outputs ``tile`` at a time, with the window each reads.

    Parameters
    ----------
    n : int
        Image length along the axis.
    k, stride, dilation : int
        Kernel (or pooling window) taps, step between outputs, step between taps.
    pads : (before, after)
        Padding of the padded axis (``after`` only bounds the output count).
    boundary : str
        One of :data:`RULES` (``fill``: pooling's padding, never read).
    tile : int
        Outputs per tile (the last tile may be shorter).
    n_out : int, optional
        Output length, when it is not the correlation's (pooling's ceil mode).

    Returns
    -------
    list of AxisWindow

    Examples
    --------
    >>> [(t.out, t.window, t.runs) for t in axis_windows(10, 3, 2, 1, (1, 1), "zero", 3)]
    [((0, 3), (-1, 6), ((None, 1, 0), (0, 6, 1))), ((3, 5), (5, 10), ((5, 5, 1),))]
    >>> axis_windows(5, 3, 1, 1, (2, 2), "wrap", 7)[0].runs   # the top border is the bottom rows
    ((3, 2, 1), (0, 5, 1), (0, 2, 1))
    >>> axis_windows(5, 3, 1, 1, (2, 2), "wrap", 7)[0].reads
    ((0, 5),)
    """
    before, after = pads
    span = dilation * (k - 1) + 1
    if n_out is None:
        n_out = (n + before + after - span) // stride + 1
    if n_out < 1 or tile < 1:
        raise CnnconvError(f"a tile plan needs at least one output and tiles of >= 1, got {n_out} and {tile}")
    tiles = []
    for o0 in range(0, n_out, tile):
        o1 = min(o0 + tile, n_out)
        lo = o0 * stride - before
        hi = (o1 - 1) * stride + span - before
        tiles.append(AxisWindow((o0, o1), (lo, hi), _runs(lo, hi, n, boundary), n))
    return tiles


@dataclass(frozen=True)
class Tile:
    """One output tile: its rows and its columns (each an :class:`AxisWindow`)."""

    rows: AxisWindow
    cols: AxisWindow

    @property
    def out_shape(self) -> tuple:
        return self.rows.out[1] - self.rows.out[0], self.cols.out[1] - self.cols.out[0]

    @property
    def window_shape(self) -> tuple:
        return self.rows.length, self.cols.length


@dataclass(frozen=True)
class TilePlan:
    """Every tile of a 2-D output, row-major, and the geometry they share.

    Attributes
    ----------
    shape : (H, W) of the image
    out_shape : (Ho, Wo) of the output
    rows, cols : list of AxisWindow, the tiles of each axis
    boundary : the rule of the border
    """

    shape: tuple
    out_shape: tuple
    rows: tuple
    cols: tuple
    boundary: str

    def __iter__(self):
        for r in self.rows:
            for c in self.cols:
                yield Tile(r, c)

    def __len__(self) -> int:
        return len(self.rows) * len(self.cols)

    @property
    def grid(self) -> tuple:
        """(tiles down, tiles across)."""
        return len(self.rows), len(self.cols)


def _pair(value, name):
    if isinstance(value, int):
        return value, value
    if len(value) != 2:
        raise CnnconvError(f"{name} must be one int or two, got {value!r}")
    return int(value[0]), int(value[1])


def tile_plan(shape, kernel, *, stride=1, dilation=1, pads=((0, 0), (0, 0)), boundary="zero", tile=256) -> TilePlan:
    """Plan a correlation of an (H, W, ...) image with a (kh, kw) kernel in output tiles.

    ``pads`` are the (before, after) per axis that ``conv_plan`` resolved (``mode`` and
    ``flip`` already applied); ``tile`` is outputs per tile, one int or (rows, cols).

    Shape
    -----
    ``Ho = (H + top + bottom - span_h) // sh + 1`` (as ``correlate``); tile ``(i, j)`` covers
    outputs ``i*th .. min((i+1)*th, Ho) - 1`` down and reads a window of
    ``(rows_out - 1)*sh + span_h`` rows.

    Examples
    --------
    >>> p = tile_plan((100, 80), (5, 5), stride=2, pads=((2, 2), (2, 2)), boundary="reflect", tile=32)
    >>> p.out_shape, p.grid
    ((50, 40), (2, 2))
    >>> t = next(iter(p))
    >>> t.out_shape, t.window_shape, t.rows.border, t.rows.reads
    ((32, 32), (67, 67), (2, 0), ((0, 65),))
    """
    (h, w), (kh, kw) = shape[:2], kernel[:2]
    (sh, sw), (dh, dw) = _pair(stride, "stride"), _pair(dilation, "dilation")
    th, tw = _pair(tile, "tile")
    (top, bottom), (left, right) = pads
    return TilePlan(
        shape=(h, w),
        out_shape=((h + top + bottom - dh * (kh - 1) - 1) // sh + 1, (w + left + right - dw * (kw - 1) - 1) // sw + 1),
        rows=tuple(axis_windows(h, kh, sh, dh, (top, bottom), boundary, th)),
        cols=tuple(axis_windows(w, kw, sw, dw, (left, right), boundary, tw)),
        boundary=boundary,
    )


def pool_tile_plan(shape, kernel_size, *, stride=None, padding=0, dilation=1, ceil_mode=False, tile=256) -> TilePlan:
    """Plan a pooling of an (H, W, ...) image in output tiles (PyTorch's sizes, ceil mode too).

    Padding and a ceil-mode overhang are ``fill`` positions (the reduction's identity, never
    counted by an average unless it counts the padding).

    Examples
    --------
    >>> p = pool_tile_plan((7, 7), 2, ceil_mode=True, tile=2)
    >>> p.out_shape, [r.window for r in p.rows], p.rows[-1].border
    ((4, 4), [(0, 4), (4, 8)], (0, 1))
    """
    (h, w) = shape[:2]
    (kh, kw) = _pair(kernel_size, "kernel_size")
    (sh, sw) = (kh, kw) if stride is None else _pair(stride, "stride")
    (ph, pw), (dh, dw), (th, tw) = _pair(padding, "padding"), _pair(dilation, "dilation"), _pair(tile, "tile")
    ho, wo = pool_out_size(h, kh, sh, ph, dh, ceil_mode), pool_out_size(w, kw, sw, pw, dw, ceil_mode)
    return TilePlan(
        shape=(h, w),
        out_shape=(ho, wo),
        rows=tuple(axis_windows(h, kh, sh, dh, (ph, ph), "fill", th, ho)),
        cols=tuple(axis_windows(w, kw, sw, dw, (pw, pw), "fill", tw, wo)),
        boundary="fill",
    )
