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

from cnnconv.engines._blas import single_threaded_blas
from cnnconv.engines._layout import out_shape

#: Bytes of one strip's product P: with the strip's input it stays in this machine's 2 MiB L2
#: (Intel Xeon, measured 2026-11-27: at 4096² float32 5x5, m=4 rows (320 KiB) 47 ms against
#: m=8 (640 KiB) 63 ms; at 512², m=12 beat m=4 by 1.4x).
PRODUCT_BYTES = 384 * 1024
#: Strip heights: fewer rows waste fewer multiplications by zero, more make a larger GEMM.
MIN_ROWS, MAX_ROWS = 4, 12


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
    (12, 4, 4)
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

    Kernel columns that are all zero (Sobel's middle one) are skipped. ``out``, an array of
    the result's shape and ``xp.dtype``, receives the result if given.

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
    shape = out_shape(xp.shape, w.shape, stride, dilation)
    ho, wo = shape[:2]
    if out is None:
        out = np.empty(shape, dtype=xp.dtype)
    cols = [b for b in range(w.shape[1]) if np.any(w[:, b])]
    if not cols:
        out[...] = 0
        return out
    per_px = int(np.prod(xp.shape[2:], dtype=np.int64))
    flat = np.ascontiguousarray(xp).reshape(xp.shape[0], -1)
    out2 = out.reshape(ho, wo * per_px)
    span = wo * per_px
    m0 = min(ho, strip_height(len(cols), flat.shape[1] * xp.itemsize))
    bands = column_bands(w, cols, m0, sh, dh)
    product = np.empty((len(cols) * m0, flat.shape[1]), dtype=xp.dtype)
    with single_threaded_blas() if ho > m0 else contextlib.nullcontext():
        for r0 in range(0, ho, m0):
            m = min(m0, ho - r0)
            if m != m0:
                bands = column_bands(w, cols, m, sh, dh)
            p = product[: len(cols) * m]
            np.matmul(bands, flat[r0 * sh : r0 * sh + bands.shape[1]], out=p)
            p = p.reshape(len(cols), m, -1)
            shifts = [b * dw * per_px for b in cols]
            dest = out2[r0 : r0 + m]
            if len(cols) == 1:
                dest[...] = p[0, :, shifts[0] : shifts[0] + span]
                continue
            np.add(p[0, :, shifts[0] : shifts[0] + span], p[1, :, shifts[1] : shifts[1] + span], out=dest)
            for j in range(2, len(cols)):
                dest += p[j, :, shifts[j] : shifts[j] + span]
    return out
