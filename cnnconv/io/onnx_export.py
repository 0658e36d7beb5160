"""A trained network as an ONNX model: the whole path from the raw picture to the probabilities.

The graph built here takes what a picture file holds once it has the model's size: a batch
``(N, H, W, C)`` of 8-bit samples (``uint8``, 0..255; or, with ``input_type="float"``,
``float32`` values in [0, 1], as :func:`cnnconv.io.dataset.decode_many` gives), channels
last as everywhere in cnnconv. Inside it does what ``cnnconv predict`` does:

1. scale to [0, 1] and standardise with the training set's mean and std (the model file's);
2. transpose to NCHW once (ONNX's convolutions and pools are channels-first);
3. the layers, node for node (a graph's ``add``/``cat`` with their centre crops included);
4. two outputs: ``logits`` ``(N, classes)`` and ``probabilities`` (their softmax).

Resizing is left to the caller (Pillow's bilinear resize with its antialiasing has no exact
ONNX counterpart); the model's metadata says the size, the layout and the class names.

How each layer maps (``W`` are cnnconv's channels-last weights):

- ``conv``: ``Conv`` with the weights transposed HWIO -> OIHW, the padding cnnconv applied
  (per side, so ``:same`` is exact), groups, dilation; ``tconv``: ``ConvTranspose`` (weights
  ``(kh, kw, C_in, C_out/g)`` -> ``(C_in, C_out/g, kh, kw)``);
- ``fc`` after a map: the map back to NHWC order, flattened, then ``Gemm`` (or ``MatMul``
  without a bias), so the weights are used as stored;
- pooling: ``MaxPool``/``AveragePool`` with explicit per-side padding chosen to give
  cnnconv's output size (ceil mode included: padding at the end stands for the overhang),
  averages over the input pixels only (``count_include_pad=0``, as cnnconv counts);
- ``bn`` (inference): the per-channel affine map ``x * scale + shift`` with cnnconv's
  ``scale = gamma / sqrt(running_var + eps)``; ``relu6``: ``Clip(0, 6)``; ``up``: ``Resize``
  (nearest: ``asymmetric``/``floor``; bilinear: ``half_pixel``, PyTorch's
  ``align_corners=False``); ``dropout``: nothing (inference);
- ``lcn``, which ONNX has no operator for: built from ``ReduceMean`` over the channels, two
  one-dimensional Gaussian ``Conv`` passes (zero padded), and the border weights of the
  window as a constant, exactly as :mod:`cnnconv.nn.lcn` computes it.

The ``onnx`` package is an optional dependency (the ``onnx`` extra); without it
:func:`network_to_onnx` raises :class:`~cnnconv.errors.MissingExtraError` naming the extra.

>>> import numpy as np
>>> from cnnconv.nn.model import build_network
>>> net = build_network("conv3x4:p1,relu,gap", (8, 8, 1), 3)
>>> model = network_to_onnx(net, mean=[0.5], std=[0.25], class_names=["a", "b", "c"])
>>> [o.name for o in model.graph.output]
['logits', 'probabilities']
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cnnconv.errors import CnnconvError, MissingExtraError

#: The extra that installs the ``onnx`` package.
EXTRA = "onnx"
#: The operator set the graphs use (AveragePool with dilations, Resize, ReduceMean with axes as input).
OPSET = 19
#: The IR version written: the oldest that carries opset 19, so older runtimes load the file.
IR_VERSION = 9
#: Input types the graph can take.
INPUT_TYPES = ("uint8", "float")
#: Protobuf refuses messages of 2 GiB and more.
MAX_ONNX_BYTES = 2**31 - 1


def require_onnx():
    """The ``onnx`` module, or :class:`MissingExtraError` naming the extra to install."""
    try:
        import onnx
    except ImportError:
        raise MissingExtraError(
            f"ONNX export needs the optional package onnx; install it with pip install 'cnnconv[{EXTRA}]'",
            extra=EXTRA) from None
    return onnx


@dataclass(frozen=True)
class ExportSummary:
    """What :func:`export_model` wrote: the file, its input and outputs, and its size."""

    path: str
    input_name: str
    input_type: str
    input_shape: tuple
    outputs: tuple
    classes: tuple
    opset: int
    nodes: int
    bytes: int


class _Graph:
    """Nodes and constants under construction; each value knows whether it is a map or a vector."""

    def __init__(self, onnx):
        self.onnx, self.helper = onnx, onnx.helper
        self.nodes, self.inits = [], []
        self._n = 0

    def name(self, hint: str) -> str:
        self._n += 1
        return f"{hint}_{self._n}"

    def const(self, hint: str, value, dtype=np.float32) -> str:
        name = self.name(hint)
        self.inits.append(self.onnx.numpy_helper.from_array(np.ascontiguousarray(np.asarray(value, dtype=dtype)),
                                                            name))
        return name

    def op(self, op_type: str, inputs, hint: str | None = None, **attrs) -> str:
        out = self.name(hint or op_type.lower())
        self.nodes.append(self.helper.make_node(op_type, list(inputs), [out], name=out, **attrs))
        return out


def _require_kind(module, index: int, kinds) -> None:
    if module.spec.kind not in kinds:  # pragma: no cover - guarded by the dispatch
        raise CnnconvError(f"layer {index} is not one of {kinds}")


def _pads_2d(padding) -> list[int]:
    """cnnconv's ((top, bottom), (left, right)) as ONNX's [top, left, bottom, right]."""
    (top, bottom), (left, right) = padding
    return [int(top), int(left), int(bottom), int(right)]


def _pool_pads(n: int, out: int, k: int, s: int, p: int, d: int) -> tuple[int, int]:
    """Padding before and after one axis that gives ``out`` windows in ONNX's floor mode.

    cnnconv pads ``p`` before; after, it needs room for the last window: ``e`` with
    ``floor((n + p + e - d(k-1) - 1) / s) + 1 == out``. The smallest such ``e`` that is not
    negative is taken (ceil mode's overhang becomes padding, which a max and an average over
    the input pixels both ignore).
    """
    e = (out - 1) * s + d * (k - 1) + 1 - n - p
    return p, max(e, 0)


def _node_label(index: int, module) -> str:
    return f"layer {index} '{module.spec.text or module.spec.kind}'"


def _inputs_of(network) -> list[tuple[int, ...]]:
    inputs = getattr(network, "inputs", None)
    return [tuple(i) for i in inputs] if inputs is not None else [(k,) for k in range(len(network.modules))]


def _folds_softmax(network) -> bool:
    fold = getattr(network, "fold_softmax", None)
    if fold is not None:
        return bool(fold)
    from cnnconv.nn.head import with_class_layer

    return with_class_layer(network.layers, network.num_classes)[1]


def _as_map_input(g: _Graph, value: str, is_map: bool, label: str) -> str:
    if not is_map:
        raise CnnconvError(f"{label} needs feature maps, but its input is a vector")
    return value


def _flatten_nhwc(g: _Graph, value: str, is_map: bool) -> str:
    """A map flattened in cnnconv's (H, W, C) order; a vector as it is."""
    if not is_map:
        return value
    return g.op("Flatten", [g.op("Transpose", [value], "to_nhwc", perm=[0, 2, 3, 1])], "flatten", axis=1)


def _weighted_inputs(g: _Graph, m, x: str, name: str, axes: tuple[int, ...]) -> list[str]:
    """``x``, the layer's HWIO weights transposed by ``axes`` to ONNX's layout, and its bias if it has one."""
    inputs = [x, g.const(f"{name}_w", np.asarray(m.params["weight"], dtype=np.float32).transpose(axes))]
    if "bias" in m.params:
        inputs.append(g.const(f"{name}_b", m.params["bias"]))
    return inputs


def _conv(g: _Graph, m, x: str) -> str:
    s = m.spec
    inputs = _weighted_inputs(g, m, x, "conv", (3, 2, 0, 1))  # HWIO -> OIHW
    return g.op("Conv", inputs, "conv", kernel_shape=list(s.kernel), strides=list(s.stride),
                dilations=list(s.dilation), pads=_pads_2d(m.padding), group=int(m.groups))


def _tconv(g: _Graph, m, x: str) -> str:
    s = m.spec
    inputs = _weighted_inputs(g, m, x, "tconv", (2, 3, 0, 1))  # HWIO -> IOHW, ConvTranspose's layout
    ph, pw = s.padding
    return g.op("ConvTranspose", inputs, "tconv", kernel_shape=list(s.kernel), strides=list(s.stride),
                dilations=list(s.dilation), pads=[ph, pw, ph, pw], output_padding=list(s.output_padding),
                group=int(m.groups))


def _dense(g: _Graph, m, x: str, is_map: bool) -> str:
    flat = _flatten_nhwc(g, x, is_map)
    w = g.const("fc_w", m.params["weight"])
    if "bias" in m.params:
        return g.op("Gemm", [flat, w, g.const("fc_b", m.params["bias"])], "fc")
    return g.op("MatMul", [flat, w], "fc")


def _pool(g: _Graph, m, x: str) -> str:
    s = m.spec
    op = "MaxPool" if s.kind == "maxpool" else "AveragePool"
    h, w = m.in_shape[:2]
    ho, wo = m.out_shape[:2]
    if hasattr(m, "kw"):  # cnnconv's PyTorch-rule pooling: p before, what the last window needs after
        ph, pw = s.padding
        top, bottom = _pool_pads(h, ho, s.kernel[0], s.stride[0], ph, s.dilation[0])
        left, right = _pool_pads(w, wo, s.kernel[1], s.stride[1], pw, s.dilation[1])
        dilation = list(s.dilation)
    else:  # :same, padding per side as resolved by the layer
        (top, bottom), (left, right) = m.padding
        dilation = [1, 1]
    attrs = dict(kernel_shape=list(s.kernel), strides=list(s.stride), pads=[top, left, bottom, right])
    if dilation != [1, 1]:
        attrs["dilations"] = dilation
    if op == "AveragePool":
        attrs["count_include_pad"] = 0
    return g.op(op, [x], s.kind, **attrs)


def _batchnorm(g: _Graph, m, x: str, is_map: bool) -> str:
    p, b = m.params, m.buffers
    eps = getattr(m, "eps", None)
    if eps is None:
        from cnnconv.nn import batchnorm

        eps = batchnorm.EPS
    scale = (p["gamma"] / np.sqrt(b["running_var"] + eps)).astype(np.float32)
    shift = (p["beta"] - b["running_mean"] * scale).astype(np.float32)
    shape = (1, -1, 1, 1) if is_map else (1, -1)
    return g.op("Add", [g.op("Mul", [x, g.const("bn_scale", scale.reshape(shape))], "bn_mul"),
                        g.const("bn_shift", shift.reshape(shape))], "bn")


def _upsample(g: _Graph, m, x: str) -> str:
    fh, fw = m.spec.factor
    scales = g.const("up_scales", [1.0, 1.0, float(fh), float(fw)])
    if m.spec.op == "bilinear":
        return g.op("Resize", [x, "", scales], "up", mode="linear", coordinate_transformation_mode="half_pixel")
    return g.op("Resize", [x, "", scales], "up", mode="nearest", coordinate_transformation_mode="asymmetric",
                nearest_mode="floor")


def _lcn(g: _Graph, m, x: str) -> str:
    """Local contrast normalisation from primitives, as :func:`cnnconv.nn.lcn.lcn_forward` computes it."""
    from cnnconv.nn import lcn

    size = int(m.size)
    h, w = m.in_shape[:2]
    taps = lcn.gaussian_taps(size, dtype=np.float32)
    half = size // 2
    inside = lcn._smooth(np.ones((1, h, w), dtype=np.float32), taps)[0]
    down = g.const("lcn_taps_h", taps.reshape(1, 1, size, 1))
    across = g.const("lcn_taps_w", taps.reshape(1, 1, 1, size))
    weight = g.const("lcn_inside", inside.reshape(1, 1, h, w))
    axes = g.const("lcn_axes", [1], np.int64)

    def smooth(z: str) -> str:
        rows = g.op("Conv", [z, down], "lcn_rows", kernel_shape=[size, 1], pads=[half, 0, half, 0])
        return g.op("Conv", [rows, across], "lcn_cols", kernel_shape=[1, size], pads=[0, half, 0, half])

    mean = g.op("Div", [smooth(g.op("ReduceMean", [x, axes], "lcn_mean_c", keepdims=1)), weight], "lcn_mean")
    v = g.op("Sub", [x, mean], "lcn_centred")
    square = g.op("Mul", [v, v], "lcn_square")
    var = g.op("Div", [smooth(g.op("ReduceMean", [square, axes], "lcn_var_c", keepdims=1)), weight], "lcn_var")
    d = g.op("Sqrt", [g.op("Add", [var, g.const("lcn_kappa", 1.0)], "lcn_plus_kappa")], "lcn_std")
    return g.op("Div", [v, d], "lcn")


def _merge(g: _Graph, m, xs: list[str]) -> str:
    crops = getattr(m, "crops", None) or [(0, 0, 0, 0)] * len(xs)
    parts = []
    for x, crop, shape in zip(xs, crops, getattr(m, "in_shapes", [None] * len(xs))):
        if any(crop):
            top, bottom, left, right = crop
            h, w = shape[:2]
            x = g.op("Slice", [x, g.const("crop_start", [top, left], np.int64),
                               g.const("crop_end", [h - bottom, w - right], np.int64),
                               g.const("crop_axes", [2, 3], np.int64)], "crop")
        parts.append(x)
    if m.spec.kind == "add":
        return g.op("Sum", parts, "add")
    return g.op("Concat", parts, "cat", axis=1)


_ACTIVATIONS = {"relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh", "softplus": "Softplus", "abs": "Abs"}
#: Layer kinds the export handles (every kind ``cnnconv train`` builds).
EXPORTABLE_KINDS = ("conv", "tconv", "fc", "maxpool", "avgpool", "gap", "gmp", "flatten", "relu", "relu6",
                    "sigmoid", "tanh", "softplus", "abs", "softmax", "lcn", "bn", "dropout", "upsample", "add", "cat")


def _layer(g: _Graph, index: int, m, xs: list[str], maps: list[bool]) -> tuple[str, bool]:
    """The ONNX value of module ``m`` (layer ``index``, 1-based) and whether it is a map."""
    kind, label = m.spec.kind, _node_label(index, m)
    x, is_map = xs[0], maps[0]
    if kind in ("add", "cat"):
        if len(set(maps)) > 1:
            raise CnnconvError(f"{label} joins maps and vectors")
        return _merge(g, m, xs), is_map
    if kind == "conv":
        return _conv(g, m, _as_map_input(g, x, is_map, label)), True
    if kind == "tconv":
        return _tconv(g, m, _as_map_input(g, x, is_map, label)), True
    if kind == "fc":
        return _dense(g, m, x, is_map), False
    if kind in ("maxpool", "avgpool"):
        return _pool(g, m, _as_map_input(g, x, is_map, label)), True
    if kind in ("gap", "gmp"):
        pooled = g.op("GlobalAveragePool" if kind == "gap" else "GlobalMaxPool", [_as_map_input(g, x, is_map, label)],
                      kind)
        return g.op("Flatten", [pooled], f"{kind}_flat", axis=1), False
    if kind == "flatten":
        return _flatten_nhwc(g, x, is_map), False
    if kind in _ACTIVATIONS:
        return g.op(_ACTIVATIONS[kind], [x], kind), is_map
    if kind == "relu6":
        return g.op("Clip", [x, g.const("zero", 0.0), g.const("six", 6.0)], "relu6"), is_map
    if kind == "softmax":  # over the channels: axis 1 of NCHW maps and of vectors alike
        return g.op("Softmax", [x], "softmax", axis=1), is_map
    if kind == "dropout":
        return x, is_map
    if kind == "bn":
        return _batchnorm(g, m, x, is_map), is_map
    if kind == "upsample":
        return _upsample(g, m, _as_map_input(g, x, is_map, label)), True
    if kind == "lcn":
        return _lcn(g, m, _as_map_input(g, x, is_map, label)), True
    raise CnnconvError(f"{label}: a '{kind}' layer has no ONNX export (exportable: {', '.join(EXPORTABLE_KINDS)})")


def network_to_onnx(network, *, mean: Sequence[float], std: Sequence[float], class_names: Sequence[str] | None = None,
                    input_type: str = "uint8", channels: str | None = None, doc: str = ""):
    """Build the ONNX model of a trained ``network`` with its standardisation.

    Parameters
    ----------
    network : cnnconv.nn.model.Network
        As :func:`cnnconv.io.model.load_model` returns it (or freshly built).
    mean, std : sequence of float
        Per channel, the standardisation the network was trained with (the model file's).
    class_names : sequence of str, optional
        Stored in the metadata (``class_names``, JSON); default ``"0"``, ``"1"``, ...
    input_type : {"uint8", "float"}
        ``uint8``: raw 0..255 samples; ``float``: float32 in [0, 1].
    channels : {"gray", "rgb"}, optional
        Stored in the metadata; by default from the channel count.
    doc : str
        The graph's doc string.

    Returns
    -------
    onnx.ModelProto
        Input ``image`` ``(N, H, W, C)``; outputs ``logits`` and ``probabilities`` ``(N, classes)``;
        checked by ``onnx.checker``.

    Raises
    ------
    MissingExtraError
        Without the ``onnx`` package.
    CnnconvError
        For a layer kind without an export, a bad ``input_type``, mean/std of the wrong length,
        or a model of 2 GiB or more (protobuf's limit).

    Shape
    -----
    ``image (N, H, W, C) -> logits, probabilities (N, num_classes)``, N free.
    """
    onnx = require_onnx()
    if input_type not in INPUT_TYPES:
        raise CnnconvError(f"input_type must be one of {', '.join(INPUT_TYPES)}, got {input_type!r}")
    h, w, c = (int(v) for v in network.input_shape)
    mean = np.asarray(mean, dtype=np.float32).ravel()
    std = np.asarray(std, dtype=np.float32).ravel()
    if mean.size != c or std.size != c:
        raise CnnconvError(f"mean and std need {c} value(s) each (one per channel), got {mean.size} and {std.size}")
    classes = [str(n) for n in class_names] if class_names is not None else [str(k) for k in range(network.num_classes)]
    if len(classes) != network.num_classes:
        raise CnnconvError(f"{len(classes)} class names for a network with {network.num_classes} outputs")
    g = _Graph(onnx)
    x = "image"
    if input_type == "uint8":  # as cnnconv reads a picture: samples / 255 in float32
        x = g.op("Mul", [g.op("Cast", [x], "as_float", to=onnx.TensorProto.FLOAT), g.const("one_255th", 1.0 / 255.0)],
                 "scaled")
    # (x - mean) / std per channel, in float32 as cnnconv.io.dataset.standardise computes it
    x = g.op("Div", [g.op("Sub", [x, g.const("mean", mean)], "centred"), g.const("std", std)], "standardised")
    values = {0: (g.op("Transpose", [x], "to_nchw", perm=[0, 3, 1, 2]), True)}
    modules = list(network.modules)
    count = len(modules) - (1 if _folds_softmax(network) else 0)
    inputs = _inputs_of(network)
    for k in range(count):
        ins = [values[j] for j in inputs[k]]
        values[k + 1] = _layer(g, k + 1, modules[k], [v for v, _ in ins], [m for _, m in ins])
    out, is_map = values[count]
    if is_map:
        raise CnnconvError("the network ends in feature maps, not class scores: only classifiers are exported")
    g.nodes.append(g.helper.make_node("Identity", [out], ["logits"], name="logits"))
    g.nodes.append(g.helper.make_node("Softmax", ["logits"], ["probabilities"], name="probabilities", axis=1))
    elem = onnx.TensorProto.UINT8 if input_type == "uint8" else onnx.TensorProto.FLOAT
    graph = g.helper.make_graph(
        g.nodes, "cnnconv", [g.helper.make_tensor_value_info("image", elem, ["N", h, w, c])],
        [g.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, ["N", network.num_classes])
         for name in ("logits", "probabilities")],
        initializer=g.inits, doc_string=doc)
    from cnnconv import __version__

    model = g.helper.make_model(graph, opset_imports=[g.helper.make_opsetid("", OPSET)], producer_name="cnnconv",
                                producer_version=__version__, ir_version=IR_VERSION)
    model.doc_string = (f"cnnconv network {network.spec}: input 'image' {h}x{w}x{c} channels last (NHWC), "
                        + ("uint8 samples 0..255" if input_type == "uint8" else "float32 in [0, 1]")
                        + ", resized to the model's size by the caller; outputs 'logits' and 'probabilities'")
    meta = {"class_names": json.dumps(classes), "input_layout": "NHWC", "input_size": f"{h}x{w}",
            "channels": channels or ("gray" if c == 1 else "rgb" if c == 3 else str(c)),
            "input_type": input_type, "spec": network.spec, "mean": json.dumps(mean.tolist()),
            "std": json.dumps(std.tolist())}
    onnx.helper.set_model_props(model, meta)
    size = model.ByteSize()
    if size > MAX_ONNX_BYTES:
        raise CnnconvError(f"the ONNX model would be {size} bytes, over protobuf's limit of 2 GiB")
    onnx.checker.check_model(model)
    return model


def export_model(model_path: str | Path, output: str | Path, *, input_type: str = "uint8") -> ExportSummary:
    """Read a cnnconv model file and write its ONNX model to ``output`` (atomically).

    The model file is checked as ``cnnconv predict`` checks it (:func:`cnnconv.io.model.load_model`);
    ``output`` must not be the model file itself.

    Raises
    ------
    MissingExtraError
        Without the ``onnx`` package (checked before the model is read).
    CnnconvError
        For an invalid model file, an output that is the input, a layer without an export.
    """
    require_onnx()
    from cnnconv.io.atomic import refuse_overwriting_inputs, write_atomic
    from cnnconv.io.model import load_model

    refuse_overwriting_inputs(output, [model_path])
    network, meta = load_model(model_path)
    model = network_to_onnx(network, mean=meta["mean"], std=meta["std"], class_names=meta["class_names"],
                            input_type=input_type, channels=meta.get("channels"),
                            doc=f"exported by cnnconv from {Path(model_path).name}")
    data = model.SerializeToString()
    write_atomic(output, lambda f: f.write(data))
    h, w, c = network.input_shape
    return ExportSummary(path=str(output), input_name="image", input_type=input_type, input_shape=("N", h, w, c),
                         outputs=("logits", "probabilities"), classes=tuple(meta["class_names"]), opset=OPSET,
                         nodes=len(model.graph.node), bytes=len(data))
