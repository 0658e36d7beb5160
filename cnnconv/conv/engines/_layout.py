"""Shape bookkeeping shared by the engines: output sizes, tap slices and strip heights."""

from __future__ import annotations

import numpy as np

#: Unit of the engines' strip budgets (each engine says how many it takes and why): an
#: eighth of the 2 MiB L2 per core of the machine the budgets were last measured on.
STRIP_BYTES = 256 * 1024


def out_size(n, k, s, d):
    """Length of a valid, strided, dilated correlation along one axis.

    >>> out_size(10, 3, 2, 1)
    4
    """
    return (n - d * (k - 1) - 1) // s + 1


def out_shape(xp_shape, w_shape, stride, dilation):
    """Result shape of ``correlate_valid`` for these operand shapes (see the contract).

    >>> out_shape((8, 8, 3), (3, 3), (1, 1), (1, 1)), out_shape((8, 8, 3), (3, 3, 3, 4), (2, 2), (1, 1))
    ((6, 6, 3), (3, 3, 4))
    """
    ho = out_size(xp_shape[0], w_shape[0], stride[0], dilation[0])
    wo = out_size(xp_shape[1], w_shape[1], stride[1], dilation[1])
    if len(w_shape) == 2:
        return (ho, wo) + tuple(xp_shape[2:])
    if len(w_shape) == 3:
        return (ho, wo)
    return (ho, wo, w_shape[3])


def strip_rows(row_bytes, budget=STRIP_BYTES):
    """How many output rows fit one strip whose rows need ``row_bytes`` each (at least 1).

    >>> strip_rows(16384), strip_rows(10**9)
    (16, 1)
    """
    return max(1, budget // max(1, row_bytes))


def tap_view(xp, r0, r1, a, b, wo, stride, dilation):
    """Input samples under kernel tap (a, b) for output rows r0..r1-1 and all Wo columns.

    Stride is taken by slicing, so no sample is computed and then discarded.
    """
    (sh, sw), (dh, dw) = stride, dilation
    top, left = r0 * sh + a * dh, b * dw
    return xp[top : top + (r1 - r0 - 1) * sh + 1 : sh, left : left + (wo - 1) * sw + 1 : sw]


def kernel_as_bank(w, channels):
    """Any contract kernel as a (kh, kw, C, N) bank: per-channel kernels become diagonal banks.

    >>> kernel_as_bank(np.ones((2, 2)), 3)[0, 0]
    array([[1., 0., 0.],
           [0., 1., 0.],
           [0., 0., 1.]])
    """
    if w.ndim == 4:
        return w
    if w.ndim == 3:
        return w[..., None]
    if channels is None:
        return w[:, :, None, None]
    return w[:, :, None, None] * np.eye(channels, dtype=w.dtype)
