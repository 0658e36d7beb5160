"""Banded-Toeplitz correlation: each row block's correlation is one BLAS matrix product.

The lecture's "convolution as matrix multiplication" (the 'What is mode?' notes) applied to column blocks: the
Bo outputs of a block depend on Bi = (Bo-1)*sw + (kw-1)*dw + 1 input columns of kh input rows,
and the map from those kh*Bi*C numbers to the Bo*N outputs is a fixed banded matrix built once
from the kernel. A row strip copies its kh input rows per block into one cache-sized buffer
(kh copies, never kh*kw as im2col would) and multiplies it by that matrix in a single GEMM.
Stride is folded in: strided rows are copied and the matrix only has the strided columns.
"""

from __future__ import annotations

import contextlib

import numpy as np

from cnnconv.conv.engines._blas import single_threaded_blas
from cnnconv.conv.engines._layout import STRIP_BYTES, kernel_as_bank, out_shape, strip_rows


def block_width(ew, n_out, wo):
    """Outputs per column block (Bo); measured best in BENCHMARKS.md ("Toeplitz block width").

    Narrow blocks waste fewer multiplications by zero (the matrix is (Bo+kw-1) x Bo with only
    kw non-zeros per column) but make thinner GEMMs; wide kernels need wider blocks.

    >>> block_width(3, 1, 4096), block_width(31, 1, 4096), block_width(3, 64, 4096), block_width(3, 1, 10)
    (24, 48, 4, 10)
    """
    bo = 24 if ew <= 16 else 48
    return max(1, min(bo, max(4, 256 // n_out), wo))


def toeplitz_matrix(w4, bo, sw, dw):
    """The (kh*Bi*C, Bo*N) matrix mapping one block's input rows to its outputs, and Bi.

    Shape
    -----
    ``w4`` (kh, kw, C, N) -> ((kh*Bi*C, Bo*N), Bi) with ``Bi = (Bo-1)*sw + (kw-1)*dw + 1``.

    Examples
    --------
    >>> t, bi = toeplitz_matrix(np.array([1.0, 2.0]).reshape(1, 2, 1, 1), 3, 1, 1)
    >>> bi, t.T.tolist()
    (4, [[1.0, 2.0, 0.0, 0.0], [0.0, 1.0, 2.0, 0.0], [0.0, 0.0, 1.0, 2.0]])
    """
    kh, kw, c, n = w4.shape
    bi = (bo - 1) * sw + (kw - 1) * dw + 1
    t = np.zeros((kh, bi, c, bo, n), dtype=w4.dtype)
    j = np.arange(bo)
    for b in range(kw):
        t[:, j * sw + b * dw, :, j, :] = w4[:, b]
    return t.reshape(kh * bi * c, bo * n), bi


def correlate_toeplitz(xp, w, stride=(1, 1), dilation=(1, 1), bo=None, budget=4 * STRIP_BYTES, out=None):
    """Valid correlation as one banded-Toeplitz GEMM per row strip.

    ``bo`` overrides :func:`block_width`; ``budget`` is the strip size in bytes (1 MiB, half
    the L2: 4096² 5x5 in two bands took 58 ms against 63 ms with 4 MiB strips, 7x7 79 against
    85, on the project's 2-core Intel Xeon; 512² 1.5 ms either way). ``out``, a
    C-contiguous array of the result's shape and dtype, receives the result if given.

    Shape
    -----
    Any case of the ``cnnconv.conv.dispatch.correlate_valid`` contract -> ``out_shape(...)``.
    A per-channel 2-D kernel on C channels runs plane by plane (a diagonal (kh, kw, C, C)
    bank would multiply C times as many zeros).

    Examples
    --------
    >>> x = np.arange(20.0).reshape(4, 5)
    >>> correlate_toeplitz(x, np.array([[1.0, 0.0], [0.0, -1.0]]), stride=(2, 2)).tolist()
    [[-6.0, -6.0], [-6.0, -6.0]]
    """
    (sh, sw), (dh, dw) = stride, dilation
    shape = out_shape(xp.shape, w.shape, stride, dilation)
    ho, wo = shape[:2]
    if out is None:
        out = np.empty(shape, dtype=xp.dtype)
    if w.ndim == 2 and xp.ndim == 3 and xp.shape[2] > 1:
        for ch in range(xp.shape[2]):
            out[..., ch] = correlate_toeplitz(np.ascontiguousarray(xp[..., ch]), w, stride, dilation, bo, budget)
        return out
    x3 = np.ascontiguousarray(xp if xp.ndim == 3 else xp[:, :, None])
    h, width, c = x3.shape
    w4 = kernel_as_bank(w, c if (w.ndim == 2 and xp.ndim == 3) else None)
    kh, kw, _, n = w4.shape
    bo = bo or block_width(dw * (kw - 1) + 1, n, wo)
    t, bi = toeplitz_matrix(w4, bo, sw, dw)
    flat = x3.reshape(h, width * c)
    nbf = wo // bo
    # Full blocks on a regular grid, plus one block ending exactly at the last output column
    # (it overlaps the previous one and recomputes the same values): no ragged edge to handle.
    grid = np.lib.stride_tricks.sliding_window_view(flat, bi * c, axis=1)[:, :: bo * sw * c][:, :nbf]
    tail0 = (wo - bo) * sw * c
    tail = flat[:, tail0 : tail0 + bi * c]
    nb = nbf + 1
    k = kh * bi * c
    rows = strip_rows(nb * (k + bo * n) * x3.itemsize, budget)
    buf = np.empty((min(rows, ho), nb, kh, bi * c), dtype=x3.dtype)
    res = np.empty((min(rows, ho), nb, bo, n), dtype=x3.dtype)
    out3 = out.reshape(ho, wo, n)
    with single_threaded_blas() if ho > rows else contextlib.nullcontext():
        for r0 in range(0, ho, rows):
            r1 = min(ho, r0 + rows)
            m = r1 - r0
            for a in range(kh):
                top = r0 * sh + a * dh
                sel = slice(top, top + (m - 1) * sh + 1, sh)
                buf[:m, :nbf, a] = grid[sel]
                buf[:m, nbf, a] = tail[sel]
            np.matmul(buf[:m].reshape(m * nb, k), t, out=res[:m].reshape(m * nb, bo * n))
            out3[r0:r1, : nbf * bo] = res[:m, :nbf].reshape(m, nbf * bo, n)
            out3[r0:r1, wo - bo :] = res[:m, nbf]
    return out
