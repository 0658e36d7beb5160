"""Shape arithmetic, integer only: output sizes, padding rules, receptive fields, memory
estimates, the layer grammar that ``shape`` and ``train`` share, and the network summary.

Nothing here imports NumPy, so ``cnnconv shape`` answers without loading it.

>>> from cnnconv.shape import conv_out_size, summarize_network
>>> conv_out_size(7, 3, stride=2)
3
>>> summarize_network((32, 32, 3), "conv5x6,pool2").rows[-1].output
(14, 14, 6)
"""

from __future__ import annotations

from cnnconv._lazy import lazy_exports

# name -> module that defines it, imported on first use (PEP 562), so that importing one
# module of the package does not load the others.
_EXPORTS = {
    "conv_out_size": "cnnconv.shape.arithmetic",
    "conv_transpose_out_size": "cnnconv.shape.arithmetic",
    "full_padding": "cnnconv.shape.arithmetic",
    "pool_out_size": "cnnconv.shape.arithmetic",
    "same_padding": "cnnconv.shape.arithmetic",
    "parse_input_shape": "cnnconv.shape.grammar",
    "parse_layers": "cnnconv.shape.grammar",
    "Layer": "cnnconv.shape.layer",
    "LayerSpecError": "cnnconv.shape.layer",
    "LayerRow": "cnnconv.shape.summary",
    "NetSummary": "cnnconv.shape.summary",
    "summarize_network": "cnnconv.shape.summary",
}

__all__ = list(_EXPORTS)

__getattr__, __dir__ = lazy_exports("cnnconv.shape", _EXPORTS)
