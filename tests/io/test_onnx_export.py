"""ONNX export: every layer kind, run in onnxruntime, gives what cnnconv's own forward gives.

Each network is built with random weights (far from their initial values, so a transposed
weight or a flattening order that is wrong cannot pass), exported with a standardisation, and
run on raw uint8 images in onnxruntime; cnnconv's side is ``predict_proba`` on the images as
``cnnconv predict`` prepares them (``/ 255``, then ``(x - mean) / std``).
"""

from __future__ import annotations

import numpy as np
import onnx  # the test extra has onnx and onnxruntime
import onnxruntime as ort
import pytest

from cnnconv.errors import CnnconvError
from cnnconv.io.dataset import standardise
from cnnconv.io.onnx_export import network_to_onnx
from cnnconv.nn.model import build_network, predict_proba
from cnnconv.shape.layer import Layer

MEAN, STD = [0.45, 0.5, 0.55], [0.2, 0.25, 0.3]


def _randomise(net, seed=0):
    rng = np.random.default_rng(seed)
    for _, value in net.parameters():
        value[...] = rng.normal(0.0, 0.4, value.shape)
    return net


def _images(shape, n=6, seed=1):
    return np.random.default_rng(seed).integers(0, 256, size=(n, *shape), dtype=np.uint8)


def _cnnconv_side(net, images, mean=MEAN, std=STD):
    c = net.input_shape[2]
    x = standardise(images.astype(np.float32) * np.float32(1.0 / 255.0), mean[:c], std[:c])
    return net.forward(x), predict_proba(net, x)


def _onnx_side(model, images):
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(["logits", "probabilities"], {"image": images})


CHAIN_SPECS = [  # every layer kind of a chain, and the geometry options that change padding and size
    "conv3x4:p1,relu,pool2,fc5,relu",                       # conv with bias, max pool, fc after a map
    "conv3x6:same:s2,tanh,conv3x6:g2:d2:p2,sigmoid,gmp",    # asymmetric same padding, groups, dilation
    "conv3x3:dw,softplus,abs,flatten,fc7,dropout,softmax",  # depthwise, flatten order, a softmax mid-way
    "avgpool3:s2:p1:ceil,maxpool2:s2:ceil,conv1x4,gap",     # ceil-mode overhangs, avg over input pixels only
    "conv2x5:s2:full,maxpool3:s2:p1,avgpool2:s1:p1,gap",    # full padding, pools with padding
    "lcn5,conv3x4,lcn,fc3,softmax",                          # lcn from primitives; a folded final softmax
    "conv3x4:k3x5:s1x2:p1x2,relu,flatten,softmax,fc3",     # non-square kernel, stride and padding
]


@pytest.mark.parametrize("spec", CHAIN_SPECS)
def test_every_chain_layer_kind_matches_cnnconv(spec):
    net = _randomise(build_network(spec, (13, 11, 3), 3, seed=2))
    images = _images((13, 11, 3))
    logits, probs = _cnnconv_side(net, images)
    got_logits, got_probs = _onnx_side(network_to_onnx(net, mean=MEAN, std=STD), images)
    scale = max(1.0, float(np.abs(logits).max()))
    assert np.abs(got_logits - logits).max() <= 1e-5 * scale
    assert np.abs(got_probs - probs).max() <= 1e-5
    assert (got_probs.argmax(axis=1) == probs.argmax(axis=1)).all()


GRAPH_SPECS = [  # the graph layers: merges, crops, upsampling, batch norm, bias-free and transposed layers
    "conv3x4:p1:nobias,bn,relu6,add(conv3x4:p1,bn|),cat(|conv1x2:nobias),gap,bn,fc3:nobias",
    "conv3x4,@a,pool2,conv3x4:p1,up2,cat(@a|),conv3x3,@b,conv3x3:p1:s2,up2:bilinear,add(@b|),fc3",  # crops 11 -> 10
    "conv3x4,@a,maxpool3:s2:same,conv3x4:p1,tconv3x4:s2:p1,add(@a|),avgpool2:s3:same,tconv3x2:g2:s2:d2,flatten,bn,fc3",
    "up2:bilinear,tconv3x5:s2:p1:op1:nobias,conv1x10:dw,cat(conv1x2|pool3:s1:p1|),gmp,fc3",
]


def _randomise_buffers(net, seed=3):
    """Running statistics far from their initial 0 and 1, so a batch norm exported wrong shows."""
    rng = np.random.default_rng(seed)
    for module in net.modules:
        for key, value in getattr(module, "buffers", {}).items():
            value[...] = rng.uniform(0.5, 2.0, value.shape) if "var" in key else rng.normal(0.0, 0.5, value.shape)
    return net


@pytest.mark.parametrize("spec", GRAPH_SPECS)
def test_every_graph_layer_kind_matches_cnnconv(spec):
    net = _randomise_buffers(_randomise(build_network(spec, (13, 13, 3), 3, seed=2)))
    images = _images((13, 13, 3))
    logits, probs = _cnnconv_side(net, images)
    got_logits, got_probs = _onnx_side(network_to_onnx(net, mean=MEAN, std=STD), images)
    assert np.abs(got_logits - logits).max() <= 1e-5 * max(1.0, float(np.abs(logits).max()))
    assert np.abs(got_probs - probs).max() <= 1e-5
    assert (got_probs.argmax(axis=1) == probs.argmax(axis=1)).all()


def test_the_exported_kinds_cover_every_kind_training_builds():
    from cnnconv.io.onnx_export import EXPORTABLE_KINDS
    from cnnconv.nn.layers import TRAINABLE_KINDS

    assert set(TRAINABLE_KINDS) <= set(EXPORTABLE_KINDS)
    tested = set()
    for spec in CHAIN_SPECS + GRAPH_SPECS:
        tested |= {m.spec.kind for m in build_network(spec, (13, 13, 3), 3).modules}
    assert set(TRAINABLE_KINDS) <= tested


def test_a_zoo_network_with_trained_batch_statistics():
    """resnet20 after a few training steps (running statistics updated by training), at inference."""
    net = _randomise(build_network("resnet20", (32, 32, 3), 3, seed=0), seed=5)
    x = np.random.default_rng(4).normal(size=(8, 32, 32, 3)).astype(np.float32)
    for _ in range(3):
        net.forward(x, training=True, rng=np.random.default_rng(0))
    images = _images((32, 32, 3), n=4)
    logits, probs = _cnnconv_side(net, images)
    model = network_to_onnx(net, mean=MEAN, std=STD)
    got_logits, got_probs = _onnx_side(model, images)
    assert np.abs(got_logits - logits).max() <= 1e-5 * max(1.0, float(np.abs(logits).max()))
    assert np.abs(got_probs - probs).max() <= 1e-5
    assert sum(n.op_type == "Sum" for n in model.graph.node) == 9  # its nine residual adds


def test_a_wrong_weight_layout_would_be_caught():
    """The comparison can fail: the same network with one conv weight changed differs."""
    net = _randomise(build_network("conv3x4:p1,relu,fc3", (8, 8, 1), 3))
    images = _images((8, 8, 1))
    model = network_to_onnx(net, mean=[0.5], std=[0.25])
    weight = dict(net.parameters())["0.conv.weight"]
    weight[...] = weight.transpose(1, 0, 2, 3)  # kh and kw swapped: what a wrong transpose would do
    _, probs = _cnnconv_side(net, images, [0.5], [0.25])
    assert np.abs(_onnx_side(model, images)[1] - probs).max() > 1e-3


def test_float_input_and_gray_models():
    net = _randomise(build_network("conv3x4,relu,pool2,fc3", (9, 9, 1), 3))
    images = _images((9, 9, 1))
    floats = images.astype(np.float32) * np.float32(1.0 / 255.0)
    model = network_to_onnx(net, mean=[0.3], std=[0.2], input_type="float", class_names=["a", "b", "c"])
    _, probs = _cnnconv_side(net, images, [0.3], [0.2])
    assert np.abs(_onnx_side(model, floats)[1] - probs).max() <= 1e-5
    inputs = model.graph.input[0].type.tensor_type
    assert inputs.elem_type == onnx.TensorProto.FLOAT
    assert [d.dim_param or d.dim_value for d in inputs.shape.dim] == ["N", 9, 9, 1]


def test_metadata_names_the_classes_and_the_layout():
    import json

    net = build_network("conv3x4,gap", (6, 6, 3), 2)
    model = network_to_onnx(net, mean=MEAN, std=STD, class_names=["cat", "dog"])
    props = {p.key: p.value for p in model.metadata_props}
    assert json.loads(props["class_names"]) == ["cat", "dog"]
    assert props["input_layout"] == "NHWC" and props["input_size"] == "6x6" and props["channels"] == "rgb"
    assert props["spec"] == net.spec and json.loads(props["std"]) == pytest.approx(STD)
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.UINT8
    assert [o.name for o in model.graph.output] == ["logits", "probabilities"]


def test_a_batch_of_any_size_runs():
    net = _randomise(build_network("conv3x2,relu,fc2", (5, 5, 3), 2))
    session = ort.InferenceSession(network_to_onnx(net, mean=MEAN, std=STD).SerializeToString())
    for n in (1, 17):
        assert session.run(["probabilities"], {"image": _images((5, 5, 3), n=n)})[0].shape == (n, 2)


def test_a_layer_without_an_export_is_refused_naming_it():
    net = build_network("conv3x2,relu,fc2", (5, 5, 1), 2)
    net.modules[1].spec = Layer("mystery", text="mystery3")
    with pytest.raises(CnnconvError, match=r"layer 2 'mystery3': a 'mystery' layer has no ONNX export"):
        network_to_onnx(net, mean=[0.5], std=[0.5])


def test_bad_arguments_are_refused():
    net = build_network("conv3x2,fc2", (5, 5, 3), 2)
    with pytest.raises(CnnconvError, match="one per channel"):
        network_to_onnx(net, mean=[0.5], std=[0.5])
    with pytest.raises(CnnconvError, match="input_type must be one of uint8, float"):
        network_to_onnx(net, mean=MEAN, std=STD, input_type="uint16")
    with pytest.raises(CnnconvError, match="3 class names for a network with 2 outputs"):
        network_to_onnx(net, mean=MEAN, std=STD, class_names=["a", "b", "c"])
