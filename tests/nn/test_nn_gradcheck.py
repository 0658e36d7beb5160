"""Finite-difference gradient checks (float64) for every layer of cnnconv.nn and both losses."""

from __future__ import annotations

import numpy as np
import pytest

from cnnconv import pooling as pool
from cnnconv.shape.grammar import Layer
from cnnconv.nn import activations as A
from cnnconv.nn import dense as D, functional as F
from cnnconv.nn import lcn, losses
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
