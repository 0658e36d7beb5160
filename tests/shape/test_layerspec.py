"""The layer grammar: every layer kind and option, repeats, limits and the error messages."""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from cnnconv.errors import CnnconvError
from cnnconv.shape.grammar import MAX_LAYERS, Layer, LayerSpecError, parse_input_shape, parse_layers


def one(spec: str) -> Layer:
    (layer,) = parse_layers(spec)
    return layer


def test_course_example_parses_to_seven_layers():
    kinds = [l.kind for l in parse_layers("conv5x8,pool2,conv5x16,pool2,fc120,fc84,fc10")]
    assert kinds == ["conv", "maxpool", "conv", "maxpool", "fc", "fc", "fc"]


def test_conv_defaults_and_options():
    assert one("conv5x8") == Layer("conv", out=8, kernel=(5, 5), text="conv5x8", pos=0)
    layer = one("conv3x16:s2:p1:d2:g4")
    assert (layer.stride, layer.padding, layer.dilation, layer.groups) == ((2, 2), (1, 1), (2, 2), 4)
    assert one("conv3x16:s2x1:p0x2:d1x3").stride == (2, 1)
    assert one("conv3x16:s2x1:p0x2:d1x3").padding == (0, 2)
    assert one("conv3x16:s2x1:p0x2:d1x3").dilation == (1, 3)
    assert one("conv3x32:dw").groups == 0


def test_padding_modes_resolve_valid_and_full_at_parse_time():
    assert one("conv3x8:same").padding == "same"
    assert one("conv3x8:valid").padding == (0, 0)
    assert one("conv3x8:full").padding == (2, 2)
    assert one("conv3x8:d2:full").padding == (4, 4)  # the option order does not matter
    assert one("conv3x8:k3x5:full").padding == (2, 4)


def test_non_square_kernel_keeps_its_height_in_the_name():
    assert one("conv3x16:k3x5").kernel == (3, 5)
    assert one("pool2:k2x3").kernel == (2, 3)
    assert one("pool2:k2x3").stride == (2, 3)  # pooling stride defaults to the window
    with pytest.raises(LayerSpecError, match=r"write conv3x16:k3x5"):
        parse_layers("conv5x16:k3x5")


def test_pooling_kinds():
    assert one("pool2") == one("maxpool2").__class__(**{**one("maxpool2").__dict__, "text": "pool2"})
    layer = one("avgpool3:s2:p1:ceil")
    assert (layer.kind, layer.op, layer.kernel, layer.stride, layer.padding, layer.ceil_mode) == (
        "avgpool", "avg", (3, 3), (2, 2), (1, 1), True)
    assert (one("gap").op, one("gmp").op) == ("avg", "max")


def test_tconv_options():
    layer = one("tconv4x8:s2:p1:op1:d1")
    assert (layer.kind, layer.out, layer.kernel, layer.stride, layer.padding, layer.output_padding) == (
        "tconv", 8, (4, 4), (2, 2), (1, 1), (1, 1))


def test_fc_dense_and_shape_preserving_layers():
    assert one("dense10") == Layer("fc", out=10, text="dense10")
    for name in ("flatten", "relu", "sigmoid", "tanh", "softplus", "abs", "softmax", "bn"):
        assert one(name).kind == name
    assert one("lcn").kernel == (9, 9)
    assert one("lcn5").kernel == (5, 5)


@pytest.mark.parametrize("spec, rate", [("dropout", 0.5), ("dropout0.3", 0.3), ("dropout:0.3", 0.3),
                                        ("dropout:p0.25", 0.25), ("dropout.1", 0.1), ("dropout0", 0.0)])
def test_dropout_rate_spellings(spec, rate):
    assert one(spec).rate == rate


def test_case_and_spaces_are_tolerated_and_text_is_kept():
    layers = parse_layers(" Conv5x8:S2 , RELU ")
    assert [l.kind for l in layers] == ["conv", "relu"]
    assert layers[0].text == "Conv5x8:S2" and layers[0].pos == 1
    assert layers[1].pos == 14


def test_repeats_of_layers_and_nested_groups():
    texts = [l.text for l in parse_layers("(conv3x64:p1,relu)*2,pool2")]
    assert texts == ["conv3x64:p1", "relu", "conv3x64:p1", "relu", "pool2"]
    assert len(parse_layers("relu*3")) == 3
    assert len(parse_layers("((conv3x8, relu) * 2, pool2) * 3")) == 15
    assert len(parse_layers("(relu)")) == 1
    # repeated layers keep the position of the text they came from (for carets)
    assert {l.pos for l in parse_layers("pool2,(conv3x8)*3")} == {0, 7}


def test_repeat_limit_refuses_before_expanding():
    assert len(parse_layers(f"relu*{MAX_LAYERS}")) == MAX_LAYERS
    for spec in ("relu*1000000", "(relu,relu)*5001", "((relu)*1000)*1000", "relu*99999999999999999999"):
        with pytest.raises(LayerSpecError):
            parse_layers(spec)


def test_deep_nesting_is_refused_not_a_recursion_error():
    with pytest.raises(LayerSpecError, match="nested"):
        parse_layers("(" * 5000 + "relu" + ")" * 5000)


def test_absurd_sizes_are_arithmetic_only():
    layer = one("conv1000000000x1000000000:s1000000000")
    assert layer.kernel == (10**9, 10**9) and layer.out == 10**9


def test_error_carries_position_and_length_of_the_token():
    with pytest.raises(LayerSpecError) as info:
        parse_layers("conv5x8, relu, conv5x:s2")
    exc = info.value
    assert str(exc) == "layer spec: conv5x:s2 (at 15): expected a filter count after 'conv5x' (e.g. conv5x16)"
    assert (exc.pos, exc.length, exc.token) == (15, 9, "conv5x:s2")
    assert isinstance(exc, CnnconvError)


MALFORMED = [
    # (spec, the token the message must name, a fragment of the reason)
    ("conv5x:s2", "conv5x:s2 (at 0)", "expected a filter count after 'conv5x'"),
    ("conv", "conv (at 0)", "expected a kernel size"),
    ("conv5", "conv5 (at 0)", "expected 'x' and a filter count"),
    ("convx8", "convx8", "expected a kernel size"),
    ("conv0x8", "conv0x8", "kernel size must be >= 1, got 0"),
    ("conv3x0", "conv3x0", "filter count must be >= 1"),
    ("conv-3x8", "conv-3x8", "expected a kernel size"),
    ("conv3x5x16", "conv3x5x16", "a non-square kernel is written conv3x16:k3x5 (3×5 kernel, 16 filters)"),
    ("conv3x8x", "conv3x8x", "expected a filter count"),
    ("conv3x99999999999", "conv3x99999999999", "too large"),
    ("conv3x8:s0", "conv3x8:s0", "stride must be >= 1, got 0"),
    ("conv3x8:s", "conv3x8:s", "expected :sN or :sHxW"),
    ("conv3x8:s2x", "conv3x8:s2x", "expected :sN or :sHxW"),
    ("conv3x8:p-1", "conv3x8:p-1", "expected :pN"),
    ("conv3x8:d0", "conv3x8:d0", "dilation must be >= 1"),
    ("conv3x8:g0", "conv3x8:g0", "groups must be >= 1"),
    ("conv3x8:gx", "conv3x8:gx", "expected a group count"),
    ("conv3x8:dw2", "conv3x8:dw2", "takes no value"),
    ("conv3x8:same2", "conv3x8:same2", "takes no value"),
    ("conv3x8:same:p1", "conv3x8:same:p1", "sets padding a second time"),
    ("conv3x8:s1:s2", "conv3x8:s1:s2", "sets stride a second time"),
    ("conv3x8:g2:dw", "conv3x8:g2:dw", "sets groups a second time"),
    ("conv3x8:", "conv3x8: (at 0)", "empty option"),
    ("conv3x8:op1", "conv3x8:op1", "unknown option ':op1' for conv"),
    ("conv3x8:ceil", "conv3x8:ceil", "unknown option ':ceil' for conv"),
    ("conv3x8:k3x", "conv3x8:k3x", "expected :kN or :kHxW"),
    ("tconv2x8:same", "tconv2x8:same", "unknown option ':same' for tconv"),
    ("tconv2x", "tconv2x", "expected a filter count after 'tconv2x'"),
    ("pool", "pool (at 0)", "expected a window size after 'pool'"),
    ("pool0", "pool0", "window size must be >= 1"),
    ("pool2x2", "pool2x2", "unexpected 'x2' after 'pool2'"),
    ("pool2:d2", "pool2:d2", "unknown option ':d2' for maxpool"),
    ("avgpool2:ceil:ceil", "avgpool2:ceil:ceil", "a second time"),
    ("fc", "fc (at 0)", "expected a unit count"),
    ("fc0", "fc0", "unit count must be >= 1"),
    ("fc10:s2", "fc10:s2", "fc takes only :nobias"),
    ("dense", "dense (at 0)", "expected a unit count"),
    ("relu7", "relu7", "'relu' takes no size"),
    ("relu:s2", "relu:s2", "relu takes no options"),
    ("gap2", "gap2", "takes no size"),
    ("lcn4", "lcn4", "must be odd"),
    ("lcnx", "lcnx", "expected a window size after 'lcn'"),
    ("dropout1.5", "dropout1.5", "must be in [0, 1)"),
    ("dropout1", "dropout1", "must be in [0, 1)"),
    ("dropoutx", "dropoutx", "must be a number"),
    ("dropout0.2:0.3", "dropout0.2:0.3", "given twice"),
    ("dropout:nan", "dropout:nan", "must be a number"),
    ("convolution3x3", "convolution3x3", "expected a kernel size"),
    ("cnv3x8", "cnv3x8 (at 0)", "did you mean 'conv'"),
    ("maxpol2", "maxpol2", "unknown layer"),
    ("relu,,relu", "'' (at 5)", "empty layer"),
    ("relu,", "'' (at 5)", "empty layer"),
    ("", "''", "the layer spec is empty"),
    ("   ", "''", "the layer spec is empty"),
    ("(relu", "( (at 0)", "never closed"),
    ("relu)", ") (at 4)", "without a matching '('"),
    ("relu (relu)", "( (at 5)", "expected ',' before '('"),
    ("relu*", "relu* (at 0)", "expected a repeat count"),
    ("relu*0", "relu*0", "repeat count must be >= 1"),
    ("relu*x", "relu*", "expected a repeat count"),
    ("()", "'' (at 1)", "empty layer"),
    ("relu*2*3", "* (at 6)", "a second repeat needs brackets"),
]


@pytest.mark.parametrize("spec, token, reason", MALFORMED, ids=[m[0] or "empty" for m in MALFORMED])
def test_every_malformed_token_names_itself(spec, token, reason):
    with pytest.raises(LayerSpecError) as info:
        parse_layers(spec)
    message = str(info.value)
    assert message.startswith(f"layer spec: {token}") or f"layer spec: {token}" in message, message
    assert reason in message
    assert "\n" not in message


@given(st.text(max_size=60))
def test_fuzz_random_text_gives_layers_or_our_error(spec):
    try:
        layers = parse_layers(spec)
    except CnnconvError as exc:
        assert str(exc).startswith("layer spec: ")
    else:
        assert layers and all(isinstance(l, Layer) for l in layers)


_ALPHABET = st.sampled_from(list("convtpldefcxsgkdw0123456789:,()*. ") + ["conv", "pool", "relu", "fc", "x", "same"])


@given(st.lists(_ALPHABET, max_size=25).map("".join))
def test_fuzz_grammar_like_text_gives_layers_or_our_error(spec):
    try:
        parse_layers(spec)
    except LayerSpecError as exc:
        assert 0 <= exc.pos <= len(spec) and exc.length >= 1


def test_non_text_spec_is_refused():
    with pytest.raises(CnnconvError, match="must be text"):
        parse_layers(None)


@pytest.mark.parametrize("text, shape", [("32x32x3", (32, 32, 3)), ("28x28", (28, 28, 1)), ("784", (784,)),
                                         (" 5 X 6 x 2 ", (5, 6, 2)), ("4×4×3", (4, 4, 3)), ("7,7,1", (7, 7, 1))])
def test_input_shape_spellings(text, shape):
    assert parse_input_shape(text) == shape


@pytest.mark.parametrize("text", ["", "0x4", "4x4x0", "a", "4x4x3x2", "-4x4", "4x", "99999999999x2", "1e3"])
def test_bad_input_shapes(text):
    with pytest.raises(CnnconvError, match="input shape"):
        parse_input_shape(text)


@given(st.text(max_size=30))
def test_fuzz_input_shape_gives_a_shape_or_our_error(text):
    try:
        shape = parse_input_shape(text)
    except CnnconvError as exc:
        assert "input shape" in str(exc)
    else:
        assert 1 <= len(shape) <= 3 and all(isinstance(d, int) and d >= 1 for d in shape)
