"""im2col correlation: copy every tap's samples of a row strip into columns, then one GEMM.

Cheapest when the matrix product is wide (a bank of many filters) or the kernel is small;
for one filter it copies kh*kw values per output, which the Toeplitz engine avoids. Strips keep
the column buffer cache-sized, so a 4096x4096 image never gets a kh*kw-times copy.
"""

from __future__ import annotations

import contextlib

import numpy as np

from cnnconv.conv.engines._blas import single_threaded_blas
from cnnconv.conv.engines._layout import out_shape, strip_rows, tap_view


def correlate_im2col(xp, w, stride=(1, 1), dilation=(1, 1), out=None):
    """Valid correlation through a strip-wise im2col buffer and a BLAS matrix product.

    Shape
    -----
    Any case of the ``cnnconv.conv.dispatch.correlate_valid`` contract -> ``out_shape(...)``.
    Per-channel kernels put the taps last, (rows, Wo, C, kh*kw); channel-summing kernels and
    banks put channels last, (rows, Wo, kh*kw, C), matching ``w.reshape(kh*kw*C, N)``.
    ``out``, a C-contiguous array of the result's shape and ``xp.dtype``, receives the result
    if given.

    Examples
    --------
    >>> x = np.arange(12.0).reshape(3, 4)
    >>> correlate_im2col(x, np.ones((2, 2)), dilation=(1, 2)).tolist()
    [[12.0, 16.0], [28.0, 32.0]]
    """
    shape = out_shape(xp.shape, w.shape, stride, dilation)
    ho, wo = shape[:2]
    kh, kw = w.shape[:2]
    ntap = kh * kw
    per_channel = w.ndim == 2
    if per_channel:
        lead = (wo,) + xp.shape[2:] + (ntap,)
        wmat = w.reshape(ntap)
    else:
        lead = (wo, ntap, xp.shape[2])
        wmat = w.reshape(ntap * xp.shape[2], -1) if w.ndim == 4 else w.reshape(-1)
    rows = strip_rows(int(np.prod(lead)) * xp.itemsize)
    buf = np.empty((min(rows, ho),) + lead, dtype=xp.dtype)
    if out is None:
        out = np.empty(shape, dtype=xp.dtype)
    with single_threaded_blas() if ho > rows else contextlib.nullcontext():
        for r0 in range(0, ho, rows):
            r1 = min(ho, r0 + rows)
            m = r1 - r0
            for t in range(ntap):
                view = tap_view(xp, r0, r1, t // kw, t % kw, wo, stride, dilation)
                if per_channel:
                    buf[:m, ..., t] = view
                else:
                    buf[:m, :, t, :] = view
            cols = buf[:m].reshape(-1, ntap) if per_channel else buf[:m].reshape(m * wo, -1)
            dest = out[r0:r1].reshape(-1) if wmat.ndim == 1 else out[r0:r1].reshape(m * wo, -1)
            np.matmul(cols, wmat, out=dest)
    return out
