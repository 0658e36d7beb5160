"""Training: a synthetic shapes data set is learned; runs repeat bit for bit, resume, stop cleanly."""

from __future__ import annotations

import numpy as np
import pytest

from cnnconv.errors import CnnconvError
from cnnconv.shape.grammar import parse_layers
from cnnconv.nn.model import build_network, predict, predict_proba
from cnnconv.nn.train import FitOptions, Resume, fit

SMALL_SPEC = "conv3x8:p1,relu,pool2,conv3x16:p1,relu,pool2,fc32,relu"


def draw_shapes(n, size=16, seed=0):
    """``n`` gray images of a filled circle (0), square (1) or triangle (2) of random size and place."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    images = np.empty((n, size, size, 1), dtype=np.float32)
    labels = np.arange(n) % 3
    for i, label in enumerate(labels):
        r = rng.uniform(3.0, 6.0)
        cy, cx = rng.uniform(r, size - 1 - r, size=2)
        if label == 0:
            inside = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
        elif label == 1:
            inside = (np.abs(yy - cy) <= r * 0.85) & (np.abs(xx - cx) <= r * 0.85)
        else:  # apex up: the half-width grows from 0 at the top to r at the base
            inside = (yy >= cy - r) & (yy <= cy + r) & (np.abs(xx - cx) <= (yy - (cy - r)) / 2)
        images[i, :, :, 0] = inside + rng.normal(0, 0.1, (size, size))
    return (images - images.mean()) / images.std(), labels


@pytest.fixture(scope="module")
def shapes():
    x, y = draw_shapes(900, seed=1)
    return x[:720], y[:720], x[720:], y[720:]


def small_net(seed=0, spec=SMALL_SPEC):
    return build_network(parse_layers(spec), (16, 16, 1), 3, seed=seed)


def test_synthetic_shapes_are_learned(shapes):
    xt, yt, xv, yv = shapes
    net = small_net()
    result = fit(net, xt, yt, xv, yv, FitOptions(lr=3e-3, epochs=6, batch_size=32, seed=0))
    assert result.stopped == "completed"
    best = max(h["val_acc"] for h in result.history)
    assert best >= 0.95, result.history
    net.load_state(result.best_state)
    assert np.mean(predict(net, xv) == yv) == pytest.approx(best)
    assert result.history[0]["loss"] > result.history[-1]["loss"]


@pytest.mark.parametrize("options", [
    dict(loss="sse", optimizer="adam", lr=3e-3),
    dict(loss="xent", optimizer="sgd", lr=0.02, momentum=0.9, nesterov=True, weight_decay=1e-4),
])
def test_other_losses_and_optimisers_learn(shapes, options):
    xt, yt, xv, yv = shapes
    result = fit(small_net(), xt, yt, xv, yv, FitOptions(epochs=4, batch_size=32, **options))
    assert max(h["val_acc"] for h in result.history) >= 0.9, result.history


def test_same_seed_gives_bit_identical_weights(shapes):
    xt, yt, xv, yv = shapes
    spec = SMALL_SPEC + ",dropout0.3"
    runs = [fit(small_net(spec=spec), xt[:200], yt[:200], xv, yv, FitOptions(epochs=2, seed=5)) for _ in range(2)]
    a, b = runs[0].best_state, runs[1].best_state
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    other = fit(small_net(spec=spec), xt[:200], yt[:200], xv, yv, FitOptions(epochs=2, seed=6)).best_state
    assert not all(np.array_equal(a[k], other[k]) for k in a)


def test_resume_continues_exactly(shapes):
    xt, yt, xv, yv = shapes
    xt, yt = xt[:160], yt[:160]
    straight = small_net()
    fit(straight, xt, yt, xv, yv, FitOptions(epochs=2, seed=3))
    first = small_net()
    one = fit(first, xt, yt, xv, yv, FitOptions(epochs=1, seed=3))
    resumed = small_net(seed=99)  # different starting weights: the state must replace them
    resumed.load_state(first.state())
    two = fit(resumed, xt, yt, xv, yv, FitOptions(epochs=1, seed=3), resume=Resume(one.history, one.optimizer_state))
    assert [h["epoch"] for h in two.history] == [1, 2]
    s, r = straight.state(), resumed.state()
    assert all(np.array_equal(s[k], r[k]) for k in s)


def test_nan_learning_rate_stops_and_keeps_a_good_state(shapes):
    xt, yt, xv, yv = shapes
    net = small_net()
    start = net.state()
    result = fit(net, xt[:128], yt[:128], xv, yv, FitOptions(lr=float("nan"), epochs=3))
    assert result.stopped == "nan"
    assert all(np.isfinite(v).all() for v in result.best_state.values())
    assert all(np.array_equal(start[k], result.best_state[k]) for k in start)
    assert all(np.isfinite(v).all() for v in net.state().values())
    assert np.isfinite(predict_proba(net, xv)).all()


def test_nan_after_good_epochs_keeps_the_best_epoch(shapes):
    xt, yt, xv, yv = shapes
    net = small_net()
    calls = []

    def poison(epoch, i, n, running):
        calls.append(epoch)
        if epoch == 3 and i == 0:  # corrupt a weight: the next loss is NaN
            net.modules[0].params["weight"][0, 0, 0, 0] = np.nan

    result = fit(net, xt[:128], yt[:128], xv, yv, FitOptions(epochs=5), on_batch=poison)
    assert result.stopped == "nan" and len(result.history) == 2 and result.best_epoch in (1, 2)
    assert all(np.isfinite(v).all() for v in net.state().values())


def test_patience_stops_early():
    x, y = draw_shapes(60)
    result = fit(small_net(), x, y, x, y, FitOptions(lr=0.0, epochs=10, patience=2))
    assert result.stopped == "early" and len(result.history) == 3 and result.best_epoch == 1


def test_keyboard_interrupt_stops_cleanly_with_the_best_so_far():
    x, y = draw_shapes(96)
    seen = []

    def interrupt(epoch, i, n, running):
        seen.append((epoch, i, n, running))
        if epoch == 2 and i == 1:
            raise KeyboardInterrupt

    epochs = []
    result = fit(small_net(), x, y, x, y, FitOptions(epochs=5, batch_size=32), on_batch=interrupt, on_epoch=epochs.append)
    assert result.stopped == "interrupted" and len(result.history) == 1 and result.best_epoch == 1
    assert [e["epoch"] for e in epochs] == [1]
    assert set(epochs[0]) == {"epoch", "loss", "train_acc", "val_acc", "val_loss", "seconds", "images_per_s"}
    assert seen[:3] == [(1, 0, 3, seen[0][3]), (1, 1, 3, seen[1][3]), (1, 2, 3, seen[2][3])]
    assert result.optimizer_state["step"] == 3


def test_without_validation_data_the_last_epoch_is_kept():
    x, y = draw_shapes(60)
    net = small_net()
    result = fit(net, x, y, options=FitOptions(epochs=2))
    assert result.best_epoch == 2 and result.history[-1]["val_acc"] is None
    final = net.state()
    assert all(np.array_equal(final[k], result.best_state[k]) for k in final)


@pytest.mark.parametrize("kwargs,message", [
    (dict(loss="hinge"), "unknown loss"),
    (dict(optimizer="rmsprop"), "unknown optimizer"),
    (dict(batch_size=0), "batch_size"),
    (dict(patience=0), "patience"),
    (dict(momentum=1.5, optimizer="sgd"), "momentum"),
])
def test_bad_options_are_named(kwargs, message):
    x, y = draw_shapes(12)
    with pytest.raises(CnnconvError, match=message):
        fit(small_net(), x, y, options=FitOptions(**kwargs))


def test_bad_data_is_named():
    x, y = draw_shapes(12)
    with pytest.raises(CnnconvError, match="labels must be in"):
        fit(small_net(), x, y + 5)
    with pytest.raises(CnnconvError, match="images must be"):
        fit(small_net(), x[:, :8], y)


def test_best_epoch_breaks_accuracy_ties_by_the_lower_validation_loss():
    from cnnconv.nn import build_network, fit
    from cnnconv.nn.train import FitOptions
    from cnnconv.shape.grammar import parse_layers

    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 200)
    x = rng.normal(0, 0.3, (200, 8, 8, 1)).astype(np.float32)
    x[y == 0, :, 3, 0] += 2.0
    x[y == 1, 3, :, 0] += 2.0
    net = build_network(parse_layers("conv3x4,relu,fc8,relu"), (8, 8, 1), 2, seed=0)
    result = fit(net, x[:160], y[:160], x[160:], y[160:], FitOptions(epochs=8, lr=1e-2, seed=0))
    top = max(h["val_acc"] for h in result.history)
    tied = [h for h in result.history if h["val_acc"] == top]
    assert len(tied) > 1  # the data are easy enough for several epochs to tie
    assert result.best_epoch == min(tied, key=lambda h: h["val_loss"])["epoch"]
    assert all(h["val_loss"] > 0 for h in result.history)
