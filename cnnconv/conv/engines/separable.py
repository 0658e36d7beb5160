"""Separable correlation: a rank-1 kernel u v^T becomes a vertical then a horizontal 1-D pass.

kh + kw taps per output instead of kh*kw. Rank 1 is decided in float64 from the kernel's
largest weight w[p, q]: if every weight equals w[i, q] * w[p, j] / w[p, q] to within
``16 * eps(dtype)`` of the largest, the kernel is that outer product up to rounding in its
dtype. (An SVD says the same but costs ~50 us per call, which showed on small images.)
"""

from __future__ import annotations

import contextlib

import numpy as np
from numpy.lib.stride_tricks import as_strided

from cnnconv.conv.engines._blas import single_threaded_blas
from cnnconv.conv.engines._layout import STRIP_BYTES, out_shape, strip_rows
from cnnconv.conv.engines._rows import PaddedRows, strip_buffer, strip_groups
from cnnconv.conv.engines.toeplitz import correlate_toeplitz

#: Longest vectors still run as slice passes; longer ones use matrix products
#: (BENCHMARKS.md, "Separable passes").
VERTICAL_TAPS_MAX = 7
HORIZONTAL_TAPS_MAX = 7
#: Strip height cap for the banded GEMM, which multiplies by (rows + k - 1) / k zeros too.
BAND_ROWS_MAX = 32
#: Without horizontal stride (``_separable_gemm``): rows per vertical strip and values per
#: horizontal block (at least the kernel's reach); a group's vertical result takes an eighth
#: of the input (band), within these bounds. Measured (Gaussian 5x5 / 31x31, ms):
#: 512² with 128 KiB groups 0.73 / 1.11, 512 KiB 0.91 / 1.59 (each call allocating and
#: faulting in more); 4096² with 2 MiB 28.7 / 41.9, 512 KiB 33.5 / 51.5. 8 rows and 16-value
#: blocks were best or within 5 % everywhere.
V_ROWS, H_BLOCK = 8, 16
GEMM_GROUP_BYTES = (128 * 1024, 2 * 1024 * 1024)


def rank1_factors(w, rtol=None):
    """Column and row vectors (u, v) with ``w == outer(u, v)`` within ``rtol``, else None.

    Only 2-D kernels can be separable here (a channel-summing or bank kernel returns None).

    Examples
    --------
    >>> u, v = rank1_factors(np.outer([1.0, 2.0, 1.0], [-1.0, 0.0, 1.0]))
    >>> bool(np.allclose(np.outer(u, v), [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]))
    True
    >>> rank1_factors(np.eye(3)) is None
    True
    """
    if w.ndim != 2:
        return None
    if rtol is None:
        rtol = 16 * np.finfo(w.dtype).eps
    k = w.astype(np.float64)
    p, q = np.unravel_index(np.argmax(np.abs(k)), k.shape)
    pivot = k[p, q]
    if pivot == 0:
        return None
    col, row = k[:, q] / pivot, k[p, :]
    if np.abs(k - np.outer(col, row)).max() > rtol * abs(pivot):
        return None
    exact = _integer_factors(k, p, q)
    if exact is not None:
        return tuple(v.astype(w.dtype) for v in exact)
    # Share the pivot's magnitude between the two vectors so neither pass over- or underflows.
    scale = np.sqrt(abs(pivot))
    return (col * scale).astype(w.dtype), (row / scale).astype(w.dtype)


def _integer_factors(k, p, q):
    """Integer (u, v) with ``outer(u, v) == k`` exactly, for an integer kernel, else None.

    Integer factors keep an integer kernel exact on integer samples in float32 (the
    pivot-sharing factors of a Sobel kernel are multiples of sqrt(2), which round): the
    column divided by its greatest common divisor, the row the rest.

    >>> [f.tolist() for f in _integer_factors(np.array([[-1.0, 0, 1], [-2, 0, 2], [-1, 0, 1]]), 1, 0)]
    [[1.0, 2.0, 1.0], [-1.0, 0.0, 1.0]]
    """
    if not np.all(k == np.round(k)) or np.abs(k).max() >= 2.0**53:
        return None
    column = k[:, q].astype(np.int64)
    g = int(np.gcd.reduce(np.abs(column)))
    g = g if k[p, q] > 0 else -g
    u = column / g
    v = k[p, :] / u[p]
    if not np.all(v == np.round(v)) or not np.array_equal(np.outer(u, v), k):
        return None
    return u, v


def banded_rows(u, m, sh, dh):
    """The (m, (m-1)*sh + (len(u)-1)*dh + 1) matrix whose product with a strip's input rows
    is the vertical pass: row i holds ``u`` at columns i*sh + a*dh.

    >>> banded_rows(np.array([1.0, 2.0]), 2, 1, 1).tolist()
    [[1.0, 2.0, 0.0], [0.0, 1.0, 2.0]]
    """
    band = np.zeros((m, (m - 1) * sh + (u.size - 1) * dh + 1), dtype=u.dtype)
    i = np.arange(m)
    for a in range(u.size):
        band[i, i * sh + a * dh] = u[a]
    return band


def _accumulate(acc, tmp, views_and_weights):
    """acc = sum of weight * view, with a scratch buffer instead of fresh temporaries."""
    first = True
    for view, wt in views_and_weights:
        if wt == 0:
            continue
        if first:
            np.multiply(view, wt, out=acc)
            first = False
        else:
            np.multiply(view, wt, out=tmp)
            np.add(acc, tmp, out=acc)
    if first:
        acc[...] = 0


def correlate_separable(xp, u, v, stride=(1, 1), dilation=(1, 1), out=None):
    """Valid correlation with the kernel ``outer(u, v)`` as two 1-D passes per strip.

    Without horizontal stride both passes are matrix products (:func:`_separable_gemm`) and
    ``xp`` may be a :class:`~cnnconv.conv.engines._rows.PaddedRows`. With one, the vertical pass is
    one banded-matrix GEMM per strip (:func:`banded_rows`) when ``u`` is longer than
    ``VERTICAL_TAPS_MAX``, else scaled-slice accumulation; the horizontal pass accumulates
    slices up to ``HORIZONTAL_TAPS_MAX`` taps and runs the Toeplitz engine beyond.
    ``out``, an array of the result's shape and ``xp.dtype``, receives the result if given.

    Shape
    -----
    ``xp`` (H, W) or (H, W, C), ``u`` (kh,), ``v`` (kw,) -> (Ho, Wo) or (Ho, Wo, C).

    Examples
    --------
    >>> x = np.arange(16.0).reshape(4, 4)
    >>> correlate_separable(x, np.array([1.0, 1.0]), np.array([1.0, -1.0])).tolist()
    [[-2.0, -2.0, -2.0], [-2.0, -2.0, -2.0], [-2.0, -2.0, -2.0]]
    """
    if stride[1] == 1:
        return _separable_gemm(xp if isinstance(xp, PaddedRows) else PaddedRows(xp), u, v, stride, dilation, out)
    (sh, sw), (dh, dw) = stride, dilation
    shape = out_shape(xp.shape, (u.size, v.size), stride, dilation)
    ho, wo = shape[:2]
    width, extra = xp.shape[1], xp.shape[2:]
    per_row = int(np.prod(extra, dtype=np.int64))
    # 2 MiB strips: as fast as 1 MiB on one core, faster in two row bands (see engines._split).
    rows = strip_rows((2 * width + 2 * wo) * per_row * xp.itemsize, 8 * STRIP_BYTES)
    if u.size > VERTICAL_TAPS_MAX:
        rows = min(rows, BAND_ROWS_MAX)
    m0 = min(rows, ho)
    vert = np.empty((m0, width) + extra, dtype=xp.dtype)
    vtmp = np.empty_like(vert)
    htmp = np.empty((m0, wo) + extra, dtype=xp.dtype)
    if out is None:
        out = np.empty(shape, dtype=xp.dtype)
    flat = np.ascontiguousarray(xp).reshape(xp.shape[0], -1)
    band = banded_rows(u, m0, sh, dh) if u.size > VERTICAL_TAPS_MAX else None
    with single_threaded_blas():
        for r0 in range(0, ho, rows):
            r1 = min(ho, r0 + rows)
            m = r1 - r0
            if band is None:
                vrows = [(xp[r0 * sh + a * dh :: sh][:m], u[a]) for a in range(u.size)]
                _accumulate(vert[:m], vtmp[:m], vrows)
            else:
                if m != band.shape[0]:
                    band = banded_rows(u, m, sh, dh)
                np.matmul(band, flat[r0 * sh : r0 * sh + band.shape[1]], out=vert[:m].reshape(m, -1))
            if v.size > HORIZONTAL_TAPS_MAX:
                out[r0:r1] = correlate_toeplitz(vert[:m], v[None, :], (1, sw), (1, dw))
            else:
                cols = [(vert[:m, b * dw : b * dw + (wo - 1) * sw + 1 : sw], v[b]) for b in range(v.size)]
                _accumulate(out[r0:r1], htmp[:m], cols)
    return out


def flat_toeplitz(v, q, step):
    """The two matrices of a 1-D correlation of a flat array in blocks of ``q`` outputs.

    Taps ``v[b]`` sit ``b*step`` elements apart; a block's outputs read its own ``q`` inputs
    (through ``T1``, (q, q)) and the first ``e = (len(v)-1)*step`` of the next block's
    (through ``T2``, (e, q)).

    >>> t1, t2 = flat_toeplitz(np.array([1.0, 2.0]), 3, 1)
    >>> t1.tolist(), t2.tolist()
    ([[1.0, 0.0, 0.0], [2.0, 1.0, 0.0], [0.0, 2.0, 1.0]], [[0.0, 0.0, 2.0]])
    """
    e = (v.size - 1) * step
    t = np.zeros((q + e, q), dtype=v.dtype)
    j = np.arange(q)
    for b in range(v.size):
        t[j + b * step, j] = v[b]
    return t[:q], t[q:]


def _separable_gemm(src, u, v, stride, dilation, out):
    """Both passes as matrix products over groups of row strips (no horizontal stride).

    Vertical: one batched GEMM of ``banded_rows(u)`` with the group's padded rows (as in the
    banded engine). Horizontal: the group's vertical result, read as one flat array, is cut
    into blocks of ``q`` values; each block's correlation with ``v`` is its own block times
    ``T1`` plus the next block's first ``e`` values times ``T2`` (:func:`flat_toeplitz`), two
    GEMMs on views, no copy. Row ends are never crossed for the outputs kept, because each
    padded row is wide enough for its own outputs. With zero fill no padded row is built:
    the vertical pass writes each row between zero columns. A NaN or inf in the input reaches the
    other outputs of its block and strip (multiplied by a zero weight), as in every GEMM engine.
    """
    (sh, _), (dh, dw) = stride, dilation
    shape = out_shape(src.shape, (u.size, v.size), stride, dilation)
    ho, wo = shape[:2]
    if out is not None and not out.flags.c_contiguous:
        # groups are written through out.reshape(Ho, Wo*C), which copies a strided out
        out[...] = _separable_gemm(src, u, v, stride, dilation, None)
        return out
    if out is None:
        out = np.empty(shape, dtype=src.dtype)
    per_px = int(np.prod(src.shape[2:], dtype=np.int64))
    row_len, span, item = src.shape[1] * per_px, wo * per_px, src.itemsize
    step = dw * per_px
    e = (v.size - 1) * step
    q = max(H_BLOCK, e)  # the tail GEMM reads rows q apart, so it needs e <= q
    m = min(ho, V_ROWS)
    low, high = GEMM_GROUP_BYTES
    budget = min(high, max(low, src.shape[0] * row_len * item // 8))
    group = max(1, min(ho // m, budget // (m * row_len * item)))
    blocks = -(-(group * m * row_len) // q)
    # Zeros past the last block: BLAS multiplies them by zero weights, and stale inf would give NaN.
    vert = np.zeros(blocks * q + q + e, dtype=src.dtype)
    main, tail = np.empty((blocks, q), dtype=src.dtype), np.empty((blocks, q), dtype=src.dtype)
    # Zero fill: the vertical pass reads the input rows themselves and writes between padding
    # columns of ``vert`` that are never written, so stay zero; other fills are copied in.
    cols = slice(src.left * per_px, (src.left + src.width) * per_px) if src.zero_fill else slice(None)
    extent = (u.size - 1) * dh + 1
    buf = strip_buffer(src, m, group, extent, sh)
    t1, t2 = flat_toeplitz(v, q, step)
    band = banded_rows(u, m, sh, dh)
    out2 = out.reshape(ho, span)
    with single_threaded_blas() if ho > m * group else contextlib.nullcontext():
        for r0, g, mm, stack in strip_groups(src, ho, m, group, extent, sh, buf):
            bnd = band if mm == m else banded_rows(u, mm, sh, dh)
            n = g * mm * row_len
            np.matmul(bnd, stack, out=vert[:n].reshape(g, mm, row_len)[:, :, cols])
            k = -(-n // q)
            vert[n : k * q + e] = 0
            np.matmul(vert[: k * q].reshape(k, q), t1, out=main[:k])
            flat = main.reshape(-1)[:n]
            if e:
                np.matmul(as_strided(vert[q:], (k, e), (q * item, item)), t2, out=tail[:k])
                np.add(flat, tail.reshape(-1)[:n], out=flat)  # flat: 3x faster than on the kept columns
            out2[r0 : r0 + g * mm] = flat.reshape(-1, row_len)[:, :span]
    return out
