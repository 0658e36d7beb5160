"""The engines behind ``correlate``: valid correlation of an already padded array.

``cnnconv.conv`` does padding, boundaries, flips, dtypes and validation, then calls
:func:`correlate_valid` here. This module only computes.
"""

from __future__ import annotations

import numpy as np

from cnnconv.errors import CnnconvError

#: Method names accepted by ``method=``; "auto" picks one.
METHODS = ("auto", "im2col")


def choose_method(x_shape, w_shape, dtype, stride=(1, 1), dilation=(1, 1)) -> str:
    """The method ``method="auto"`` uses for these shapes (reported by ``--explain``).

    Examples
    --------
    >>> choose_method((512, 512), (3, 3), np.float32)
    'im2col'
    """
    return "im2col"


def correlate_valid(xp, w, stride=(1, 1), dilation=(1, 1), method="auto"):
    """Valid cross-correlation of a padded 2-D array, optionally with channels.

    Shape
    -----
    - ``xp`` (H, W) with ``w`` (kh, kw) -> (Ho, Wo)
    - ``xp`` (H, W, C) with ``w`` (kh, kw) -> (Ho, Wo, C): each channel on its own
    - ``xp`` (H, W, C) with ``w`` (kh, kw, C) -> (Ho, Wo): summed over channels
    - ``xp`` (H, W, C) with ``w`` (kh, kw, C, N) -> (Ho, Wo, N): a bank of N filters

    where ``Ho = (H - dh*(kh-1) - 1) // sh + 1`` (the caller guarantees Ho, Wo >= 1)
    and the result has ``xp.dtype`` (float32 or float64; ``w`` has the same dtype).

    Examples
    --------
    >>> x = np.arange(16.0).reshape(4, 4)
    >>> correlate_valid(x, np.ones((2, 2)), stride=(2, 2)).tolist()
    [[10.0, 18.0], [42.0, 50.0]]
    """
    if method not in METHODS:
        raise CnnconvError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    (sh, sw), (dh, dw) = stride, dilation
    kh, kw = w.shape[:2]
    eh, ew = dh * (kh - 1) + 1, dw * (kw - 1) + 1
    view = np.lib.stride_tricks.sliding_window_view(xp, (eh, ew), axis=(0, 1))
    view = view[::sh, ::sw, ..., ::dh, ::dw]
    if w.ndim == 2:
        return np.tensordot(view, w, axes=([-2, -1], [0, 1])).astype(xp.dtype, copy=False)
    if w.ndim == 3:
        return np.einsum("ijcab,abc->ij", view, w, optimize=True).astype(xp.dtype, copy=False)
    return np.einsum("ijcab,abcn->ijn", view, w, optimize=True).astype(xp.dtype, copy=False)
