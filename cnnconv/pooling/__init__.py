"""Pooling: max, average and min windows over images and NHWC batches, their gradients,
and the window geometry (PyTorch's size rules, ceil mode, padding that never wins).

The package is called ``pooling`` rather than ``pool`` so that ``cnnconv.pool`` stays the
function (a subpackage of that name would replace it as an attribute of ``cnnconv``).

>>> import numpy as np
>>> from cnnconv.pooling import pool
>>> pool(np.arange(16.0).reshape(4, 4), 2).tolist()
[[5.0, 7.0], [13.0, 15.0]]
"""

from __future__ import annotations

from cnnconv._lazy import lazy_exports

# name -> module that defines it, imported on first use (PEP 562), so that importing one
# module of the package does not load the others.
_EXPORTS = {
    "global_pool_backward": "cnnconv.pooling.backward",
    "pool2d_backward": "cnnconv.pooling.backward",
    "global_pool_forward": "cnnconv.pooling.forward",
    "pool": "cnnconv.pooling.forward",
    "pool2d_forward": "cnnconv.pooling.forward",
    "POOL_OPS": "cnnconv.pooling.geometry",
    "RANK_OPS": "cnnconv.pooling.rank",
    "window_filter": "cnnconv.pooling.rank",
}

__all__ = list(_EXPORTS)

__getattr__, __dir__ = lazy_exports("cnnconv.pooling", _EXPORTS)
