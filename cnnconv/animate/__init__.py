"""Step-by-step traces of convolution, pooling and transposed convolution, for drawing.

Each trace function runs the core operation (:func:`cnnconv.conv.correlate`,
:func:`~cnnconv.conv.convolve`, :func:`cnnconv.pooling.pool`,
:func:`~cnnconv.conv.correlate_transpose`) and records, frame by frame, what it computed:
for every output cell the input cells each tap read (or the padding value it took), the
weights, the products, their sum and the output value; for pooling the winning cell; for
the transposed convolution each input cell's scaled copy of the kernel added into the
output, and the crop its padding does. The output values are the core's own result, so a
picture made from a trace never shows a number the core would not compute.

>>> from cnnconv.animate import trace_correlate
>>> t = trace_correlate([1.0, 2.0, 3.0, 4.0], [1.0, 10.0])
>>> [f.expression for f in t.frames]
['1·1 + 2·10 = 21', '2·1 + 3·10 = 32', '3·1 + 4·10 = 43']
"""

from __future__ import annotations

from cnnconv._lazy import lazy_exports

# name -> module that defines it, imported on first use (PEP 562).
_EXPORTS = {
    "Trace": "cnnconv.animate.records",
    "Tap": "cnnconv.animate.records",
    "WindowFrame": "cnnconv.animate.records",
    "PoolFrame": "cnnconv.animate.records",
    "StampFrame": "cnnconv.animate.records",
    "CropFrame": "cnnconv.animate.records",
    "format_number": "cnnconv.animate.records",
    "trace_correlate": "cnnconv.animate.windows",
    "trace_pool": "cnnconv.animate.pooling",
    "trace_transpose": "cnnconv.animate.transpose",
}

__all__ = list(_EXPORTS)

__getattr__, __dir__ = lazy_exports("cnnconv.animate", _EXPORTS)
