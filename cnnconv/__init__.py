"""cnnconv: exact convolution, pooling, shape arithmetic and a small CNN in NumPy.

The public functions are importable from the package top level::

    >>> import numpy as np
    >>> from cnnconv import correlate
    >>> correlate(np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.0, 1.0])).tolist()
    [3.0, 5.0, 7.0]

Nothing is imported until it is used, so ``cnnconv --help`` and ``cnnconv shape``
start without loading the numeric modules they do not need.
"""

from __future__ import annotations

from cnnconv._lazy import lazy_exports

__version__ = "0.1.0"

# name -> module that defines it; resolved on first attribute access (PEP 562).
_EXPORTS = {
    "CnnconvError": "cnnconv.errors",
    "correlate": "cnnconv.conv",
    "convolve": "cnnconv.conv",
    "correlate_transpose": "cnnconv.conv",
    "conv_plan": "cnnconv.conv",
    "ConvPlan": "cnnconv.conv",
    "METHODS": "cnnconv.conv",
    "choose_method": "cnnconv.conv",
    "explain_method": "cnnconv.conv",
    "pool": "cnnconv.pooling",
    "pool2d_forward": "cnnconv.pooling",
    "pool2d_backward": "cnnconv.pooling",
    "conv_out_size": "cnnconv.shape.arithmetic",
    "pool_out_size": "cnnconv.shape.arithmetic",
    "conv_transpose_out_size": "cnnconv.shape.arithmetic",
    "same_padding": "cnnconv.shape.arithmetic",
    "parse_layers": "cnnconv.shape.grammar",
    "LayerSpecError": "cnnconv.shape.grammar",
    "summarize_network": "cnnconv.shape.summary",
    "Kernel": "cnnconv.kernels",
    "parse_kernel_text": "cnnconv.kernels",
    "kernel_info": "cnnconv.kernels",
    "build_network": "cnnconv.nn.model",
    "fit": "cnnconv.nn.train",
    "predict_proba": "cnnconv.nn.model",
    "training_bytes": "cnnconv.shape.memory",
    "load_kernel": "cnnconv.io.kernels",
    "load_model": "cnnconv.io.model",
    "save_model": "cnnconv.io.model",
    "load_dataset": "cnnconv.io.dataset",
}

__all__ = ["__version__", *_EXPORTS]


__getattr__, __dir__ = lazy_exports("cnnconv", _EXPORTS)
