"""Trainable layer objects: each holds its parameters, gradients and one forward cache.

The arithmetic is in :mod:`cnnconv.nn.functional`, :mod:`cnnconv.nn.activations`,
:mod:`cnnconv.nn.lcn` and :mod:`cnnconv.pooling.forward`; a layer object only wires a
:class:`cnnconv.shape.grammar.Layer` to those functions. Weights change only in the
optimiser (:mod:`cnnconv.nn.optim`), which writes into ``params`` in place.

Shapes handled here are per sample, without the batch axis: ``(H, W, C)`` for maps,
``(n,)`` after ``fc``, ``flatten``, ``gap`` and ``gmp``.
"""

from __future__ import annotations

import numpy as np

from cnnconv import pooling as pool
from cnnconv.errors import CnnconvError
from cnnconv.nn import activations, batchnorm as BN, dense as D, functional as F, graph_ops as G, lcn
from cnnconv.nn.init import glorot_uniform, he_normal
from cnnconv.shape.arithmetic import conv_out_size, pool_out_size

#: Layer kinds that ``cnnconv train`` can build: every kind of the grammar.
TRAINABLE_KINDS = (
    "conv", "tconv", "maxpool", "avgpool", "gap", "gmp", "fc", "flatten", "relu", "relu6", "sigmoid", "tanh",
    "softplus", "abs", "softmax", "lcn", "dropout", "bn", "upsample", "add", "cat",
)

#: Window side of ``lcn`` when the spec gives none.
LCN_DEFAULT_SIZE = 9


class Module:
    """One layer of a :class:`~cnnconv.nn.model.Network`.

    Attributes
    ----------
    spec : Layer
        The parsed layer (``spec.kind`` says what it computes; for a merge ``"add"``/``"cat"``).
    in_shape, out_shape : tuple of int
        Per-sample shapes (a merge's ``in_shape`` is its first input's; ``in_shapes`` all).
    params, grads : dict[str, ndarray]
        Trainable arrays: ``"weight"`` (and ``"bias"`` unless ``:nobias``) for conv and fc,
        ``"gamma"``/``"beta"`` for bn; empty otherwise. Only the optimiser writes them.
    buffers : dict[str, ndarray]
        Non-trainable state: bn's ``"running_mean"``/``"running_var"``, updated by the layer's
        own training forward (:func:`cnnconv.nn.batchnorm.update_running_stats`); empty otherwise.
    """

    #: A merge reads a list of arrays (one per input) and returns one gradient per input.
    merges = False

    def __init__(self, spec, in_shape, out_shape):
        self.spec = spec
        self.in_shape = tuple(in_shape)
        self.out_shape = tuple(out_shape)
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.buffers: dict[str, np.ndarray] = {}
        self.cache = None

    def forward(self, x, training=False, rng=None):  # pragma: no cover - overridden
        raise NotImplementedError

    def backward(self, dy, need_dx=True):  # pragma: no cover - overridden
        raise NotImplementedError


def feature_maps(index, spec, in_shape) -> tuple[int, int, int]:
    """``(H, W, C)`` of a layer's per-sample input, or the error that the layer needs feature maps.

    >>> feature_maps(0, None, (4, 4, 2))
    (4, 4, 2)
    """
    if len(in_shape) != 3:
        raise CnnconvError(f"layer {index + 1} '{spec.text}' needs feature maps, got a vector of {in_shape}")
    return tuple(in_shape)


def _bad_size(index, spec, in_shape, out):
    return CnnconvError(
        f"layer {index + 1} '{spec.text or spec.kind}' shrinks its {in_shape[0]}x{in_shape[1]} input "
        f"to {out[0]}x{out[1]}: use a smaller kernel or stride, more padding, or a larger --size"
    )


class Conv(Module):
    def __init__(self, index, spec, in_shape, rng, dtype, relu_next):
        h, w, c = feature_maps(index, spec, in_shape)
        groups = c if spec.groups == 0 else spec.groups
        if c % groups or spec.out % groups:
            raise CnnconvError(
                f"layer {index + 1} '{spec.text}': groups={groups} must divide the {c} input channels "
                f"and the {spec.out} filters"
            )
        self.groups = groups
        self.padding = F.layer_padding(spec.padding, (h, w), spec.kernel, spec.stride, spec.dilation)
        shape = (*spec.kernel, c // groups, spec.out)
        try:
            _, ho, wo, _ = F.conv2d_out_shape((1, h, w, c // groups), shape, spec.stride, self.padding, spec.dilation)
        except CnnconvError:
            out = [conv_out_size(n, k, s, p, d) for n, k, s, p, d in
                   zip((h, w), spec.kernel, spec.stride, self.padding, spec.dilation)]
            raise _bad_size(index, spec, in_shape, out) from None
        super().__init__(spec, in_shape, (ho, wo, spec.out))
        fan_in = spec.kernel[0] * spec.kernel[1] * (c // groups)
        fan_out = spec.kernel[0] * spec.kernel[1] * spec.out // groups
        self.params["weight"] = (
            he_normal(shape, fan_in, rng, dtype) if relu_next else glorot_uniform(shape, fan_in, fan_out, rng, dtype)
        )
        if spec.bias:
            self.params["bias"] = np.zeros(spec.out, dtype=dtype)

    def forward(self, x, training=False, rng=None):
        s = self.spec
        y, cache = F.conv2d_grouped_forward(
            x, self.params["weight"], self.params.get("bias"), s.stride, self.padding, s.dilation, self.groups
        )
        self.cache = cache if training else None
        return y

    def backward(self, dy, need_dx=True):
        dx, self.grads["weight"], db = F.conv2d_grouped_backward(dy, self.cache, need_dx=need_dx, groups=self.groups)
        if db is not None:
            self.grads["bias"] = db
        return dx


class TConv(Module):
    """Transposed convolution; weights ``(kh, kw, C_in, C_out / groups)`` (PyTorch's
    ``(C_in, C_out / groups, kh, kw)`` in channels-last order)."""

    def __init__(self, index, spec, in_shape, rng, dtype, relu_next):
        h, w, c = feature_maps(index, spec, in_shape)
        groups = c if spec.groups == 0 else spec.groups
        if c % groups or spec.out % groups:
            raise CnnconvError(f"layer {index + 1} '{spec.text}': groups={groups} must divide the {c} input "
                               f"channels and the {spec.out} filters")
        self.groups = groups
        kh, kw = spec.kernel
        out = [(n - 1) * s - 2 * p + d * (k - 1) + op + 1 for n, k, s, p, op, d in
               zip((h, w), spec.kernel, spec.stride, spec.padding, spec.output_padding, spec.dilation)]
        if min(out) < 1:
            raise _bad_size(index, spec, in_shape, out)
        super().__init__(spec, in_shape, (*out, spec.out))
        shape = (kh, kw, c, spec.out // groups)
        # fans as PyTorch counts them for a transposed convolution's weight
        fan_in, fan_out = kh * kw * spec.out // groups, kh * kw * c // groups
        self.params["weight"] = (he_normal(shape, fan_in, rng, dtype) if relu_next
                                 else glorot_uniform(shape, fan_in, fan_out, rng, dtype))
        if spec.bias:
            self.params["bias"] = np.zeros(spec.out, dtype=dtype)

    def _args(self):
        s = self.spec
        return s.stride, s.padding, s.output_padding, s.dilation

    def forward(self, x, training=False, rng=None):
        w, b, g = self.params["weight"], self.params.get("bias"), self.groups
        if g == 1:
            y, cache = F.conv_transpose2d_forward(x, w, b, *self._args())
        else:
            ci, co = x.shape[3] // g, w.shape[3]
            parts = [F.conv_transpose2d_forward(x[..., k * ci:(k + 1) * ci], w[:, :, k * ci:(k + 1) * ci],
                                                None if b is None else b[k * co:(k + 1) * co], *self._args())
                     for k in range(g)]
            y, cache = np.concatenate([p[0] for p in parts], axis=3), [p[1] for p in parts]
        self.cache = cache if training else None
        return y

    def backward(self, dy, need_dx=True):
        if self.groups == 1:
            dx, self.grads["weight"], db = F.conv_transpose2d_backward(dy, self.cache, need_dx=need_dx)
        else:
            co = dy.shape[3] // self.groups
            parts = [F.conv_transpose2d_backward(np.ascontiguousarray(dy[..., k * co:(k + 1) * co]), c,
                                                 need_dx=need_dx) for k, c in enumerate(self.cache)]
            dx = np.concatenate([p[0] for p in parts], axis=3) if need_dx else None
            self.grads["weight"] = np.concatenate([p[1] for p in parts], axis=2)
            db = None if parts[0][2] is None else np.concatenate([p[2] for p in parts])
        if db is not None:
            self.grads["bias"] = db
        return dx


class Dense(Module):
    def __init__(self, index, spec, in_shape, rng, dtype, relu_next):
        n_in = int(np.prod(in_shape))
        super().__init__(spec, in_shape, (spec.out,))
        shape = (n_in, spec.out)
        self.params["weight"] = (
            he_normal(shape, n_in, rng, dtype) if relu_next else glorot_uniform(shape, n_in, spec.out, rng, dtype)
        )
        if spec.bias:
            self.params["bias"] = np.zeros(spec.out, dtype=dtype)

    def forward(self, x, training=False, rng=None):
        z, cache = D.dense_forward(x, self.params["weight"], self.params.get("bias"))
        self.cache = cache if training else None
        return z

    def backward(self, dy, need_dx=True):
        dx, self.grads["weight"], db = D.dense_backward(dy, self.cache, need_dx=need_dx)
        if db is not None:
            self.grads["bias"] = db
        return dx


class PoolSame(Module):
    """Pooling with ``:same`` padding: output ``ceil(n / stride)``, padded positions left out."""

    def __init__(self, index, spec, in_shape):
        h, w, c = feature_maps(index, spec, in_shape)
        self.padding = F.layer_padding("same", (h, w), spec.kernel, spec.stride)
        self.op = "max" if spec.kind == "maxpool" else "avg"
        super().__init__(spec, in_shape, (-(-h // spec.stride[0]), -(-w // spec.stride[1]), c))

    def forward(self, x, training=False, rng=None):
        y, cache = G.pool_same_forward(x, self.spec.kernel, self.spec.stride, self.padding, self.op)
        self.cache = cache if training else None
        return y

    def backward(self, dy, need_dx=True):
        return G.pool_same_backward(dy, self.cache)


class Pool(Module):
    def __init__(self, index, spec, in_shape):
        feature_maps(index, spec, in_shape)
        if isinstance(spec.padding, str):
            raise CnnconvError(f"layer {index + 1} '{spec.text}': pooling takes a number as padding, got {spec.padding!r}")
        self.kw = dict(
            stride=spec.stride, padding=spec.padding, op="max" if spec.kind == "maxpool" else "avg",
            ceil_mode=spec.ceil_mode, dilation=spec.dilation,
        )
        out = [
            pool_out_size(in_shape[a], spec.kernel[a], spec.stride[a], spec.padding[a], spec.dilation[a], spec.ceil_mode)
            for a in (0, 1)
        ]
        if min(out) < 1:
            raise _bad_size(index, spec, in_shape, out)
        super().__init__(spec, in_shape, (*out, in_shape[2]))

    def forward(self, x, training=False, rng=None):
        y = pool.pool2d_forward(x, self.spec.kernel, **self.kw)
        self.cache = (x, y) if training else None
        return y

    def backward(self, dy, need_dx=True):
        x, y = self.cache
        return pool.pool2d_backward(dy, x, y, self.spec.kernel, **self.kw)


class GlobalPool(Module):
    def __init__(self, index, spec, in_shape):
        feature_maps(index, spec, in_shape)
        super().__init__(spec, in_shape, (in_shape[2],))
        self.op = "avg" if spec.kind == "gap" else "max"

    def forward(self, x, training=False, rng=None):
        self.cache = x if training else None
        return pool.global_pool_forward(x, self.op)

    def backward(self, dy, need_dx=True):
        return pool.global_pool_backward(dy, self.cache, self.op)


class Activation(Module):
    def __init__(self, index, spec, in_shape):
        super().__init__(spec, in_shape, in_shape)
        self.fwd, self.bwd = activations.activation(spec.kind)

    def forward(self, x, training=False, rng=None):
        y, cache = self.fwd(x)
        self.cache = cache if training else None
        return y

    def backward(self, dy, need_dx=True):
        return self.bwd(dy, self.cache)


class Flatten(Module):
    def __init__(self, index, spec, in_shape):
        super().__init__(spec, in_shape, (int(np.prod(in_shape)),))

    def forward(self, x, training=False, rng=None):
        y, self.cache = D.flatten_forward(x)
        return y

    def backward(self, dy, need_dx=True):
        return D.flatten_backward(dy, self.cache)


class Dropout(Module):
    def __init__(self, index, spec, in_shape):
        super().__init__(spec, in_shape, in_shape)
        self.rate = 0.5 if spec.rate is None else float(spec.rate)
        if not 0.0 <= self.rate < 1.0:
            raise CnnconvError(f"layer {index + 1} '{spec.text}': dropout rate must be in [0, 1), got {self.rate}")

    def forward(self, x, training=False, rng=None):
        if not training or self.rate == 0.0:
            self.cache = None
            return x
        y, self.cache = D.dropout_forward(x, self.rate, rng)
        return y

    def backward(self, dy, need_dx=True):
        return dy if self.cache is None else D.dropout_backward(dy, self.cache)


class LCN(Module):
    def __init__(self, index, spec, in_shape):
        feature_maps(index, spec, in_shape)
        super().__init__(spec, in_shape, in_shape)
        k = spec.kernel[0] if spec.kernel != (1, 1) else LCN_DEFAULT_SIZE
        if k % 2 == 0 or spec.kernel[0] != spec.kernel[1]:
            raise CnnconvError(
                f"layer {index + 1} '{spec.text}': the lcn window must be square and odd (a Gaussian "
                f"centred on each unit), got {spec.kernel[0]}x{spec.kernel[1]}"
            )
        # a window wider than the map only adds zeros: use the largest odd size that fits
        side = min(in_shape[:2])
        self.size = max(1, min(k, side if side % 2 else side - 1))

    def forward(self, x, training=False, rng=None):
        y, cache = lcn.lcn_forward(x, self.size)
        self.cache = cache if training else None
        return y

    def backward(self, dy, need_dx=True):
        return lcn.lcn_backward(dy, self.cache)


class BatchNorm(Module):
    """Batch normalisation over the channels (the last axis) of maps or vectors.

    Training normalises with the batch's statistics and then blends them into the
    running ones (:func:`cnnconv.nn.batchnorm.update_running_stats`, momentum 0.1);
    inference normalises with the running statistics.
    """

    #: Set by :class:`cnnconv.nn._step.Stepper` while a batch is split between two threads:
    #: sums this half's statistics with the other's (None: the array is the whole batch).
    reduce = None
    #: False on the second thread's twin: the running statistics are updated once per batch.
    updates_running = True

    def __init__(self, index, spec, in_shape, dtype):
        super().__init__(spec, in_shape, in_shape)
        c = in_shape[-1]
        self.params["gamma"] = np.ones(c, dtype=dtype)
        self.params["beta"] = np.zeros(c, dtype=dtype)
        self.buffers["running_mean"] = np.zeros(c, dtype=dtype)
        self.buffers["running_var"] = np.ones(c, dtype=dtype)

    def forward(self, x, training=False, rng=None):
        p = self.params
        if not training:
            self.cache = None
            b = self.buffers
            return BN.batchnorm_infer_forward(x, p["gamma"], p["beta"], b["running_mean"], b["running_var"])
        y, self.cache = BN.batchnorm_train_forward(x, p["gamma"], p["beta"], reduce=self.reduce)
        if self.updates_running:
            BN.update_running_stats(self.buffers["running_mean"], self.buffers["running_var"], self.cache[-1])
        return y

    def backward(self, dy, need_dx=True):
        dx, self.grads["gamma"], self.grads["beta"] = BN.batchnorm_backward(dy, self.cache)
        return dx


class Upsample(Module):
    def __init__(self, index, spec, in_shape):
        h, w, c = feature_maps(index, spec, in_shape)
        fh, fw = spec.factor
        super().__init__(spec, in_shape, (h * fh, w * fw, c))
        bilinear = spec.op == "bilinear"
        self.fwd = G.upsample_bilinear_forward if bilinear else G.upsample_nearest_forward
        self.bwd = G.upsample_bilinear_backward if bilinear else G.upsample_nearest_backward

    def forward(self, x, training=False, rng=None):
        y, cache = self.fwd(x, self.spec.factor)
        self.cache = cache if training else None
        return y

    def backward(self, dy, need_dx=True):
        return self.bwd(dy, self.cache)


class Merge(Module):
    """``add`` or ``cat`` of two or more inputs; a tapped input larger than the others is
    centre-cropped first (``crops``: per input, (top, bottom, left, right))."""

    merges = True

    def __init__(self, index, spec, in_shapes, out_shape, crops):
        super().__init__(spec, in_shapes[0], out_shape)
        self.in_shapes = [tuple(s) for s in in_shapes]
        self.crops = [tuple(c) for c in crops] if crops else [(0, 0, 0, 0)] * len(in_shapes)
        self.fwd, self.bwd = (G.add_forward, G.add_backward) if spec.kind == "add" else (
            G.concat_forward, G.concat_backward)

    def forward(self, xs, training=False, rng=None):
        crop_caches = []
        parts = []
        for x, crop in zip(xs, self.crops):
            if any(crop):
                x, c = G.crop_forward(x, crop)
                crop_caches.append(c)
            else:
                crop_caches.append(None)
            parts.append(x)
        y, cache = self.fwd(parts)
        self.cache = (cache, crop_caches) if training else None
        return y

    def backward(self, dy, need_dx=True):
        cache, crop_caches = self.cache
        return tuple(d if c is None else G.crop_backward(d, c) for d, c in zip(self.bwd(dy, cache), crop_caches))


def make_module(index, spec, in_shape, rng, dtype, relu_next=False):
    """Build the :class:`Module` for ``spec`` taking per-sample input ``in_shape``.

    Raises CnnconvError for a kind training does not support and for a layer whose
    output would be empty (naming the layer). Merges (``add``/``cat``) are built as
    :class:`Merge` by the network builder, which knows all their inputs.
    """
    kind = spec.kind
    if kind not in TRAINABLE_KINDS:
        raise CnnconvError(
            f"layer {index + 1} '{spec.text or kind}' cannot be trained; training supports "
            f"{', '.join(TRAINABLE_KINDS)}"
        )
    if kind == "conv":
        return Conv(index, spec, in_shape, rng, dtype, relu_next)
    if kind == "tconv":
        return TConv(index, spec, in_shape, rng, dtype, relu_next)
    if kind == "fc":
        return Dense(index, spec, in_shape, rng, dtype, relu_next)
    if kind in ("maxpool", "avgpool"):
        return PoolSame(index, spec, in_shape) if spec.padding == "same" else Pool(index, spec, in_shape)
    if kind == "bn":
        return BatchNorm(index, spec, in_shape, dtype)
    if kind == "upsample":
        return Upsample(index, spec, in_shape)
    if kind in ("gap", "gmp"):
        return GlobalPool(index, spec, in_shape)
    if kind == "flatten":
        return Flatten(index, spec, in_shape)
    if kind == "dropout":
        return Dropout(index, spec, in_shape)
    if kind == "lcn":
        return LCN(index, spec, in_shape)
    return Activation(index, spec, in_shape)
