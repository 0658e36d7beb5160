"""Convolution: correlate, convolve and their transpose, with the padding, boundary and
argument rules they share and the engines that compute them.

>>> import numpy as np
>>> from cnnconv.conv import correlate
>>> correlate(np.arange(5.0), np.array([1.0, 0.0, -1.0]), mode="valid").tolist()
[-2.0, -2.0, -2.0]
"""

from __future__ import annotations

from cnnconv._lazy import lazy_exports

# name -> module that defines it, imported on first use (PEP 562), so that importing one
# module of the package does not load the others.
_EXPORTS = {
    "ConvPlan": "cnnconv.conv.correlation",
    "conv_plan": "cnnconv.conv.correlation",
    "convolve": "cnnconv.conv.correlation",
    "correlate": "cnnconv.conv.correlation",
    "METHODS": "cnnconv.conv.dispatch",
    "choose_method": "cnnconv.conv.dispatch",
    "explain_method": "cnnconv.conv.dispatch",
    "correlate_transpose": "cnnconv.conv.transpose",
}

__all__ = list(_EXPORTS)

__getattr__, __dir__ = lazy_exports("cnnconv.conv", _EXPORTS)
