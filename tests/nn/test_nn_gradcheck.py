"""Finite-difference gradient checks (float64) for every layer of cnnconv.nn and both losses."""

from __future__ import annotations

import numpy as np
import pytest

from cnnconv import pooling as pool
from cnnconv.shape.grammar import Layer
from cnnconv.nn import activations as A
from cnnconv.nn import dense as D, functional as F
from cnnconv.nn import batchnorm as BN, graph_ops as G, lcn, losses
from cnnconv.nn.model import build_network

RNG = np.random.default_rng(1234)


def numeric_grad(f, x, eps=1e-6):
    """Central differences of the scalar ``f()`` with respect to every entry of ``x`` (in place)."""
    g = np.zeros_like(x)
    flat, gflat = x.reshape(-1), g.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        up = f()
        flat[i] = old - eps
        down = f()
        flat[i] = old
        gflat[i] = (up - down) / (2 * eps)
    return g


def rel_error(a, b):
    return float(np.max(np.abs(a - b)) / max(1e-8, np.max(np.abs(a) + np.abs(b))))


def check_layer(forward, backward, x, params=(), tol=1e-6):
    """Check backward against finite differences of ``sum(forward(x, *params) * R)``.

    ``forward(x, *params) -> (y, cache)``; ``backward(dy, cache) -> dx`` or a tuple
    ``(dx, dparam1, ...)``. Returns the largest relative error.
    """
    y, cache = forward(x, *params)
    r = RNG.normal(size=y.shape)
    grads = backward(r, cache)
    grads = grads if isinstance(grads, tuple) else (grads,)
    worst = 0.0
    for target, analytic in zip((x, *params), grads):
        numeric = numeric_grad(lambda: float(np.sum(forward(x, *params)[0] * r)), target)
        worst = max(worst, rel_error(analytic, numeric))
    assert worst < tol, worst
    return worst


CONV_CASES = {
    "valid": dict(stride=(1, 1), padding="valid", dilation=(1, 1)),
    "stride": dict(stride=(2, 3), padding="valid", dilation=(1, 1)),
    "padding": dict(stride=(1, 1), padding=(1, 2), dilation=(1, 1)),
    "same_strided": dict(stride=(2, 2), padding="same", dilation=(1, 1)),
    "full": dict(stride=(1, 1), padding="full", dilation=(1, 1)),
    "dilation": dict(stride=(1, 2), padding=(1, 0), dilation=(2, 2)),
}


@pytest.mark.parametrize("channels", [1, 3])  # one channel takes the tap-major im2col path
@pytest.mark.parametrize("case", CONV_CASES, ids=list(CONV_CASES))
def test_conv2d_gradients(case, channels):
    o = CONV_CASES[case]
    x = RNG.normal(size=(2, 7, 8, channels))
    w = RNG.normal(size=(3, 2, channels, 4))
    b = RNG.normal(size=4)
    pad = F.layer_padding(o["padding"], (7, 8), (3, 2), o["stride"], o["dilation"])
    check_layer(
        lambda x, w, b: F.conv2d_forward(x, w, b, o["stride"], pad, o["dilation"]),
        F.conv2d_backward, x, (w, b),
    )


def test_grouped_conv2d_gradients():
    x = RNG.normal(size=(2, 5, 5, 4))
    w = RNG.normal(size=(3, 3, 2, 6))
    b = RNG.normal(size=6)
    pad = ((1, 1), (1, 1))
    check_layer(
        lambda x, w, b: F.conv2d_grouped_forward(x, w, b, (1, 1), pad, (1, 1), 2),
        lambda dy, c: F.conv2d_grouped_backward(dy, c, groups=2), x, (w, b),
    )


def test_conv2d_without_input_gradient_still_gives_weight_gradients():
    x = RNG.normal(size=(2, 6, 6, 1))
    w = RNG.normal(size=(3, 3, 1, 2))
    y, cache = F.conv2d_forward(x, w, np.zeros(2))
    dx, dw, db = F.conv2d_backward(np.ones_like(y), cache, need_dx=False)
    _, dw2, db2 = F.conv2d_backward(np.ones_like(y), cache)
    assert dx is None and np.array_equal(dw, dw2) and np.array_equal(db, db2)


def test_dense_gradients():
    x = RNG.normal(size=(3, 2, 2, 3))  # a batch of maps: flattened by the layer
    check_layer(D.dense_forward, D.dense_backward, x, (RNG.normal(size=(12, 5)), RNG.normal(size=5)))


POOL_CASES = {
    "max2": dict(kernel_size=2, op="max"),
    "max3_s2_p1_ceil": dict(kernel_size=3, stride=2, padding=1, op="max", ceil_mode=True),
    "avg2": dict(kernel_size=2, op="avg"),
    "avg3_s2_p1": dict(kernel_size=3, stride=2, padding=1, op="avg"),
    "avg3_s2_p1_incl": dict(kernel_size=3, stride=2, padding=1, op="avg", count_include_pad=True),
}


@pytest.mark.parametrize("case", POOL_CASES, ids=list(POOL_CASES))
def test_pool_gradients(case):
    o = dict(POOL_CASES[case])
    k = o.pop("kernel_size")
    x = RNG.permutation(2 * 7 * 7 * 2).reshape(2, 7, 7, 2) / 10.0  # distinct values: no ties

    def forward(x):
        y = pool.pool2d_forward(x, k, **o)
        return y, (x.copy(), y)

    check_layer(forward, lambda dy, c: pool.pool2d_backward(dy, c[0], c[1], k, **o), x)


@pytest.mark.parametrize("op", ["avg", "max"])
def test_global_pool_gradients(op):
    x = RNG.permutation(2 * 3 * 4 * 3).reshape(2, 3, 4, 3) / 7.0
    check_layer(
        lambda x: (pool.global_pool_forward(x, op), x.copy()),
        lambda dy, x: pool.global_pool_backward(dy, x, op), x,
    )


@pytest.mark.parametrize("kind", ["relu", "sigmoid", "tanh", "softplus", "abs", "softmax"])
def test_activation_gradients(kind):
    x = RNG.normal(size=(2, 3, 3, 4))
    x[np.abs(x) < 0.05] = 0.3  # relu and abs have a kink at 0: keep the differences off it
    fwd, bwd = A.activation(kind)
    check_layer(fwd, bwd, x)


def test_softmax_gradient_on_logit_vectors():
    check_layer(A.softmax_forward, A.softmax_backward, RNG.normal(size=(4, 6)) * 3)


@pytest.mark.parametrize("size,channels", [(3, 1), (5, 3)])
def test_lcn_gradients(size, channels):
    x = RNG.normal(size=(2, 6, 7, channels))
    check_layer(lambda x: lcn.lcn_forward(x, size=size, kappa=0.5), lcn.lcn_backward, x)


def test_dropout_gradient_with_a_fixed_mask():
    x = RNG.normal(size=(3, 4, 4, 2))
    _, mask = D.dropout_forward(x, 0.4, np.random.default_rng(7))
    check_layer(lambda x: D.dropout_forward(x, 0.4, mask=mask), D.dropout_backward, x)
    assert 0 < np.count_nonzero(mask) < mask.size


def test_flatten_gradient():
    check_layer(D.flatten_forward, D.flatten_backward, RNG.normal(size=(2, 3, 2, 4)))


@pytest.mark.parametrize("name", ["xent", "sse"])
def test_loss_gradients(name):
    logits = RNG.normal(size=(5, 4)) * 2
    labels = np.array([0, 3, 1, 1, 2])
    fn = losses.get_loss(name)
    _, analytic = fn(logits, labels)
    numeric = numeric_grad(lambda: fn(logits, labels)[0], logits)
    assert rel_error(analytic, numeric) < 1e-7


def test_whole_network_gradients_float64():
    layers = [
        Layer("conv", out=3, kernel=(3, 3), padding="same", text="conv3x3:same"),
        Layer("tanh", text="tanh"),
        Layer("lcn", kernel=(3, 3), text="lcn3"),
        Layer("relu", text="relu"),  # runs after the pool: the swap must not change gradients
        Layer("maxpool", kernel=(2, 2), stride=(2, 2), text="pool2"),
        Layer("conv", out=4, kernel=(2, 2), stride=(1, 1), dilation=(1, 1), text="conv2x4"),
        Layer("softplus", text="softplus"),
        Layer("fc", out=5, text="fc5"),
        Layer("sigmoid", text="sigmoid"),
    ]
    net = build_network(layers, (8, 8, 2), 3, seed=3, dtype=np.float64)
    x = RNG.normal(size=(3, 8, 8, 2))
    y = np.array([0, 2, 1])

    def loss():
        return losses.softmax_cross_entropy(net.forward(x), y)[0]

    _, dlogits = losses.softmax_cross_entropy(net.forward(x, training=True), y)
    net.backward(dlogits)
    for (name, param), analytic in zip(net.parameters(), net.gradients()):
        numeric = numeric_grad(loss, param)
        assert rel_error(analytic, numeric) < 1e-6, name


def test_the_check_catches_a_wrong_backward():
    x = RNG.normal(size=(2, 5, 5, 2))
    w = RNG.normal(size=(3, 3, 2, 3))
    b = RNG.normal(size=3)

    def flipped_kernel_backward(dy, cache):
        # a classic slip: the input gradient computed with the kernel not flipped back
        dx, dw, db = F.conv2d_backward(dy, cache)
        x_shape, xp_shape, cols, w_, *rest = cache
        dx_wrong, _, _ = F.conv2d_backward(dy, (x_shape, xp_shape, cols, w_[::-1, ::-1].copy(), *rest))
        return dx_wrong, dw, db

    def forward(x, w, b):
        return F.conv2d_forward(x, w, b, (1, 1), ((1, 1), (1, 1)), (1, 1))

    with pytest.raises(AssertionError):
        check_layer(forward, flipped_kernel_backward, x, (w, b))
    with pytest.raises(AssertionError):  # and a relu that lets negative inputs through
        check_layer(A.relu_forward, lambda dy, mask: dy, RNG.normal(size=(2, 4)))
    check_layer(forward, F.conv2d_backward, x, (w, b))


def test_the_check_catches_a_batch_norm_that_treats_its_statistics_as_constants():
    # the common slip: dx = dy * gamma / std, forgetting that each input moves the mean and variance
    x, gamma, beta = RNG.normal(size=(4, 3, 3, 2)), RNG.normal(size=2), RNG.normal(size=2)

    def frozen_statistics(dy, cache):
        _, dgamma, dbeta = BN.batchnorm_backward(dy, cache)
        _centred, inv_std, gamma_, *_ = cache
        return dy * gamma_ * inv_std, dgamma, dbeta

    with pytest.raises(AssertionError):
        check_layer(BN.batchnorm_train_forward, frozen_statistics, x, (gamma, beta))
    check_layer(BN.batchnorm_train_forward, BN.batchnorm_backward, x, (gamma, beta))


@pytest.mark.parametrize("shape", [(5, 3, 4, 3), (6, 4)], ids=["maps", "vectors"])
def test_batchnorm_training_gradients(shape):
    x = RNG.normal(size=shape) * 3 + 1
    check_layer(BN.batchnorm_train_forward, BN.batchnorm_backward, x,
                (RNG.normal(size=shape[-1]), RNG.normal(size=shape[-1])))


def test_batchnorm_inference_uses_the_running_statistics():
    x = RNG.normal(size=(3, 2, 2, 2))
    gamma, beta, mean, var = RNG.normal(size=2), RNG.normal(size=2), RNG.normal(size=2), RNG.random(2) + 0.5
    expected = (x - mean) / np.sqrt(var + BN.EPS) * gamma + beta
    assert np.allclose(BN.batchnorm_infer_forward(x, gamma, beta, mean, var), expected)
    # one image alone gives the same output as in its batch (no batch statistics at inference)
    assert np.allclose(BN.batchnorm_infer_forward(x[:1], gamma, beta, mean, var), expected[:1])


def test_batchnorm_running_statistics_follow_the_pytorch_rule():
    x = RNG.normal(size=(8, 3)) * 2 + 5
    _, cache = BN.batchnorm_train_forward(x, np.ones(3), np.zeros(3))
    rm, rv = np.zeros(3), np.ones(3)
    BN.update_running_stats(rm, rv, cache[-1])
    assert np.allclose(rm, 0.1 * x.mean(axis=0))
    assert np.allclose(rv, 0.9 + 0.1 * x.var(axis=0, ddof=1))


def test_relu6_gradient():
    x = RNG.normal(size=(2, 3, 3, 2)) * 5
    x[np.abs(x) < 0.05] = 0.3
    x[np.abs(x - 6) < 0.05] = 5.5
    assert (x > 6).any() and (x < 0).any()
    fwd, bwd = A.activation("relu6")
    check_layer(fwd, bwd, x)


@pytest.mark.parametrize("n", [2, 3])
def test_add_gradients(n):
    xs = [RNG.normal(size=(2, 3, 3, 2)) for _ in range(n)]

    def forward(*xs):
        return G.add_forward(list(xs))

    check_layer(lambda x, *rest: forward(x, *rest), G.add_backward, xs[0], tuple(xs[1:]))


def test_concat_gradients():
    a, b, c = RNG.normal(size=(2, 3, 3, 2)), RNG.normal(size=(2, 3, 3, 1)), RNG.normal(size=(2, 3, 3, 3))
    check_layer(lambda a, b, c: G.concat_forward([a, b, c]), G.concat_backward, a, (b, c))


def test_crop_gradients():
    check_layer(lambda x: G.crop_forward(x, (1, 2, 0, 1)), G.crop_backward, RNG.normal(size=(2, 6, 5, 2)))


@pytest.mark.parametrize("factor", [(2, 2), (3, 1)])
def test_upsample_nearest_gradients(factor):
    check_layer(lambda x: G.upsample_nearest_forward(x, factor), G.upsample_nearest_backward,
                RNG.normal(size=(2, 3, 4, 2)))


@pytest.mark.parametrize("factor", [(2, 2), (3, 2), (1, 4)])
def test_upsample_bilinear_gradients(factor):
    check_layer(lambda x: G.upsample_bilinear_forward(x, factor), G.upsample_bilinear_backward,
                RNG.normal(size=(2, 3, 4, 2)))


def test_upsample_bilinear_matches_a_loop_over_pytorch_s_coordinate_rule():
    x = RNG.normal(size=(1, 3, 4, 1))
    y, _ = G.upsample_bilinear_forward(x, (2, 3))

    def sample(img, r, c):  # align_corners=False: source = (o + 0.5) / f - 0.5, clamped at 0
        h, w = img.shape
        sr, sc = max((r + 0.5) / 2 - 0.5, 0), max((c + 0.5) / 3 - 0.5, 0)
        r0, c0 = min(int(sr), h - 1), min(int(sc), w - 1)
        r1, c1 = min(r0 + 1, h - 1), min(c0 + 1, w - 1)
        fr, fc = sr - r0, sc - c0
        top = img[r0, c0] * (1 - fc) + img[r0, c1] * fc
        bottom = img[r1, c0] * (1 - fc) + img[r1, c1] * fc
        return top * (1 - fr) + bottom * fr

    expected = [[sample(x[0, :, :, 0], r, c) for c in range(12)] for r in range(6)]
    assert np.allclose(y[0, :, :, 0], expected)


@pytest.mark.parametrize("op", ["max", "avg"])
def test_pool_same_gradients(op):
    x = RNG.permutation(2 * 5 * 7 * 2).reshape(2, 5, 7, 2) / 10.0  # distinct values: no ties
    check_layer(lambda x: G.pool_same_forward(x, (3, 2), (2, 2), ((1, 1), (0, 1)), op), G.pool_same_backward, x)


def test_pool_same_average_counts_only_the_inputs_in_each_window():
    x = np.ones((1, 5, 5, 1))
    y, _ = G.pool_same_forward(x, (2, 2), (2, 2), ((0, 1), (0, 1)), "avg")
    assert y.shape == (1, 3, 3, 1) and np.allclose(y, 1.0)


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("kernel,stride,padding", [((3, 3), (1, 1), ((1, 1), (1, 1))), ((1, 1), (2, 2), ((0, 0), (0, 0))),
                                                   ((1, 1), (1, 1), ((0, 0), (0, 0)))], ids=["3x3", "1x1s2", "1x1"])
def test_conv2d_without_bias_gradients(channels, kernel, stride, padding):
    x = RNG.normal(size=(2, 5, 6, channels))
    w = RNG.normal(size=(*kernel, channels, 4))
    y, cache = F.conv2d_forward(x, w, None, stride, padding)
    assert F.conv2d_backward(np.ones_like(y), cache)[2] is None
    check_layer(lambda x, w: F.conv2d_forward(x, w, None, stride, padding),
                lambda dy, c: F.conv2d_backward(dy, c)[:2], x, (w,))
    # the same as a convolution with a zero bias
    assert np.allclose(y, F.conv2d_forward(x, w, np.zeros(4), stride, padding)[0])


def test_grouped_conv2d_without_bias_gradients():
    x, w = RNG.normal(size=(2, 4, 4, 4)), RNG.normal(size=(3, 3, 1, 4))
    check_layer(lambda x, w: F.conv2d_grouped_forward(x, w, None, (1, 1), ((1, 1), (1, 1)), (1, 1), 4),
                lambda dy, c: F.conv2d_grouped_backward(dy, c, groups=4)[:2], x, (w,))


def test_dense_without_bias_gradients():
    check_layer(lambda x, w: D.dense_forward(x, w, None), lambda dy, c: D.dense_backward(dy, c)[:2],
                RNG.normal(size=(3, 2, 2, 3)), (RNG.normal(size=(12, 5)),))



TCONV_CASES = {
    "s1": ((1, 1), (0, 0), (0, 0), (1, 1)),
    "s2_p1_op1": ((2, 2), (1, 0), (1, 0), (1, 1)),
    "s23_op": ((2, 3), (0, 1), (1, 2), (1, 1)),
    "dilated": ((1, 2), (1, 1), (0, 1), (2, 1)),
}


@pytest.mark.parametrize("channels", [(1, 1), (2, 3), (3, 1)], ids=["1to1", "2to3", "3to1"])
@pytest.mark.parametrize("case", TCONV_CASES, ids=list(TCONV_CASES))
def test_conv_transpose2d_gradients(case, channels):
    stride, padding, output_padding, dilation = TCONV_CASES[case]
    x = RNG.normal(size=(2, 3, 4, channels[0]))
    w, b = RNG.normal(size=(3, 2, *channels)), RNG.normal(size=channels[1])
    check_layer(lambda x, w, b: F.conv_transpose2d_forward(x, w, b, stride, padding, output_padding, dilation),
                F.conv_transpose2d_backward, x, (w, b))


def test_conv_transpose2d_is_the_adjoint_of_conv2d():
    x, w = RNG.normal(size=(2, 7, 8, 3)), RNG.normal(size=(3, 3, 3, 2))
    y, _ = F.conv2d_forward(x, w, None, (2, 2), ((1, 1), (1, 1)))
    v = RNG.normal(size=y.shape)
    # output_padding (0, 1) recovers the 8th column that the stride-2 convolution never ends on
    t, _ = F.conv_transpose2d_forward(v, w.transpose(0, 1, 3, 2), None, (2, 2), (1, 1), (0, 1))
    assert t.shape == x.shape
    assert np.isclose(np.sum(y * v), np.sum(x * t))


def test_grouped_transposed_convolution_layer_gradients():
    net = build_network("tconv3x4:s2:g2,relu,gap", (3, 3, 2), 2, seed=1, dtype=np.float64)
    x, y = RNG.normal(size=(2, 3, 3, 2)), np.array([0, 1])

    def loss():
        return losses.softmax_cross_entropy(net.forward(x), y)[0]

    _, dlogits = losses.softmax_cross_entropy(net.forward(x, training=True), y)
    net.backward(dlogits)
    for (name, param), analytic in zip(net.parameters(), net.gradients()):
        assert rel_error(analytic, numeric_grad(loss, param)) < 1e-6, name


@pytest.mark.parametrize("spec", [
    "conv3x4:p1:nobias,bn,relu,add(conv3x4:p1:nobias,bn,relu6,conv3x4:p1|conv1x4:nobias,bn),relu,gap",
    "conv3x3,@a,pool3:s2:same,conv3x5:p1,up2:bilinear,cat(@a|),conv3x4,relu,tconv2x3:s2,avgpool3:s2:same,gap",
    "conv3x4:p2,@a,conv3x4,relu,cat(@a|),gap",   # the 8x8 tap is centre-cropped to 6x6
    "flatten,fc6:nobias,bn,relu,add(fc6|),fc3",
])
def test_graph_network_gradients_float64(spec):
    net = build_network(spec, (6, 6, 2), 3, seed=3, dtype=np.float64)
    x = RNG.normal(size=(4, 6, 6, 2))
    y = np.array([0, 2, 1, 1])

    def loss():  # bn in training mode: the batch statistics are part of the function checked
        return losses.softmax_cross_entropy(net.forward(x, training=True), y)[0]

    _, dlogits = losses.softmax_cross_entropy(net.forward(x, training=True), y)
    net.backward(dlogits)
    names = [name for name, _ in net.parameters()]
    grads = dict(zip(names, net.gradients()))
    for name, param in net.parameters():
        assert rel_error(grads[name], numeric_grad(loss, param)) < 1e-6, name
