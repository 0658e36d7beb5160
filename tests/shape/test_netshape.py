"""Per-layer network analysis: the course example (seed 003), AlexNet, VGG16, warnings, errors,
and a property test against the shapes the core's operations really produce."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import example, given, strategies as st

from cnnconv.conv import correlate, correlate_transpose
from cnnconv.errors import CnnconvError
from cnnconv.shape.grammar import LayerSpecError, parse_layers
from cnnconv.shape.summary import summarize_network
from cnnconv.pooling import pool

COURSE = "conv5x8,pool2,conv5x16,pool2,fc120,fc84,fc10"
# torchvision's AlexNet (the 64/192-filter variant whose 61,100,840 parameters are the published count)
ALEXNET = ("conv11x64:s4:p2,relu,pool3:s2,conv5x192:p2,relu,pool3:s2,conv3x384:p1,relu,"
           "conv3x256:p1,relu,conv3x256:p1,relu,pool3:s2,dropout,fc4096,relu,dropout,fc4096,relu,fc1000")
VGG16 = ("(conv3x64:p1,relu)*2,pool2,(conv3x128:p1,relu)*2,pool2,(conv3x256:p1,relu)*3,pool2,"
         "(conv3x512:p1,relu)*3,pool2,(conv3x512:p1,relu)*3,pool2,fc4096,relu,dropout,fc4096,relu,dropout,fc1000")


def test_course_example_of_seed_003():
    net = summarize_network((32, 32, 3), COURSE)
    assert [r.output for r in net.rows] == [(28, 28, 8), (14, 14, 8), (10, 10, 16), (5, 5, 16),
                                             (1, 1, 120), (1, 1, 84), (1, 1, 10)]
    assert [r.activations for r in net.rows] == [6272, 1568, 1600, 400, 120, 84, 10]  # seed's "activation size"
    params = [r.params for r in net.rows if r.params]
    assert params == [608, 3216, 48120, 10164, 850]
    # the seed's table (208/416/48,001/10,081/841) shares each filter's weights over the input
    # channels and gives an fc layer one bias; course_params reproduces it
    assert [r.course_params for r in net.rows if r.params] == [208, 416, 48001, 10081, 841]
    t = net.totals()
    assert (t["params"], t["macs"], t["rf"], t["jump"]) == (62958, 849320, (16, 16), (4, 4))
    assert (t["weights"], t["biases"]) == (62720, 238)
    assert [r.macs for r in net.rows] == [470400, 0, 320000, 0, 48000, 10080, 840]
    assert [r.rf[0] for r in net.rows[:4]] == [5, 6, 14, 16]
    assert net.rows[4].rf_global and net.rows[4].notes == ("flattens 5×5×16 → 400 first",)
    assert t["activation_bytes"] == 4 * 10054


def test_alexnet_published_parameters_and_receptive_field():
    t = summarize_network((224, 224, 3), ALEXNET).totals()
    assert t["params"] == 61_100_840
    assert (t["rf"], t["jump"]) == ((195, 195), (32, 32))


def test_vgg16_published_parameters_and_receptive_field():
    net = summarize_network((224, 224, 3), VGG16)
    t = net.totals()
    assert t["params"] == 138_357_544
    assert (t["rf"], t["jump"]) == ((212, 212), (32, 32))
    assert net.rows[t["rf_layer"] - 1].text == "pool2"
    assert t["macs"] == 15_470_264_320  # the well-known ~15.5 GMACs


def test_alexnet_conv1_unread_column_on_224_not_on_227():
    (row,) = summarize_network((224, 224, 3), "conv11x96:s4").rows
    assert row.output == (54, 54, 96)
    assert row.warnings == ("last 1 row and column of 224 never read (224 + 0 − 10 − 1 = 213 is not "
                            "divisible by stride 4)",)
    assert summarize_network((227, 227, 3), "conv11x96:s4").rows[0].warnings == ()
    # torchvision pads by 2: what goes unread is a padding column, which is only a note
    (padded,) = summarize_network((224, 224, 3), "conv11x64:s4:p2").rows
    assert padded.warnings == () and padded.notes == ("last 1 padding row and column unused",)


def test_same_padding_reports_the_actual_asymmetric_padding():
    (row,) = summarize_network((224, 224, 3), "conv7x64:s2:same").rows
    assert row.output == (112, 112, 64) and row.padding == (2, 3, 2, 3)
    assert "smaller half first" in row.notes[0]
    assert row.start == (-2, -2)


def test_grouped_depthwise_transposed_and_bn_counts():
    rows = summarize_network((8, 8, 4), "conv3x8:g2:p1,conv3x16:dw:p1,tconv3x8:g2:s2,bn").rows
    assert (rows[0].weights, rows[0].biases) == (3 * 3 * 2 * 8, 8)
    assert (rows[1].weights, rows[1].output) == (3 * 3 * 1 * 16, (8, 8, 16))
    # torch's ConvTranspose2d weight is (C_in, C_out/groups, kh, kw): 16·(8/2)·3·3 + 8
    assert (rows[2].weights, rows[2].biases, rows[2].output) == (16 * 4 * 9, 8, (17, 17, 8))
    assert rows[2].macs == 8 * 8 * 3 * 3 * 16 * 4  # input pixels · kh·kw·C_in·C_out/g
    assert (rows[3].weights, rows[3].biases, rows[3].buffers) == (8, 8, 16)


def test_warnings_no_other_tool_gives():
    rows = summarize_network((32, 32, 3), "pool2:s3,conv3x4:d2,tconv3x4:s2,tconv4x4:s2").rows
    assert any("stride 3 > kernel 2" in w for w in rows[0].warnings)
    assert any("holes" in w for w in rows[1].warnings)
    assert any("checkerboard" in w for w in rows[2].warnings)
    assert not any("checkerboard" in w for w in rows[3].warnings)
    assert rows[2].rf_bound and rows[3].rf_bound


def test_ceil_mode_is_noted():
    (row,) = summarize_network((5, 5, 1), "pool2:ceil").rows
    assert row.output == (3, 3, 1) and "ceil mode" in row.notes[0]


@pytest.mark.parametrize("shape, spec, fragment", [
    ((5, 5, 1), "conv3x1,conv3x1,conv3x1", "conv3x1 (at 16): output would be -1×-1 from a 1×1×1 input"),
    ((4, 4, 1), "pool2,pool2,pool2", "pool2 (at 12): output would be 0×0 from a 1×1×1 input"),
    ((8, 8, 1), "fc10,conv3x4", "conv3x4 (at 5): needs an H×W×C input but gets a flat vector of 10"),
    ((8, 8, 3), "conv3x4:g2", "groups 2 must divide both the 3 input channels and the 4 filters"),
    ((8, 8, 3), "conv3x4:dw", "multiple of the 3 input channels, got 4"),
    ((8, 8, 3), "pool3:p2", "pool3:p2 (at 0): pooling padding must be between 0 and kernel_size // 2 = 1"),
    ((8, 8, 3), "tconv3x4:s2:op2", "tconv3x4:s2:op2 (at 0): output_padding must be"),
    ((1, 1, 3), "tconv1x4:p1", "padding 1 crops more than the output"),
    ((784,), "pool2", "flat vector of 784"),
])
def test_errors_name_the_layer_and_what_it_got(shape, spec, fragment):
    with pytest.raises(LayerSpecError) as info:
        summarize_network(shape, spec)
    assert fragment in str(info.value)


def test_absurd_sizes_are_pure_arithmetic():
    t = summarize_network((10**9, 10**9, 3), "conv3x1000000000:s2,gap,fc10").totals()
    assert t["params"] == (27 + 1) * 10**9 + (10**9 + 1) * 10
    with pytest.raises(CnnconvError):
        summarize_network((0, 4, 1), "relu")


def test_flat_input_and_summary_as_plain_json():
    net = summarize_network((784,), "fc100,relu,dropout0.2,fc10,softmax")
    assert net.totals()["params"] == 785 * 100 + 101 * 10 and net.totals()["rf"] is None
    assert net.rows[0].notes == ()  # already flat: nothing to flatten
    data = json.loads(json.dumps(net.as_dict()))
    assert data["totals"]["params"] == 79510 and data["layers"][2]["notes"][0].startswith("zeroes 20%")


def test_layer_list_and_text_give_the_same_summary():
    assert summarize_network((32, 32, 3), parse_layers(COURSE)) == summarize_network((32, 32, 3), COURSE)


# ---- the shapes predicted are the shapes the core's operations produce ---------------------------



@st.composite
def layer_text(draw):
    kind = draw(st.sampled_from(["conv", "pool", "tconv", "relu"]))
    k = draw(st.integers(1, 4))
    kw = draw(st.one_of(st.none(), st.integers(1, 4)))
    size = f":k{k}x{kw}" if kw else ""
    s, d = draw(st.integers(1, 3)), draw(st.integers(1, 2))
    if kind == "conv":
        pad = draw(st.sampled_from(["", ":same", ":valid", ":full", ":p1", ":p2", ":p0x1"]))
        return f"conv{k}x{draw(st.integers(1, 3))}{size}:s{s}:d{d}{pad}"
    if kind == "pool":
        p = draw(st.integers(0, 2))
        ceil = draw(st.sampled_from(["", ":ceil"]))
        stride = draw(st.sampled_from(["", f":s{s}"]))
        return f"{draw(st.sampled_from(['pool', 'avgpool']))}{k}{size}{stride}:p{p}{ceil}"
    if kind == "tconv":
        op = draw(st.integers(0, max(s, d) - 1))
        return f"tconv{k}x{draw(st.integers(1, 3))}{size}:s{s}:d{d}:p{draw(st.integers(0, 2))}:op{op}"
    return "relu"


def run_layer(x, layer):
    if layer.kind == "conv":
        w = np.ones((*layer.kernel, x.shape[2], layer.out))
        if layer.padding == "same":
            return correlate(x, w, mode="same", stride=layer.stride, dilation=layer.dilation)
        return correlate(x, w, padding=layer.padding, stride=layer.stride, dilation=layer.dilation)
    if layer.kind == "tconv":
        w = np.ones((*layer.kernel, layer.out, x.shape[2]))
        return correlate_transpose(x, w, stride=layer.stride, padding=layer.padding,
                                            output_padding=layer.output_padding, dilation=layer.dilation)
    if layer.kind in ("maxpool", "avgpool"):
        return pool(x, layer.kernel, stride=layer.stride, padding=layer.padding, op=layer.op,
                             ceil_mode=layer.ceil_mode)
    return x


@given(st.integers(1, 12), st.integers(1, 12), st.integers(1, 3), st.lists(layer_text(), min_size=1, max_size=3))
@example(1, 1, 1, ["pool4:p2"])  # padding larger than the input: both refuse
@example(5, 4, 2, ["pool3:s2:p1:ceil", "conv3x2:s2:d2:same", "tconv3x2:s2:p1:op1"])
@example(1, 1, 1, ["tconv2x1:k2x3:s2:d2:p2:op1"])
@example(3, 3, 1, ["avgpool4:s2:ceil"])  # one window larger than the input, as PyTorch
def test_predicted_shapes_are_the_shapes_the_core_produces(h, w, c, texts):
    try:
        layers = parse_layers(",".join(texts))
    except LayerSpecError:
        return  # e.g. a pooling window that would need :k with a different height: grammar tests cover it
    failing = None
    try:
        summarize_network((h, w, c), layers)
    except LayerSpecError as exc:  # the layer it names must be the one the core refuses
        failing = next(i for i, l in enumerate(layers) if l.pos == exc.pos)
    predicted = [r.output for r in summarize_network((h, w, c), layers[:failing]).rows]
    x = np.random.default_rng(0).random((h, w, c))
    for i, layer in enumerate(layers):
        if i == failing:
            with pytest.raises(CnnconvError):
                run_layer(x, layer)
            return
        x = run_layer(x, layer)
        assert x.shape == predicted[i], (texts, i)


_PIECES = st.sampled_from(["conv3x4", "conv1x2", "tconv2x3", "pool2", "avgpool3", "gap", "fc5", "flatten",
                           "relu", "bn", "lcn3", "dropout", ":s2", ":p1", ":same", ":full", ":d2", ":g2",
                           ":dw", ":op1", ":ceil", ":k1x3", ",", ",", "*2", "(", ")", "0", "9"])


@given(st.integers(1, 40), st.integers(1, 40), st.integers(1, 6), st.lists(_PIECES, max_size=14).map("".join))
def test_fuzz_any_spec_and_input_give_a_summary_or_our_error(h, w, c, spec):
    try:
        net = summarize_network((h, w, c), spec)
    except CnnconvError as exc:
        assert str(exc).startswith("layer spec: ")
    else:
        assert all(min(r.output) >= 1 for r in net.rows)
        json.dumps(net.as_dict())
