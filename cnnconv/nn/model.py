"""A trainable network built from the layer grammar that ``cnnconv shape`` reads.

``build_network(parse_layers("conv5x8:p2,relu,pool2,fc10"), (28, 28, 1), 10)`` gives a
:class:`Network`: ``forward`` returns logits, ``backward`` fills gradients, and the
parameters have stable names (``"0.conv.weight"``) so model files and optimiser
states can be saved and loaded by name.
"""

from __future__ import annotations

import copy
import dataclasses

import numpy as np

from cnnconv.conv.engines._blas import single_threaded_blas
from cnnconv.errors import CnnconvError
from cnnconv.shape.grammar import Layer
from cnnconv.nn.activations import softmax
from cnnconv.nn.head import with_class_layer
from cnnconv.nn.layers import TRAINABLE_KINDS, make_module
from cnnconv.numerics import quiet_floats

_RELU_LIKE = ("relu", "abs")
_TRANSPARENT = ("maxpool", "avgpool", "dropout", "flatten", "gap", "gmp")


def default_spec(input_shape) -> str:
    """A LeNet-like spec for images of ``input_shape`` (H, W, C); the class layer is added later.

    From 12 pixels on: LeNet's ``conv5x8:p2,relu,pool2,conv5x16,relu,pool2`` (003), then
    ``conv3:p1`` stages with doubling filters (up to 64) while the maps are larger than
    8 pixels, then ``fc120,relu,fc84,relu``. Smaller images get 3x3 convolutions.

    Examples
    --------
    >>> default_spec((28, 28, 1))
    'conv5x8:p2,relu,pool2,conv5x16,relu,pool2,fc120,relu,fc84,relu'
    >>> default_spec((64, 64, 3))
    'conv5x8:p2,relu,pool2,conv5x16,relu,pool2,conv3x32:p1,relu,pool2,fc120,relu,fc84,relu'
    >>> default_spec((6, 6, 1))
    'conv3x8:p1,relu,pool2,conv3x16:p1,relu,fc120,relu,fc84,relu'
    """
    h, w = int(input_shape[0]), int(input_shape[1])
    side = min(h, w)
    if side >= 12:
        parts = ["conv5x8:p2", "relu", "pool2", "conv5x16", "relu", "pool2"]
        side, filters = (side // 2 - 4) // 2, 16
        while side > 8:
            filters = min(2 * filters, 64)
            parts += [f"conv3x{filters}:p1", "relu", "pool2"]
            side //= 2
    elif side >= 4:
        parts = ["conv3x8:p1", "relu", "pool2", "conv3x16:p1", "relu"] + (["pool2"] if side >= 8 else [])
    else:
        parts = []
    return ",".join(parts + ["fc120", "relu", "fc84", "relu"])


class Network:
    """A feed-forward stack of layers over NHWC batches, returning logits.

    Build one with :func:`build_network`. A trailing ``softmax`` after the last ``fc``
    is folded into the loss and into :func:`predict_proba`, so ``forward`` always
    returns logits.

    Attributes
    ----------
    spec : str
        The full layer spec, including an added class layer (re-parsing it rebuilds the net).
    input_shape : (H, W, C)
    num_classes : int
    layers : list of Layer
    modules : list of cnnconv.nn.layers.Module
    dtype : numpy dtype
    """

    def __init__(self, layers, modules, input_shape, num_classes, dtype, fold_softmax):
        self.layers = list(layers)
        self.modules = list(modules)
        self.spec = ",".join(layer.text or layer.kind for layer in self.layers)
        self.input_shape = tuple(int(v) for v in input_shape)
        self.num_classes = int(num_classes)
        self.dtype = np.dtype(dtype)
        self._run = _execution_order(self.modules[:-1] if fold_softmax else self.modules)
        self._first_param = min(i for i, m in enumerate(self._run) if m.params)

    # -- shapes and parameters ------------------------------------------------------------
    def activation_shapes(self) -> list[tuple[int, int, int]]:
        """Per-sample output ``(H, W, C)`` of every layer, as ``cnnconv shape`` reports them.

        Vectors (after ``fc``, ``flatten``, ``gap``, ``gmp``) are ``(1, 1, n)``, as in
        :func:`cnnconv.shape.summary.summarize_network`; the arrays themselves are ``(N, n)``.
        """
        return [m.out_shape if len(m.out_shape) == 3 else (1, 1, m.out_shape[0]) for m in self.modules]

    def parameters(self) -> list[tuple[str, np.ndarray]]:
        """``(name, array)`` for every weight and bias, in layer order; names like ``"0.conv.weight"``."""
        return [
            (f"{i}.{m.spec.kind}.{key}", value)
            for i, m in enumerate(self.modules)
            for key, value in m.params.items()
        ]

    def gradients(self) -> list[np.ndarray]:
        """The gradients of the last :meth:`backward`, in the order of :meth:`parameters`."""
        return [
            m.grads[key] if key in m.grads else np.zeros_like(value)
            for m in self.modules
            for key, value in m.params.items()
        ]

    def num_parameters(self) -> int:
        """Total count of trainable numbers."""
        return sum(int(a.size) for _, a in self.parameters())

    def state(self) -> dict[str, np.ndarray]:
        """A copy of every parameter by name (what a model file stores)."""
        return {name: value.copy() for name, value in self.parameters()}

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        """Copy ``state`` into the parameters; names and shapes must match exactly."""
        params = dict(self.parameters())
        missing = sorted(set(params) - set(state))
        extra = sorted(set(state) - set(params))
        if missing or extra:
            raise CnnconvError(
                f"the weights do not fit the network '{self.spec}': missing {missing or 'none'}, "
                f"unexpected {extra or 'none'}"
            )
        for name, value in params.items():
            new = np.asarray(state[name])
            if new.shape != value.shape:
                raise CnnconvError(f"weight {name} has shape {new.shape}, the network needs {value.shape}")
            if not np.isfinite(new).all():
                raise CnnconvError(f"weight {name} holds NaN or infinite values")
            np.copyto(value, new, casting="same_kind")

    def twin(self) -> "Network":
        """A network that shares this one's weights (the same arrays, so an optimiser step on
        either is seen by both) but keeps its own caches and gradients: a second thread can
        run a training forward and backward on it while this one runs on another batch.

        >>> net = build_network([], (4, 4, 1), 2)
        >>> t = net.twin()
        >>> t.modules[-1].params["weight"] is net.modules[-1].params["weight"], t.modules[-1] is net.modules[-1]
        (True, False)
        """
        twin = copy.copy(self)
        pairs = {}
        for m in self.modules:
            t = copy.copy(m)
            t.grads, t.cache = {}, None
            pairs[id(m)] = t
        twin.modules = [pairs[id(m)] for m in self.modules]
        twin._run = [pairs[id(m)] for m in self._run]
        return twin

    # -- passes ----------------------------------------------------------------------------
    def _check_input(self, x) -> np.ndarray:
        x = np.asarray(x)
        if x.ndim == 3 and self.input_shape[2] == 1:
            x = x[..., None]
        if x.ndim != 4 or x.shape[1:] != self.input_shape:
            h, w, c = self.input_shape
            raise CnnconvError(f"the network takes images of {h}x{w}x{c} (N, H, W, C), got an array of shape {x.shape}")
        return x.astype(self.dtype, copy=False)

    def forward(self, x, *, training=False, rng=None) -> np.ndarray:
        """Logits ``(N, num_classes)`` for a batch ``(N, H, W, C)``.

        ``training=True`` keeps what :meth:`backward` needs and applies dropout with
        ``rng`` (a ``numpy.random.Generator``).
        """
        x = self._check_input(x)
        for m in self._run:
            x = m.forward(x, training, rng)
        return x

    def backward(self, dlogits) -> None:
        """Back-propagate ``dL/dlogits`` of the last training forward; fills every gradient."""
        dy = dlogits
        for i in range(len(self._run) - 1, self._first_param - 1, -1):
            m = self._run[i]
            if m.cache is None and m.spec.kind != "dropout":
                raise CnnconvError("backward needs a forward pass with training=True first")
            dy = m.backward(dy, need_dx=i > self._first_param)

    def feature_maps(self, x) -> list[tuple[int, str, np.ndarray]]:
        """``(index, layer text, output)`` of every convolution layer for the batch ``x``."""
        x = self._check_input(x)
        maps = []
        for i, m in enumerate(self._run):
            x = m.forward(x)
            if m.spec.kind == "conv":
                maps.append((i, m.spec.text or "conv", x))
        return maps


def _execution_order(modules):
    """The modules in the order they run: ``relu`` then ``maxpool`` runs as maxpool then relu.

    ``max(relu(a)) == relu(max(a))`` and both route the gradient to the same input, so
    the result is bit for bit the same while the ReLU touches a quarter of the values.
    """
    order = list(modules)
    for i in range(len(order) - 1):
        if order[i].spec.kind == "relu" and order[i + 1].spec.kind == "maxpool":
            order[i], order[i + 1] = order[i + 1], order[i]
    return order


def _relu_follows(layers, i) -> bool:
    for later in layers[i + 1 :]:
        if later.kind in _RELU_LIKE:
            return True
        if later.kind not in _TRANSPARENT:
            return False
    return False


def build_network(layers, input_shape, num_classes, *, seed=0, dtype=np.float32) -> Network:
    """Build a trainable :class:`Network` from parsed layers (``cnnconv.shape.grammar.parse_layers``).

    A final ``fc{num_classes}`` is appended when the spec does not end in an ``fc``
    (a trailing ``softmax`` after an ``fc`` is allowed and folded into the loss).
    Convolution and fc weights get He initialisation when a ReLU/abs follows them,
    Glorot otherwise; biases start at zero. The same ``seed`` gives the same weights.

    Parameters
    ----------
    layers : list of Layer, or str
        The spec (a string is parsed with ``cnnconv.shape.grammar.parse_layers``).
    input_shape : (H, W, C)
    num_classes : int
        At least 2.
    seed : int
    dtype : float32 (default) or float64

    Raises
    ------
    CnnconvError
        For layers training does not support (``tconv``, ``bn``), a stack that shrinks
        to nothing (naming the layer), or a final fc whose size is not ``num_classes``.

    Examples
    --------
    >>> from cnnconv.shape.grammar import Layer
    >>> net = build_network([Layer("conv", out=4, kernel=(3, 3), text="conv3x4"), Layer("relu", text="relu")],
    ...                     (8, 8, 1), 3)
    >>> net.spec, net.activation_shapes()
    ('conv3x4,relu,fc3', [(6, 6, 4), (6, 6, 4), (1, 1, 3)])
    """
    if isinstance(layers, str):
        from cnnconv.shape.grammar import parse_layers

        layers = parse_layers(layers)
    layers = list(layers)
    if len(input_shape) != 3 or min(int(v) for v in input_shape) < 1:
        raise CnnconvError(f"input_shape must be (H, W, C) with positive sizes, got {tuple(input_shape)}")
    if int(num_classes) < 2:
        raise CnnconvError(f"a classifier needs at least 2 classes, got {num_classes}")
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise CnnconvError(f"dtype must be float32 or float64, got {dtype}")
    for i, layer in enumerate(layers):
        if layer.kind not in TRAINABLE_KINDS:
            raise CnnconvError(
                f"layer {i + 1} '{layer.text or layer.kind}' cannot be trained; training supports "
                f"{', '.join(TRAINABLE_KINDS)}"
            )
    layers, fold_softmax = with_class_layer(layers, num_classes)
    rng = np.random.default_rng(seed)
    modules, shape = [], tuple(int(v) for v in input_shape)
    for i, layer in enumerate(layers):
        if not layer.text:
            layer = dataclasses.replace(layer, text=layer.kind + (str(layer.out) if layer.out else ""))
            layers[i] = layer
        module = make_module(i, layer, shape, rng, dtype, _relu_follows(layers, i))
        modules.append(module)
        shape = module.out_shape
    return Network(layers, modules, input_shape, num_classes, dtype, fold_softmax)


@quiet_floats
def predict_proba(net: Network, x, batch_size: int = 256) -> np.ndarray:
    """Class probabilities ``(N, num_classes)`` (softmax of the logits), in batches.

    Examples
    --------
    >>> from cnnconv.shape.grammar import Layer
    >>> net = build_network([Layer("flatten", text="flatten")], (2, 2, 1), 3)
    >>> p = predict_proba(net, np.zeros((5, 2, 2, 1)))
    >>> p.shape, bool(np.allclose(p.sum(axis=1), 1))
    ((5, 3), True)
    """
    if batch_size < 1:
        raise CnnconvError(f"batch_size must be >= 1, got {batch_size}")
    x = np.asarray(x)
    out = np.empty((x.shape[0], net.num_classes), dtype=net.dtype)
    with single_threaded_blas():  # small GEMMs: see cnnconv.nn.train.fit
        for start in range(0, x.shape[0], batch_size):
            out[start : start + batch_size] = softmax(net.forward(x[start : start + batch_size]), axis=1)
    return out


def predict(net: Network, x, batch_size: int = 256) -> np.ndarray:
    """Most probable class index per image, ``(N,)`` int64."""
    return predict_proba(net, x, batch_size).argmax(axis=1)
