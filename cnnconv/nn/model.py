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
from cnnconv.nn.activations import softmax
from cnnconv.nn.layers import TRAINABLE_KINDS, Merge, make_module
from cnnconv.numerics import quiet_floats

_RELU_LIKE = ("relu", "relu6", "abs")
_TRANSPARENT = ("maxpool", "avgpool", "dropout", "flatten", "gap", "gmp", "bn", "add", "cat", "upsample")


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
    """A network of layers over NHWC batches, returning logits: a chain or a graph.

    Build one with :func:`build_network`. The layers run in the order of the spec's
    :class:`~cnnconv.shape.layer.LayerGraph` (a chain is the graph where each layer reads
    the one before); each output is kept until its last reader has run. A trailing
    ``softmax`` after the last ``fc`` is folded into the loss and into
    :func:`predict_proba`, so ``forward`` always returns logits.

    Attributes
    ----------
    spec : str
        The full layer spec, including an added class layer (re-parsing it rebuilds the net).
    input_shape : (H, W, C)
    num_classes : int
    layers : list of Layer
    modules : list of cnnconv.nn.layers.Module
        One per node, in execution order; ``module.spec.kind`` names what it computes and
        ``module.params`` / ``module.buffers`` hold its arrays.
    inputs : list of tuple of int
        Per module, the nodes it reads: 0 is the network input, ``k`` is ``modules[k - 1]``'s
        output (as :attr:`cnnconv.shape.layer.Node.inputs`).
    dtype : numpy dtype
    """

    def __init__(self, layers, modules, input_shape, num_classes, dtype, fold_softmax, *, inputs=None, spec=None):
        self.layers = list(layers)
        self.modules = list(modules)
        self.inputs = [tuple(i) for i in inputs] if inputs is not None else [(k,) for k in range(len(self.modules))]
        self.spec = spec if spec is not None else ",".join(layer.text or layer.kind for layer in self.layers)
        self.input_shape = tuple(int(v) for v in input_shape)
        self.num_classes = int(num_classes)
        self.dtype = np.dtype(dtype)
        self.fold_softmax = bool(fold_softmax)
        self._plan()

    def _plan(self) -> None:
        """The steps that run: (output key, module, input keys, needs dx per input)."""
        count = len(self.modules) - (1 if self.fold_softmax else 0)
        readers = {}
        for k in range(count):
            for j in self.inputs[k]:
                readers.setdefault(j, []).append(k + 1)
        steps, k = [], 0
        while k < count:
            m = self.modules[k]
            nxt = k + 1
            if (nxt < count and m.spec.kind == "relu" and self.modules[nxt].spec.kind == "maxpool"
                    and self.inputs[nxt] == (k + 1,) and readers.get(k + 1) == [k + 2]):
                # max(relu(a)) == relu(max(a)), with the gradient routed to the same input: the
                # pool runs first so the ReLU touches a quarter of the values (bit for bit the same)
                steps.append((-(k + 1), self.modules[nxt], self.inputs[k]))
                steps.append((k + 2, m, (-(k + 1),)))
                k += 2
                continue
            steps.append((k + 1, m, self.inputs[k]))
            k += 1
        # a step needs input gradients only for inputs that depend on some parameter
        trained = {0: False}
        planned = []
        for key, m, ins in steps:
            needs = tuple(trained[j] for j in ins)
            trained[key] = bool(m.params) or any(needs)
            planned.append((key, m, ins, needs))
        last_read = {}
        for i, (_, _, ins, _) in enumerate(planned):
            for j in ins:
                last_read[j] = i
        self._steps = planned
        self._output = planned[-1][0] if planned else 0
        self._free_after = [[j for j in ins if last_read[j] == i and j != self._output]
                            for i, (_, _, ins, _) in enumerate(planned)]

    @property
    def _run(self):
        """The modules in the order they run (a ReLU before a max pool runs after it)."""
        return [m for _, m, _, _ in self._steps]

    # -- shapes and parameters ------------------------------------------------------------
    def activation_shapes(self) -> list[tuple[int, int, int]]:
        """Per-sample output ``(H, W, C)`` of every layer, as ``cnnconv shape`` reports them.

        Vectors (after ``fc``, ``flatten``, ``gap``, ``gmp``) are ``(1, 1, n)``, as in
        :func:`cnnconv.shape.summary.summarize_network`; the arrays themselves are ``(N, n)``.
        """
        return [m.out_shape if len(m.out_shape) == 3 else (1, 1, m.out_shape[0]) for m in self.modules]

    def parameters(self) -> list[tuple[str, np.ndarray]]:
        """``(name, array)`` for every trainable array, in layer order; names like ``"0.conv.weight"``."""
        return [
            (f"{i}.{m.spec.kind}.{key}", value)
            for i, m in enumerate(self.modules)
            for key, value in m.params.items()
        ]

    def buffers(self) -> list[tuple[str, np.ndarray]]:
        """``(name, array)`` for every non-trainable array (bn's running statistics), e.g.
        ``"1.bn.running_mean"``; the optimiser never sees them."""
        return [
            (f"{i}.{m.spec.kind}.{key}", value)
            for i, m in enumerate(self.modules)
            for key, value in m.buffers.items()
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
        """A copy of every parameter and buffer by name (what a model file stores)."""
        return {name: value.copy() for name, value in self.parameters() + self.buffers()}

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        """Copy ``state`` into the parameters and buffers; names and shapes must match exactly."""
        params = dict(self.parameters() + self.buffers())
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
        twin._steps = [(key, pairs[id(m)], ins, needs) for key, m, ins, needs in self._steps]
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

    def _walk(self, x, training, rng, visit=None):
        outputs = {0: x}
        for i, (key, m, ins, _) in enumerate(self._steps):
            arg = [outputs[j] for j in ins] if m.merges else outputs[ins[0]]
            outputs[key] = m.forward(arg, training, rng)
            if visit is not None:
                visit(key, m, outputs[key])
            for j in self._free_after[i]:
                del outputs[j]
        return outputs[self._output]

    def forward(self, x, *, training=False, rng=None) -> np.ndarray:
        """Logits ``(N, num_classes)`` for a batch ``(N, H, W, C)``.

        ``training=True`` keeps what :meth:`backward` needs, applies dropout with ``rng``
        (a ``numpy.random.Generator``), normalises bn layers by the batch's statistics and
        updates their running statistics; ``training=False`` uses the running statistics.
        """
        return self._walk(self._check_input(x), training, rng)

    def backward(self, dlogits) -> None:
        """Back-propagate ``dL/dlogits`` of the last training forward; fills every gradient.

        Walks the steps backwards; a node read by several others (a residual's input) gets
        the sum of their gradients. No gradient is computed for what depends on no parameter.
        """
        grads = {self._output: dlogits}
        for key, m, ins, needs in reversed(self._steps):
            if key not in grads:
                continue  # nothing downstream is trained through this step
            if m.cache is None and m.spec.kind != "dropout":
                raise CnnconvError("backward needs a forward pass with training=True first")
            dy = grads.pop(key)
            dx = m.backward(dy, need_dx=any(needs))
            if not any(needs):
                continue
            for j, d, need in zip(ins, dx if m.merges else (dx,), needs):
                if need:
                    grads[j] = d if j not in grads else grads[j] + d

    def feature_maps(self, x) -> list[tuple[int, str, np.ndarray]]:
        """``(index, layer text, output)`` of every convolution layer for the batch ``x``."""
        maps = []

        def visit(key, m, y):
            if m.spec.kind == "conv" and key > 0:
                maps.append((key - 1, m.spec.text or "conv", y))

        self._walk(self._check_input(x), False, None, visit)
        return maps


def _relu_follows(layers, i, readers=None) -> bool:
    """Whether a ReLU-like activation follows layer ``i`` through layers that keep its scale
    (pooling, dropout, flatten, bn, merges): He initialisation then, Glorot otherwise.

    ``readers`` maps a node number to the nodes reading it (a chain when None)."""
    k = i + 1
    while True:
        nxt = [k + 1] if readers is None else readers.get(k, [])
        if len(nxt) != 1 or nxt[0] > len(layers):
            return False
        kind = layers[nxt[0] - 1].kind
        if kind in _RELU_LIKE:
            return True
        if kind not in _TRANSPARENT:
            return False
        k = nxt[0]


def build_network(layers, input_shape, num_classes, *, seed=0, dtype=np.float32) -> Network:
    """Build a trainable :class:`Network` from a spec: text (a zoo name included), a parsed
    :class:`~cnnconv.shape.layer.LayerGraph`, or a list of layers (a chain).

    A final ``fc{num_classes}`` is appended when the network does not end in an ``fc``
    (a trailing ``softmax`` after an ``fc`` is allowed and folded into the loss); a zoo
    network's own classifier is resized to ``num_classes``
    (:func:`cnnconv.nn.head.classifier_graph`). Convolution and fc weights get He
    initialisation when a ReLU-like activation follows them, Glorot otherwise; biases start
    at zero, bn at ``gamma = 1, beta = 0`` with running mean 0 and variance 1. The same
    ``seed`` gives the same weights.

    Everything is checked before any array is allocated: the layer kinds, that the network
    classifies whole images (:func:`cnnconv.nn.head.refuse_dense_prediction`), and every
    shape (by the integer arithmetic of :func:`cnnconv.shape.summary.summarize_network`).

    Parameters
    ----------
    layers : str, LayerGraph or list of Layer
    input_shape : (H, W, C)
    num_classes : int
        At least 2.
    seed : int
    dtype : float32 (default) or float64

    Raises
    ------
    CnnconvError
        For layers training does not support (``tconv``), a network that predicts per pixel,
        a stack that shrinks to nothing or branches that cannot be joined (naming the layer),
        or a final fc whose size is not ``num_classes``.

    Examples
    --------
    >>> from cnnconv.shape.grammar import Layer
    >>> net = build_network([Layer("conv", out=4, kernel=(3, 3), text="conv3x4"), Layer("relu", text="relu")],
    ...                     (8, 8, 1), 3)
    >>> net.spec, net.activation_shapes()
    ('conv3x4,relu,fc3', [(6, 6, 4), (6, 6, 4), (1, 1, 3)])
    >>> res = build_network("conv3x8:p1:nobias,bn,relu,add(conv3x8:p1:nobias,bn,relu|),gap", (8, 8, 1), 2)
    >>> res.inputs[6], res.spec
    ((6, 3), 'conv3x8:p1:nobias,bn,relu,add(conv3x8:p1:nobias,bn,relu|),gap,fc2')
    >>> [name for name, _ in res.buffers()][:2]
    ['1.bn.running_mean', '1.bn.running_var']
    """
    from cnnconv.nn.head import classifier_graph
    from cnnconv.shape.layer import LayerGraph, LayerSpecError, Node
    from cnnconv.shape.summary import summarize_network

    if not isinstance(layers, (str, LayerGraph)):
        stack = list(layers)
        for i, layer in enumerate(stack):
            if not layer.text:
                stack[i] = dataclasses.replace(layer, text=layer.kind + (str(layer.out) if layer.out else ""))
        layers = LayerGraph(",".join(layer.text for layer in stack), tuple(Node(l, (k,)) for k, l in enumerate(stack)))
    if len(input_shape) != 3 or min(int(v) for v in input_shape) < 1:
        raise CnnconvError(f"input_shape must be (H, W, C) with positive sizes, got {tuple(input_shape)}")
    if int(num_classes) < 2:
        raise CnnconvError(f"a classifier needs at least 2 classes, got {num_classes}")
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise CnnconvError(f"dtype must be float32 or float64, got {dtype}")
    graph, spec, fold_softmax = classifier_graph(layers, num_classes)
    for i, node in enumerate(graph.nodes):
        if node.layer.kind not in TRAINABLE_KINDS:
            raise CnnconvError(
                f"layer {i + 1} '{node.layer.text or node.layer.kind}' cannot be trained; training supports "
                f"{', '.join(TRAINABLE_KINDS)}"
            )
    try:  # every shape, before any array; a chain's layer names its problem in its own words below
        rows, problem = summarize_network(tuple(int(v) for v in input_shape), graph).rows, None
    except LayerSpecError as exc:
        rows, problem = None, exc
    if problem is not None and not graph.is_chain():
        raise problem
    rng = np.random.default_rng(seed)
    readers = {}
    for k, node in enumerate(graph.nodes, 1):
        for j in node.inputs:
            readers.setdefault(j, []).append(k)
    layer_list = graph.layers()
    shapes = [tuple(int(v) for v in input_shape)]
    modules = []
    for i, node in enumerate(graph.nodes):
        layer = node.layer
        if node.layer.kind in ("add", "cat"):
            row = rows[i]
            out = row.output if not row.flat else (row.output[2],)
            module = Merge(i, layer, [shapes[j] for j in node.inputs], out, row.crops)
        else:
            module = make_module(i, layer, shapes[node.inputs[0]], rng, dtype,
                                 _relu_follows(layer_list, i, readers))
        modules.append(module)
        shapes.append(module.out_shape)
    if problem is not None:
        raise problem
    return Network(layer_list, modules, input_shape, num_classes, dtype, fold_softmax,
                   inputs=[node.inputs for node in graph.nodes], spec=spec)


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
