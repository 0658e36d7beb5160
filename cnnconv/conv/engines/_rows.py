"""Rows of a padded image made on demand, so an engine that reads strip by strip never needs
the whole padded copy.

``pad_array`` copies the entire input once more (13 ms for a 4096² float32 image, a third
of a 3x3 filter), and on small images the extra megabyte per call is what makes glibc hand
memory back to the system and fault it in again on the next call (512² 3x3: 1.4 ms per call
instead of 0.9, BENCHMARKS.md "Padding on demand"). A strip reader asks :class:`PaddedRows`
for padded rows a..b: interior rows of an input without column padding come back as a view,
other strips are assembled in the reader's own small buffer, by the same rules as
``numpy.pad`` (the index maps are ``numpy.pad`` applied to ``arange``).
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from cnnconv.conv.padding import BOUNDARIES


def index_map(n, before, after, boundary):
    """Source index of each padded position along one axis; -1 where the fill value goes.

    >>> index_map(3, 2, 1, "reflect").tolist(), index_map(3, 1, 2, "zero").tolist()
    ([1, 0, 0, 1, 2, 2], [-1, 0, 1, 2, -1, -1])
    """
    mode = BOUNDARIES[boundary]
    if mode == "constant":
        idx = np.arange(-before, n + after)
        idx[(idx < 0) | (idx >= n)] = -1
        return idx
    return np.pad(np.arange(n), (before, after), mode=mode)


class PaddedRows:
    """``pad_array(x, pads, boundary, cval)``, row range ``start:stop``, without building it.

    Supports ``shape``, ``dtype``, ``itemsize``, ``ndim``, row slicing with step 1 (what
    ``engines._split.run_in_bands`` does) and :meth:`rows`.

    Examples
    --------
    >>> x = np.arange(6.0).reshape(2, 3)
    >>> p = PaddedRows(x, ((1, 1), (0, 2)), "edge")
    >>> p.shape, p.rows(0, 4, np.empty((4, 5))).tolist()
    ((4, 5), [[0.0, 1.0, 2.0, 2.0, 2.0], [0.0, 1.0, 2.0, 2.0, 2.0], [3.0, 4.0, 5.0, 5.0, 5.0], [3.0, 4.0, 5.0, 5.0, 5.0]])
    >>> p[1:3].rows(0, 1, np.empty((1, 5))).tolist()
    [[0.0, 1.0, 2.0, 2.0, 2.0]]
    """

    def __init__(self, x, pads=((0, 0), (0, 0)), boundary="zero", cval=0.0):
        self.x = np.ascontiguousarray(x)
        (top, bottom), (left, right) = pads
        h, w = self.x.shape[:2]
        self.row_map = index_map(h, top, bottom, boundary)
        self.col_map = index_map(w, left, right, boundary)
        self.left, self.width = left, w
        # Padded rows top..top+h-1 are the input's rows; strips inside them need no index map.
        self.top, self.height = top, h
        self.fill = cval if BOUNDARIES[boundary] == "constant" else None
        self.start, self.stop = 0, h + top + bottom
        self.dtype, self.itemsize, self.ndim = self.x.dtype, self.x.itemsize, self.x.ndim

    @property
    def shape(self):
        return (self.stop - self.start, len(self.col_map)) + self.x.shape[2:]

    @property
    def needs_buffer(self):
        """Whether :meth:`rows` may fill the caller's buffer (else it always returns views)."""
        return len(self.col_map) != self.width or len(self.row_map) != self.height

    @property
    def zero_fill(self):
        """Whether every padded value is 0 (zero boundary, or constant with cval 0)."""
        return self.fill is not None and self.fill == 0

    def _inside(self, a, n):
        """The input row under padded row ``a`` if rows ``a..a+n-1`` are all input rows, else None."""
        first = self.start + a - self.top
        return first if 0 <= first and first + n <= self.height else None

    def zero_rows(self, a, b, buf):
        """For zero fill: padded rows ``a..b-1`` *without* their padded columns, flattened to
        (b - a, W*C); a view of the input when all are inside it, else zeros and input rows
        written into ``buf`` (2-D, at least (b - a, W*C))."""
        n = b - a
        inside = self._inside(a, n)
        if inside is not None:
            return self.x[inside : inside + n].reshape(n, -1)
        first = self.start + a - self.top
        out = buf[:n]
        out[...] = 0
        lo, hi = max(first, 0), min(first + n, self.height)
        if hi > lo:
            out[lo - first : hi - first] = self.x[lo:hi].reshape(hi - lo, -1)
        return out

    def __getitem__(self, rows):
        if not isinstance(rows, slice) or rows.step not in (None, 1):
            raise TypeError("PaddedRows takes row slices with step 1")
        a, b, _ = rows.indices(self.stop - self.start)
        sub = object.__new__(PaddedRows)
        sub.__dict__.update(self.__dict__)
        sub.start, sub.stop = self.start + a, self.start + max(a, b)
        return sub

    def rows(self, a, b, buf):
        """Padded rows ``a..b-1`` (relative to this slice) flattened to (b - a, W' * C).

        A view of the input when those rows are interior and no column is padded; otherwise
        written into ``buf``, a 2-D array of at least (b - a, W' * C) of ``dtype``.
        """
        n = b - a
        left, w = self.left, self.width
        inside = self._inside(a, n)
        if inside is not None and len(self.col_map) == w:
            return self.x[inside : inside + n].reshape(n, -1)
        out = buf[:n].reshape((n,) + self.shape[1:])
        if inside is not None:
            out[:, left : left + w] = self.x[inside : inside + n]
            self._pad_columns(out)
            return out.reshape(n, -1)
        src = self.row_map[self.start + a : self.start + b]
        i = 0
        while i < n:  # consecutive runs of source rows are copied as one slice each
            if src[i] < 0:
                out[i] = self.fill
                i += 1
                continue
            j = i + 1
            while j < n and src[j] == src[j - 1] + 1:
                j += 1
            out[i:j, left : left + w] = self.x[src[i] : src[i] + j - i]
            i = j
        self._pad_columns(out)
        return out.reshape(n, -1)

    def _pad_columns(self, out):
        """Fill the padded columns of rows whose input columns are in place."""
        left, w = self.left, self.width
        for side in (slice(0, left), slice(left + w, None)):
            cols = self.col_map[side]
            if cols.size:
                if self.fill is not None:
                    out[:, side] = self.fill
                else:
                    out[:, side] = out[:, left + cols]


def strip_buffer(src, m, group, extent, sh):
    """The buffer :func:`strip_groups` needs for a group's rows of ``src``, or None when every
    group is a view of the input (no padding to fill in)."""
    if not (src.zero_fill or src.needs_buffer):
        return None
    width = src.width if src.zero_fill else src.shape[1]
    per_px = int(np.prod(src.shape[2:], dtype=np.int64))
    return np.empty(((group * m - 1) * sh + extent, width * per_px), dtype=src.dtype)


def strip_groups(src, ho, m, group, extent, sh, buf):
    """``(r0, g, mm, stack)`` for each group of strips of output rows, in order.

    The group has ``g`` strips of ``mm`` output rows from output row ``r0`` (``mm = m`` except
    for one last short strip, which runs alone); ``stack`` is the (g, rows, W*C) view of their
    input rows, ``rows = (mm-1)*sh + extent``, strip ``i`` starting ``i*mm*sh`` rows down (the
    strips overlap; nothing is copied unless a group reaches into the padding). With zero fill
    the rows come without their padded columns (:meth:`PaddedRows.zero_rows`), otherwise they
    are the padded rows (:meth:`PaddedRows.rows`).

    >>> src = PaddedRows(np.arange(20.0).reshape(10, 2), ((1, 1), (0, 0)))  # a 3-row kernel
    >>> buf = strip_buffer(src, 2, 3, 3, 1)
    >>> [(r0, g, mm, s.shape) for r0, g, mm, s in strip_groups(src, 10, 2, 3, 3, 1, buf)]
    [(0, 3, 2, (3, 4, 2)), (6, 2, 2, (2, 4, 2))]
    """
    whole = ho - ho % m  # rows in full-height strips
    r0 = 0
    while r0 < ho:
        g, mm = (min(group, (whole - r0) // m), m) if r0 < whole else (1, ho - r0)
        rows_in = (mm - 1) * sh + extent
        a = r0 * sh
        b = a + (g - 1) * mm * sh + rows_in
        rows = src.zero_rows(a, b, buf) if src.zero_fill else src.rows(a, b, buf)
        step, inner = rows.strides
        yield r0, g, mm, as_strided(rows, (g, rows_in, rows.shape[1]), (mm * sh * step, step, inner))
        r0 += g * mm
