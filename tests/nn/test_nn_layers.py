"""Forward values of cnnconv.nn: seed golden values, loop references, identities; model plumbing."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cnnconv.errors import CnnconvError
from cnnconv.shape.grammar import Layer, parse_layers
from cnnconv.shape.summary import summarize_network
from cnnconv.nn import activations as A
from cnnconv.nn import dense as D, functional as F
from cnnconv.nn import lcn, losses, metrics
from cnnconv.nn.model import build_network, default_spec, predict_proba
from cnnconv.nn.optim import SGD, Adam

# seed 003_def129c27ac6a2b8.txt, "Vertical Edge Detection": 6x6 image, 3x3 filter, 4x4 result
SEED_003_IMAGE = [[3, 0, 1, 2, 7, 4], [1, 5, 8, 9, 3, 1], [2, 7, 2, 5, 1, 3],
                  [0, 1, 3, 1, 7, 8], [4, 2, 1, 6, 2, 8], [2, 4, 5, 2, 3, 9]]
SEED_003_RESULT = [[-5, -4, 0, 8], [-10, -2, 2, 3], [0, -2, -4, -7], [-3, -2, -3, -16]]
VERTICAL = [[1, 0, -1]] * 3


def conv_reference(x, w, b, stride, padding, dilation, groups=1):
    """Seed 002 eq. 10 by loops: Y_i = B_i + sum_j K_ij * Y_j (correlation), per output pixel."""
    (t, bo), (l, r) = padding
    xp = np.pad(x, ((0, 0), (t, bo), (l, r), (0, 0)))
    n, hp, wp, c = xp.shape
    kh, kw, ci, co = w.shape
    ho = (hp - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    wo = (wp - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    y = np.zeros((n, ho, wo, co))
    per = co // groups
    for o in range(co):
        g = o // per
        for i in range(ho):
            for j in range(wo):
                for u in range(kh):
                    for v in range(kw):
                        patch = xp[:, i * stride[0] + u * dilation[0], j * stride[1] + v * dilation[1],
                                   g * ci : (g + 1) * ci]
                        y[:, i, j, o] += patch @ w[u, v, :, o]
        y[..., o] += b[o]
    return y


def test_seed_003_vertical_edge_example():
    x = np.array(SEED_003_IMAGE, np.float32)[None, :, :, None]
    w = np.array(VERTICAL, np.float32)[:, :, None, None]
    y, _ = F.conv2d_forward(x, w, np.zeros(1, np.float32))
    assert y.dtype == np.float32
    assert y[0, :, :, 0].tolist() == SEED_003_RESULT


def test_seed_003_light_to_dark_edge():
    x = np.array([[10, 10, 10, 0, 0, 0]] * 6, float)[None, :, :, None]
    y, _ = F.conv2d_forward(x, np.array(VERTICAL, float)[:, :, None, None], np.zeros(1))
    assert y[0, :, :, 0].tolist() == [[0, 30, 30, 0]] * 4


@given(
    st.integers(1, 3), st.integers(1, 3), st.integers(1, 3), st.integers(1, 2), st.integers(1, 2),
    st.integers(0, 2), st.integers(1, 2), st.integers(1, 2), st.sampled_from([1, 2]), st.integers(0, 10**6),
)
def test_conv2d_matches_the_loop_reference(kh, kw, ci, sh, sw, pad, dil, n, groups, seed):
    rng = np.random.default_rng(seed)
    c_in, c_out = ci * groups, 2 * groups
    h, w = 4 + dil * (kh - 1), 5 + dil * (kw - 1)
    x = rng.normal(size=(n, h, w, c_in))
    wt = rng.normal(size=(kh, kw, ci, c_out))
    b = rng.normal(size=c_out)
    padding = ((pad, pad), (pad, 0))
    y, _ = F.conv2d_grouped_forward(x, wt, b, (sh, sw), padding, (dil, dil), groups)
    np.testing.assert_allclose(y, conv_reference(x, wt, b, (sh, sw), padding, (dil, dil), groups), atol=1e-10)


def conv_input_grad_reference(dy, w, x_shape, stride, padding, dilation):
    """The adjoint of :func:`conv_reference` by loops: each output pixel sends ``dy @ w.T`` back to its taps."""
    (t, bo), (l, r) = padding
    n, h, wd, c_in = x_shape
    kh, kw = w.shape[:2]
    dxp = np.zeros((n, h + t + bo, wd + l + r, c_in))
    for i in range(dy.shape[1]):
        for j in range(dy.shape[2]):
            for u in range(kh):
                for v in range(kw):
                    dxp[:, i * stride[0] + u * dilation[0], j * stride[1] + v * dilation[1], :] += dy[:, i, j] @ w[u, v].T
    return dxp[:, t : t + h, l : l + wd, :]


@given(
    st.integers(1, 3), st.integers(1, 3), st.integers(1, 3), st.integers(1, 2), st.integers(1, 2),
    st.integers(0, 3), st.integers(0, 3), st.integers(1, 2), st.integers(0, 10**6),
)
def test_conv2d_input_gradient_matches_the_loop_reference(kh, kw, c_in, sh, sw, pad_top, pad_left, dil, seed):
    # stride 1 takes the full-correlation path (padding up to dilation*(k - 1) a side), the
    # other strides and larger paddings the tap-major slice adds
    rng = np.random.default_rng(seed)
    h, wd = 3 + dil * (kh - 1), 4 + dil * (kw - 1)
    x = rng.normal(size=(2, h, wd, c_in))
    w = rng.normal(size=(kh, kw, c_in, 3))
    padding = ((pad_top, 1), (pad_left, 0))
    y, cache = F.conv2d_forward(x, w, None, (sh, sw), padding, (dil, dil))
    dy = rng.normal(size=y.shape)
    dx, _, _ = F.conv2d_backward(dy, cache)
    assert dx.shape == x.shape
    np.testing.assert_allclose(dx, conv_input_grad_reference(dy, w, x.shape, (sh, sw), padding, (dil, dil)),
                               atol=1e-10)


def test_conv2d_float32_agrees_with_float64():
    rng = np.random.default_rng(0)
    x, w, b = rng.normal(size=(3, 12, 12, 4)), rng.normal(size=(5, 5, 4, 6)), rng.normal(size=6)
    y64, _ = F.conv2d_forward(x, w, b, (1, 1), ((2, 2), (2, 2)))
    y32, _ = F.conv2d_forward(*(a.astype(np.float32) for a in (x, w, b)), (1, 1), ((2, 2), (2, 2)))
    assert y32.dtype == np.float32
    np.testing.assert_allclose(y32, y64, rtol=1e-4, atol=1e-4)


def test_conv2d_rejects_a_kernel_that_does_not_fit():
    with pytest.raises(CnnconvError, match="does not fit"):
        F.conv2d_forward(np.zeros((1, 3, 3, 1)), np.zeros((5, 5, 1, 1)), np.zeros(1))


def test_dense_is_a_matrix_product_over_hwc_flattening():
    rng = np.random.default_rng(1)
    x, w, b = rng.normal(size=(2, 3, 2, 4)), rng.normal(size=(24, 5)), rng.normal(size=5)
    z, _ = D.dense_forward(x, w, b)
    np.testing.assert_allclose(z, np.array([xi.ravel() @ w + b for xi in x]))


@given(st.floats(-50, 50), st.integers(0, 1000))
def test_softmax_sums_to_one_and_ignores_shifts(shift, seed):
    z = np.random.default_rng(seed).normal(size=(3, 5)) * 10
    p = A.softmax(z)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    np.testing.assert_allclose(A.softmax(z + shift), p, atol=1e-12)


def test_activations_against_their_formulas():
    x = np.linspace(-5, 5, 11)
    np.testing.assert_allclose(A.sigmoid_forward(x)[0], 1 / (1 + np.exp(-x)))
    np.testing.assert_allclose(A.softplus_forward(x)[0], np.log1p(np.exp(x)))
    np.testing.assert_allclose(A.tanh_forward(x)[0], np.tanh(x))
    assert A.abs_forward(x)[0].tolist() == np.abs(x).tolist()
    assert A.relu_forward(x)[0].tolist() == np.maximum(x, 0).tolist()
    big = np.array([-1e4, 1e4], np.float32)
    for kind in ("sigmoid", "softplus", "tanh"):
        y = A.activation(kind)[0](big)[0]
        assert np.isfinite(y).all() and y.dtype == np.float32, kind


def test_lcn_removes_offsets_and_is_scale_invariant_with_kappa_scaled():
    x = np.random.default_rng(2).normal(size=(2, 9, 10, 3))
    y, _ = lcn.lcn_forward(x, size=5, kappa=0.3)
    np.testing.assert_allclose(lcn.lcn_forward(x + 7.5, size=5, kappa=0.3)[0], y, atol=1e-10)
    np.testing.assert_allclose(lcn.lcn_forward(4 * x, size=5, kappa=0.3 * 16)[0], y, atol=1e-10)


def test_lcn_subtracts_the_gaussian_mean_of_seed_002():
    """Eq. 15 of seed 002 at an interior pixel, by hand: x - sum_j G * Y_j / C."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(1, 9, 9, 2))
    g = lcn.gaussian_taps(3)
    kernel = np.outer(g, g)
    v_center = x[0, 4, 4] - (kernel[:, :, None] * x[0, 3:6, 3:6]).sum() / 2
    y, (v, d, _, _) = lcn.lcn_forward(x, size=3, kappa=1.0)
    np.testing.assert_allclose(v[0, 4, 4], v_center)
    window = v[0, 3:6, 3:6]
    np.testing.assert_allclose(d[0, 4, 4], np.sqrt(1.0 + (kernel * (window**2).mean(axis=2)).sum()))
    np.testing.assert_allclose(y[0, 4, 4], v_center / d[0, 4, 4])


def test_dropout_keeps_the_expectation_and_is_seeded():
    x = np.ones((200, 50), np.float32)
    y, mask = D.dropout_forward(x, 0.25, np.random.default_rng(0))
    assert y.dtype == np.float32 and abs(float(y.mean()) - 1.0) < 0.02
    assert np.array_equal(y, D.dropout_forward(x, 0.25, np.random.default_rng(0))[0])
    with pytest.raises(CnnconvError):
        D.dropout_forward(x, 1.0, np.random.default_rng(0))


def test_losses_against_their_definitions():
    """Seed 002: SSE = sum_k (y_k - t_k)^2 (with the 1/2 of H), cross-entropy = -sum_k t_k log y_k."""
    rng = np.random.default_rng(4)
    z, t = rng.normal(size=(4, 3)), np.array([2, 0, 1, 1])
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    onehot = np.eye(3)[t]
    assert losses.sse(z, t)[0] == pytest.approx(0.5 * ((p - onehot) ** 2).sum() / 4)
    assert losses.softmax_cross_entropy(z, t)[0] == pytest.approx(-(onehot * np.log(p)).sum() / 4)
    value, grad = losses.softmax_cross_entropy(np.array([[1e4, -1e4, 0.0]], np.float32), np.array([0]))
    assert value == 0.0 and np.isfinite(grad).all()


def test_metrics():
    y_true, y_pred = [0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 2, 0]
    cm = metrics.confusion_matrix(y_true, y_pred, 4)
    assert cm.tolist() == [[1, 1, 0, 0], [0, 1, 0, 0], [1, 0, 2, 0], [0, 0, 0, 0]]
    p, r = metrics.precision_recall(cm)
    np.testing.assert_allclose(p, [0.5, 0.5, 1.0, 0.0])
    np.testing.assert_allclose(r, [0.5, 1.0, 2 / 3, 0.0])
    assert metrics.accuracy(y_true, y_pred) == pytest.approx(4 / 6)
    with pytest.raises(CnnconvError):
        metrics.confusion_matrix([0, 5], [0, 1], 3)


def test_sgd_nesterov_and_weight_decay_by_hand():
    w, b = np.array([1.0]), np.array([1.0])
    opt = SGD([("l.weight", w), ("l.bias", b)], lr=0.1, momentum=0.5, nesterov=True, weight_decay=0.1)
    opt.step([("l.weight", w), ("l.bias", b)], [np.array([1.0]), np.array([1.0])])
    # weight: g = 1 + 0.1*1 = 1.1, buf = 1.1, step = g + 0.5 buf = 1.65; bias: no decay, 1.5
    assert w[0] == pytest.approx(1 - 0.165) and b[0] == pytest.approx(1 - 0.15)


def test_adam_matches_its_formula_and_state_round_trips():
    w = np.array([0.5, -2.0])
    opt = Adam([("a.weight", w)], lr=0.01)
    m = v = np.zeros(2)
    ref = w.copy()
    for t in range(1, 4):
        g = np.array([0.3, -1.0]) * t
        m, v = 0.9 * m + 0.1 * g, 0.999 * v + 0.001 * g * g
        ref = ref - 0.01 * (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-8)
        opt.step([("a.weight", w)], [g])
    np.testing.assert_allclose(w, ref)
    other = Adam([("a.weight", w.copy())], lr=0.01)
    other.load_state(opt.state())
    assert other.t == 3 and np.array_equal(other.buffers["v"]["a.weight"], opt.buffers["v"]["a.weight"])
    with pytest.raises(CnnconvError):
        other.load_state({"step": np.array(1)})


LENET = "conv5x8:p2,relu,pool2,conv5x16,relu,pool2,fc120,relu,fc84,relu,fc10"


def test_lenet_of_seed_003_shapes_and_parameters():
    net = build_network(parse_layers("conv5x8,pool2,conv5x16,pool2,fc120,fc84,fc10"), (32, 32, 3), 10)
    assert net.activation_shapes() == [(28, 28, 8), (14, 14, 8), (10, 10, 16), (5, 5, 16),
                                       (1, 1, 120), (1, 1, 84), (1, 1, 10)]
    assert net.num_parameters() == 62958  # the standard count beside the course table's
    assert build_network(parse_layers(LENET), (28, 28, 1), 10).num_parameters() == 62558


SPECS = [
    LENET,
    "conv3x4:same,tanh,lcn5,avgpool3:s2:p1,conv3x6:d2:p2,sigmoid,gap",
    "conv3x4:s2:same,abs,pool3:s2:ceil,conv2x4:g2,softplus,gmp,fc7,softmax",
    "lcn,conv3x6:dw,relu,dropout0.2,conv1x4,flatten,fc5,relu",
    "(conv3x4:p1,relu)*2,pool2,conv3x3:full,softmax",
]


@pytest.mark.parametrize("spec", SPECS)
@pytest.mark.parametrize("size", [(9, 11, 1), (16, 16, 3)])
def test_activation_shapes_equal_the_shape_arithmetic_and_the_arrays(spec, size):
    layers = parse_layers(spec)
    classes = 7 if "fc7" in spec else (5 if spec.endswith("fc5,relu") else 10)
    try:
        net = build_network(layers, size, classes)
    except CnnconvError:
        with pytest.raises(CnnconvError):  # then shape must refuse it too
            summarize_network(size, layers)
        return
    predicted = [row.output for row in summarize_network(size, net.layers).rows]
    assert net.activation_shapes() == predicted
    x = np.random.default_rng(0).normal(size=(2, *size)).astype(np.float32)
    for module, shape in zip(net.modules, predicted):
        x = module.forward(x, training=True, rng=np.random.default_rng(0))
        assert x.dtype == np.float32
        assert x.shape[1:] == (shape if len(module.out_shape) == 3 else (shape[2],))


def test_the_class_layer_is_appended_or_checked():
    net = build_network(parse_layers("conv3x4,relu"), (8, 8, 1), 3)
    assert net.spec == "conv3x4,relu,fc3" and net.forward(np.zeros((2, 8, 8))).shape == (2, 3)
    folded = build_network(parse_layers("flatten,fc3,softmax"), (4, 4, 1), 3)
    assert folded.spec == "flatten,fc3,softmax"
    logits = folded.forward(np.ones((1, 4, 4, 1)))
    np.testing.assert_allclose(predict_proba(folded, np.ones((1, 4, 4, 1))), A.softmax(logits), rtol=1e-6)
    with pytest.raises(CnnconvError, match="'fc10' has 10 outputs but there are 3 classes"):
        build_network(parse_layers("flatten,fc10"), (4, 4, 1), 3)


@pytest.mark.parametrize("spec,message", [
    ("conv3x4,tconv3x4", r"layer spec: tconv3x4 \(at 8\): layer 2 upsamples and nothing after it pools or flattens"),
    ("add(conv3x4|),gap", r"layer spec: add \(at 0\): cannot add 12×12×1 \(the input\) and 10×10×4 \(row 1\)"),
    ("conv3x8,pool2,up2,conv1x2", r"layer spec: up2 \(at 14\): layer 3 upsamples and nothing after it pools or flattens"),
    ("conv5x8,pool2,conv5x16", r"layer 3 'conv5x16' shrinks its 4x4 input to 0x0"),
    ("pool4,pool4", r"layer 2 'pool4' shrinks its 3x3 input to 0x0"),
])
def test_unsupported_or_empty_layers_are_named(spec, message):
    with pytest.raises(CnnconvError, match=message):
        build_network(spec, (12, 12, 1), 3)


def test_an_even_lcn_window_built_by_hand_is_refused():
    with pytest.raises(CnnconvError, match="layer 1 'lcn4': the lcn window must be square and odd"):
        build_network([Layer("lcn", kernel=(4, 4), text="lcn4")], (12, 12, 1), 3)


def test_state_round_trip_and_mismatches():
    a = build_network(parse_layers(LENET), (28, 28, 1), 10, seed=1)
    b = build_network(parse_layers(LENET), (28, 28, 1), 10, seed=2)
    x = np.random.default_rng(0).normal(size=(3, 28, 28, 1)).astype(np.float32)
    assert list(a.state())[:2] == ["0.conv.weight", "0.conv.bias"]
    b.load_state(a.state())
    assert np.array_equal(a.forward(x), b.forward(x))
    with pytest.raises(CnnconvError, match="missing"):
        b.load_state({k: v for k, v in a.state().items() if k != "0.conv.bias"})
    bad = a.state()
    bad["0.conv.weight"] = bad["0.conv.weight"][:3]
    with pytest.raises(CnnconvError, match="shape"):
        b.load_state(bad)
    with pytest.raises(CnnconvError, match="takes images of 28x28x1"):
        a.forward(np.zeros((1, 28, 27, 1)))


def test_relu_before_maxpool_runs_swapped_with_identical_results():
    net = build_network(parse_layers(LENET), (28, 28, 1), 10, seed=4)
    assert [m.spec.kind for m in net._run][1:3] == ["maxpool", "relu"]
    x = np.random.default_rng(5).normal(size=(4, 28, 28, 1)).astype(np.float32)
    h = x
    for module in net.modules:  # the spec's own order
        h = module.forward(h)
    assert np.array_equal(net.forward(x), h)


def test_feature_maps_are_the_conv_outputs():
    net = build_network(parse_layers(LENET), (28, 28, 1), 10)
    maps = net.feature_maps(np.zeros((1, 28, 28, 1), np.float32))
    assert [(i, text, m.shape) for i, text, m in maps] == [
        (0, "conv5x8:p2", (1, 28, 28, 8)), (3, "conv5x16", (1, 10, 10, 16))]


@pytest.mark.parametrize("size", [(4, 4, 1), (8, 8, 1), (16, 16, 1), (28, 28, 1), (32, 32, 3), (96, 64, 3), (224, 224, 3)])
def test_default_spec_builds_for_any_reasonable_size(size):
    spec = default_spec(size)
    net = build_network(parse_layers(spec), size, 5)
    assert net.activation_shapes()[-1] == (1, 1, 5)
    assert net.num_parameters() < 2_000_000


_TOKENS = st.one_of(
    st.builds(lambda k, f, opt: f"conv{k}x{f}{opt}", st.integers(1, 4), st.integers(1, 3),
              st.sampled_from(["", ":s2", ":p1", ":same", ":s2:same", ":d2", ":full", ":s2:p1:d2"])),
    st.builds(lambda k, opt: f"pool{k}{opt}", st.integers(2, 3), st.sampled_from(["", ":s1", ":ceil", ":s2:p1"])),
    st.builds(lambda k: f"avgpool{k}:s1", st.integers(1, 3)),
    st.sampled_from(["relu", "tanh", "abs", "lcn3", "dropout0.1", "softmax"]),
)


@given(st.lists(_TOKENS, min_size=1, max_size=5), st.integers(5, 14), st.integers(5, 14), st.integers(1, 2),
       st.sampled_from(["", ",gap", ",gmp", ",flatten", ",fc4,relu"]))
def test_random_stacks_agree_with_cnnconv_shape(tokens, h, w, c, tail):
    spec = ",".join(tokens) + tail
    layers = parse_layers(spec)
    try:
        predicted = [row.output for row in summarize_network((h, w, c), layers).rows]
    except CnnconvError:
        with pytest.raises(CnnconvError):
            build_network(layers, (h, w, c), 3)
        return
    net = build_network(layers, (h, w, c), 3)
    assert net.activation_shapes()[: len(predicted)] == predicted
    x = np.random.default_rng(0).normal(size=(2, h, w, c)).astype(np.float32)
    for module, shape in zip(net.modules, net.activation_shapes()):
        x = module.forward(x)
        assert x.shape[1:] == (shape if len(module.out_shape) == 3 else (shape[2],))
