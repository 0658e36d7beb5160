"""Training steps split over two threads: a network twin shares the weights, the halves'
gradients add up to the whole batch's, and fit gives the same run either way up to rounding."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from cnnconv.nn import _step
from cnnconv.nn.losses import get_loss
from cnnconv.nn.model import build_network
from cnnconv.nn.train import FitOptions, fit

SPEC = "conv3x4:p1,relu,pool2,conv3x6,relu,fc10,relu"


def net64(seed=0, spec=SPEC):
    return build_network(spec, (10, 10, 2), 3, seed=seed, dtype=np.float64)


def data(n, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 10, 10, 2)), rng.integers(0, 3, n)


def test_a_twin_shares_the_weights_and_keeps_its_own_caches_and_gradients():
    net = net64()
    twin = net.twin()
    for (_, a), (_, b) in zip(net.parameters(), twin.parameters()):
        assert a is b
    x, y = data(4)
    twin.forward(x, training=True)
    assert all(m.cache is None for m in net.modules)
    net.modules[0].params["weight"][...] = 0  # an optimiser step on one is seen by the other
    assert not twin.modules[0].params["weight"].any()


@pytest.mark.parametrize("n", [16, 33, 64])
@pytest.mark.parametrize("loss", ["xent", "sse"])
def test_split_step_gives_the_whole_batch_gradient(n, loss):
    x, y = data(n, seed=n)
    one, two = net64(), net64()
    loss_fn = get_loss(loss)
    v1, c1 = _step.Stepper(one, loss_fn).step(x, y, None)
    with ThreadPoolExecutor(1) as pool:
        v2, c2 = _step.Stepper(two, loss_fn, pool).step(x, y, None, None)
    assert v2 == pytest.approx(v1, rel=1e-12) and c1 == c2
    for g1, g2 in zip(one.gradients(), two.gradients()):
        np.testing.assert_allclose(g2, g1, rtol=1e-10, atol=1e-13)


def test_small_batches_are_not_split():
    x, y = data(2 * _step.MIN_HALF - 1)
    with ThreadPoolExecutor(1) as pool:
        stepper = _step.Stepper(net64(), get_loss("xent"), pool)
        stepper.step(x, y, None, None)
    assert all(not m.grads for m in stepper.twin.modules)


def test_fit_on_two_threads_matches_one_thread_and_repeats_exactly():
    x, y = data(96, seed=3)
    runs = {th: fit(net64(), x, y, x, y, FitOptions(epochs=2, batch_size=32, lr=1e-2, threads=th)) for th in (1, 2)}
    for a, b in zip(runs[1].history, runs[2].history):
        assert b["loss"] == pytest.approx(a["loss"], rel=1e-9)
    for k, v in runs[1].best_state.items():
        np.testing.assert_allclose(runs[2].best_state[k], v, rtol=1e-8, atol=1e-10)
    again = fit(net64(), x, y, x, y, FitOptions(epochs=2, batch_size=32, lr=1e-2, threads=2)).best_state
    assert all(np.array_equal(again[k], runs[2].best_state[k]) for k in again)


BN_SPEC = "conv3x4:p1:nobias,bn,relu,add(conv3x4:p1:nobias,bn|),pool2,flatten,fc6,bn,relu"


@pytest.mark.parametrize("n", [16, 33])
def test_a_split_batch_norm_uses_the_whole_batch_statistics(n):
    x, y = data(n, seed=n)
    one, two = net64(spec=BN_SPEC), net64(spec=BN_SPEC)
    loss_fn = get_loss("xent")
    v1, c1 = _step.Stepper(one, loss_fn).step(x, y, None)
    with ThreadPoolExecutor(1) as pool:
        stepper = _step.Stepper(two, loss_fn, pool)
        v2, c2 = stepper.step(x, y, None, None)
    # per-half statistics would give another loss and other gradients, not a rounding difference
    assert v2 == pytest.approx(v1, rel=1e-12) and c1 == c2
    for (name, _), g1, g2 in zip(one.parameters(), one.gradients(), two.gradients()):
        np.testing.assert_allclose(g2, g1, rtol=1e-9, atol=1e-12, err_msg=name)
    # the running statistics took the batch once, with the whole batch's mean and variance
    for (name, b1), (_, b2) in zip(one.buffers(), two.buffers()):
        np.testing.assert_allclose(b2, b1, rtol=1e-12, err_msg=name)
    assert all(m.reduce is None for m in two.modules if m.spec.kind == "bn")  # one thread again after


def test_a_failing_half_does_not_leave_the_other_waiting():
    x, y = data(32)
    net = net64(spec=BN_SPEC)
    with ThreadPoolExecutor(1) as pool:
        stepper = _step.Stepper(net, get_loss("xent"), pool)
        stepper.twin.modules[-2].forward = lambda *a, **k: 1 / 0  # the twin fails after its first bn
        with pytest.raises((ZeroDivisionError, Exception)):
            stepper.step(x, y, None, None)
        del stepper.twin.modules[-2].forward
        stepper.step(x, y, None, None)  # the pairs are reset: the next split step runs
