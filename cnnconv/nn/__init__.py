"""A small CNN in NumPy: layers as pure forward/backward functions, losses, optimisers, training.

The names below load their module on first use (PEP 562), so importing
``cnnconv.nn.functional`` alone does not pull in the training loop::

    >>> from cnnconv.nn import build_network, fit, predict_proba   # doctest: +SKIP

Contract used by the CLI and the model files (``cnnconv.io.model``):

- ``build_network(layers, input_shape, num_classes, *, seed=0, dtype=np.float32) -> Network``
- ``default_spec(input_shape) -> str``
- ``Network``: ``spec``, ``input_shape``, ``num_classes``, ``forward``, ``backward``,
  ``parameters``, ``gradients``, ``state``, ``load_state``, ``activation_shapes``,
  ``feature_maps``
- ``fit(net, x_train, y_train, x_val, y_val, FitOptions(...), resume=..., stop=...) -> FitResult``
- ``predict_proba(net, x, batch_size=256)``, ``predict(net, x)``
- ``accuracy``, ``confusion_matrix``, ``precision_recall``
"""

from __future__ import annotations

from cnnconv._lazy import lazy_exports

_EXPORTS = {
    "build_network": "cnnconv.nn.model",
    "default_spec": "cnnconv.nn.model",
    "Network": "cnnconv.nn.model",
    "predict_proba": "cnnconv.nn.model",
    "predict": "cnnconv.nn.model",
    "fit": "cnnconv.nn.train",
    "FitResult": "cnnconv.nn.train",
    "FitOptions": "cnnconv.nn.train",
    "Resume": "cnnconv.nn.train",
    "accuracy": "cnnconv.nn.metrics",
    "confusion_matrix": "cnnconv.nn.metrics",
    "precision_recall": "cnnconv.nn.metrics",
    "TRAINABLE_KINDS": "cnnconv.nn.layers",
}

__all__ = list(_EXPORTS)


__getattr__, __dir__ = lazy_exports("cnnconv.nn", _EXPORTS)
