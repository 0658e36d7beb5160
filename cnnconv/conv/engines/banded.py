"""Banded correlation: the kernel's columns as banded matrices applied down each row strip.

For a strip of m output rows, ``P = B @ X`` multiplies the strip's input rows X (a plain
slab of the padded image: no copy) by one banded matrix per kernel column b, stacked:
``B[b*m + i, i*sh + a*dh] = w[a, b]``. Row block b of P then holds, for every input column,
the vertical part of the correlation with kernel column b; the result is the sum of those
kw blocks, each shifted left by ``b*dw`` columns (kw-1 adds in cache). The GEMM is wide
(the image width) and short (8-12 rows), so BLAS runs it at full speed although the matrix
is mostly zeros; it does ``kw*(m + kh - 1)`` multiply-adds per output instead of ``kh*kw``,
yet beats tap accumulation (``kh*kw`` passes of two ufuncs) from 3x3 up: BENCHMARKS.md,
"Banded engine". Horizontal stride would compute every column and drop most, so it is
left to the Toeplitz engine.
"""

from __future__ import annotations

import contextlib

import numpy as np

from cnnconv.conv.engines._blas import single_threaded_blas
from cnnconv.conv.engines._layout import out_shape
from cnnconv.conv.engines._rows import PaddedRows, strip_buffer, strip_groups

#: Bytes of one strip's product P: with the strip's input it stays in this machine's 2 MiB L2.
#: Strip heights: fewer rows waste fewer multiplications by zero, more make a larger GEMM.
#: Measured with grouped strips (ms, 3x3 / 5x5 / 7x7): 512² 8 rows 0.48 / 0.71 /
#: 0.97, 12 rows 0.57 / 0.85 / 1.15, 4-12 by this budget 0.54 / 0.86 / 1.16; 4096² 8 rows
#: 22.2 / 32.0 / 43.5, 12 rows 23.2 / 35.3 / 48.7, 16 rows 29.4 / 45.4 / 62.0.
PRODUCT_BYTES = 384 * 1024
MIN_ROWS, MAX_ROWS = 4, 8
#: Bytes of one kernel column's product for a group of strips (see ``correlate_banded``):
#: 1 MiB, or 256 KiB when the input (band) is under 2 MiB, where allocating and faulting in a
#: larger buffer on every call costs more than it saves (ms for 3x3 / 7x7, group
#: budget 256 KiB / 1 MiB: 512² 0.56 / 1.32 and 1.25 / 2.09; 1024² 3.4 / 2.1 and 6.1 / 3.9;
#: 4096² 34 / 28 and 72 / 46).
GROUP_BYTES = 1024 * 1024
SMALL_GROUP_BYTES, SMALL_INPUT_BYTES = 256 * 1024, 2 * 1024 * 1024


def can_run(w_shape, stride) -> bool:
    """Whether this engine handles the case: a 2-D kernel (on one or each channel), no
    horizontal stride.

    >>> can_run((3, 3), (2, 1)), can_run((3, 3, 2), (1, 1)), can_run((3, 3), (1, 2))
    (True, False, False)
    """
    return len(w_shape) == 2 and stride[1] == 1


def strip_height(kw_used, row_bytes):
    """Output rows per strip for ``kw_used`` kernel columns over rows of ``row_bytes``.

    >>> strip_height(3, 514 * 4), strip_height(5, 4100 * 4), strip_height(3, 10**8)
    (8, 4, 4)
    """
    return int(min(MAX_ROWS, max(MIN_ROWS, PRODUCT_BYTES // max(1, kw_used * row_bytes))))


def column_bands(w, cols, m, sh, dh):
    """The stacked banded matrices: (len(cols)*m, (m-1)*sh + (kh-1)*dh + 1).

    >>> column_bands(np.array([[1.0, 2.0], [3.0, 4.0]]), [0, 1], 2, 1, 1).tolist()
    [[1.0, 3.0, 0.0], [0.0, 1.0, 3.0], [2.0, 4.0, 0.0], [0.0, 2.0, 4.0]]
    """
    kh = w.shape[0]
    band = np.zeros((len(cols), m, (m - 1) * sh + (kh - 1) * dh + 1), dtype=w.dtype)
    i = np.arange(m)
    for a in range(kh):
        band[:, i, i * sh + a * dh] = w[a, cols][:, None]
    return band.reshape(len(cols) * m, -1)


def correlate_banded(xp, w, stride=(1, 1), dilation=(1, 1), out=None):
    """Valid correlation as one banded GEMM per row strip plus kw-1 shifted adds.

    Kernel columns that are all zero (Sobel's middle one) are skipped. ``xp`` may be a
    :class:`~cnnconv.conv.engines._rows.PaddedRows`: each strip's rows are then padded as they are
    read. ``out``, an array of the result's shape and ``xp.dtype``, receives the result if given.

    Shape
    -----
    ``xp`` (H, W) with ``w`` (kh, kw) -> (Ho, Wo); ``xp`` (H, W, C) with ``w`` (kh, kw)
    -> (Ho, Wo, C), each channel on its own. ``stride[1]`` must be 1 (see :func:`can_run`).

    Examples
    --------
    >>> x = np.arange(20.0).reshape(4, 5)
    >>> correlate_banded(x, np.array([[1.0, 0.0], [0.0, -1.0]]), stride=(2, 1)).tolist()
    [[-6.0, -6.0, -6.0, -6.0], [-6.0, -6.0, -6.0, -6.0]]
    """
    (sh, _), (dh, dw) = stride, dilation
    src = xp if isinstance(xp, PaddedRows) else PaddedRows(xp)
    shape = out_shape(src.shape, w.shape, stride, dilation)
    ho, wo = shape[:2]
    if out is not None and not out.flags.c_contiguous:
        # strips are written through out.reshape(Ho, Wo*C), which copies a strided out
        out[...] = correlate_banded(xp, w, stride, dilation)
        return out
    if out is None:
        out = np.empty(shape, dtype=src.dtype)
    cols = [b for b in range(w.shape[1]) if np.any(w[:, b])]
    if not cols:
        out[...] = 0
        return out
    per_px = int(np.prod(src.shape[2:], dtype=np.int64))
    # Zeros around the image add nothing: the GEMM reads the input rows themselves and each
    # kernel column's shifted add is cut to the columns it reaches. Other fills are copied in.
    virtual = src.zero_fill
    width = src.width if virtual else src.shape[1]
    offset = src.left if virtual else 0
    row_len, item = width * per_px, src.itemsize
    m = min(ho, strip_height(len(cols), row_len * item))
    # Strips are multiplied in groups, one batched matmul per kernel column into one column's
    # buffer (or straight into the output for the column that lines up with it): a strip's
    # per-call cost (~20 us) would otherwise dominate small images.
    budget = GROUP_BYTES if src.shape[0] * row_len * item >= SMALL_INPUT_BYTES else SMALL_GROUP_BYTES
    group = max(1, min(ho // m, budget // (m * row_len * item)))
    bands = column_bands(w, cols, m, sh, dh).reshape(len(cols), m, -1)
    part = np.empty((group * m, row_len), dtype=src.dtype)
    extent = (w.shape[0] - 1) * dh + 1
    buf = strip_buffer(src, m, group, extent, sh)
    terms = []  # (kernel column's index in cols, shift: output column c reads column c + shift)
    for j, b in enumerate(cols):
        shift = b * dw - offset
        if max(0, -shift) < min(wo, width - shift):
            terms.append((j, shift * per_px))
    if not terms:
        out[...] = 0
        return out
    # The column read without a shift goes first: it can be written straight into the output.
    terms.sort(key=lambda t: t[1] != 0)
    direct = terms[0][1] == 0 and row_len == wo * per_px
    out2 = out.reshape(ho, wo * per_px)
    with single_threaded_blas() if ho > m * group else contextlib.nullcontext():
        for r0, g, mm, stack in strip_groups(src, ho, m, group, extent, sh, buf):
            bnd = bands if mm == m else column_bands(w, cols, mm, sh, dh).reshape(len(cols), mm, -1)
            dest = out2[r0 : r0 + g * mm]
            p = part[: g * mm]
            for n, (j, shift) in enumerate(terms):
                into = dest if n == 0 and direct else p
                np.matmul(bnd[j], stack, out=into.reshape(g, mm, -1))
                if into is p:
                    _add_shifted(dest, p, shift, first=n == 0)
    return out


def _add_shifted(dest, part, shift, first=False):
    """``dest[:, c] += part[:, c + shift]`` where column ``c + shift`` exists (``=`` and zeros
    elsewhere if ``first``).

    When ``part`` and ``dest`` have rows of the same length the add runs on the flattened
    arrays, one contiguous ufunc call (2x faster than on 2-D slices at 512²), and the few
    entries that wrapped into a neighbouring row are put back from a copy.

    >>> p = np.arange(6.0).reshape(2, 3)
    >>> d = _add_shifted(np.empty((2, 3)), p, 1, first=True)
    >>> _add_shifted(d, p, -2).tolist()
    [[1.0, 2.0, 0.0], [4.0, 5.0, 3.0]]
    """
    m, n = dest.shape
    c0, c1 = max(0, -shift), min(n, part.shape[1] - shift)
    if first:
        dest[:, :c0] = 0
        dest[:, c1:] = 0
        dest[:, c0:c1] = part[:, c0 + shift : c1 + shift]
    elif part.shape != dest.shape or not (dest.flags.c_contiguous and part.flags.c_contiguous):
        dest[:, c0:c1] += part[:, c0 + shift : c1 + shift]
    else:
        wrapped = slice(n - shift, n) if shift > 0 else slice(0, -shift)
        keep = dest[:, wrapped].copy()
        lo, hi = max(0, -shift), m * n - max(0, shift)
        flat, src = dest.reshape(-1), part.reshape(-1)
        np.add(flat[lo:hi], src[lo + shift : hi + shift], out=flat[lo:hi])
        dest[:, wrapped] = keep
    return dest
