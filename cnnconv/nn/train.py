"""The training loop: mini-batches, validation, best-model keeping, early and clean stops.

:func:`fit` knows nothing of files or terminals: progress goes to the ``on_batch`` and
``on_epoch`` callbacks, and everything a caller needs to save or resume comes back in
a :class:`FitResult`.
"""

from __future__ import annotations

import contextlib
import math
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from cnnconv.conv.engines._blas import single_threaded_blas
from cnnconv.conv.engines._split import usable_cpus
from cnnconv.errors import CnnconvError
from cnnconv.nn._step import Stepper, split_threads
from cnnconv.nn.losses import get_loss
from cnnconv.nn.model import predict_proba
from cnnconv.nn.optim import make_optimizer


@dataclass
class FitResult:
    """What :func:`fit` returns.

    Attributes
    ----------
    history : list of dict
        One per epoch, including ``initial_history``: ``epoch`` (1-based), ``loss`` (mean
        training loss), ``train_acc`` (on the training batches as they were trained),
        ``val_acc`` and ``val_loss`` (mean cross-entropy of the validation set; both None
        without validation data), ``seconds``, ``images_per_s``.
    best_state : dict[str, ndarray]
        The weights with the best validation accuracy, ties broken by the lower
        validation loss (the last epoch's without
        validation data); the network's starting weights if no epoch finished.
    best_epoch : int
        The epoch ``best_state`` comes from (0: the starting weights).
    stopped : str
        ``"completed"``, ``"early"`` (patience ran out), ``"nan"`` (a non-finite loss;
        the network holds the last good weights) or ``"interrupted"`` (KeyboardInterrupt).
    optimizer_state : dict[str, ndarray]
        The optimiser's moments and step count after the last finished epoch; pass it
        back as ``optimizer_state=`` with ``initial_history=history`` to resume.
    """

    history: list = field(default_factory=list)
    best_state: dict = field(default_factory=dict)
    best_epoch: int = 0
    stopped: str = "completed"
    optimizer_state: dict = field(default_factory=dict)


def _check_data(net, x, y, name):
    x = np.asarray(x)
    y = np.asarray(y)
    if x.ndim == 3 and net.input_shape[2] == 1:
        x = x[..., None]
    if x.ndim != 4 or x.shape[1:] != net.input_shape:
        raise CnnconvError(f"{name} images must be (N, {', '.join(map(str, net.input_shape))}), got {x.shape}")
    if y.shape != (x.shape[0],) or y.dtype.kind not in "iu":
        raise CnnconvError(f"{name} labels must be {x.shape[0]} integers, got shape {y.shape} dtype {y.dtype}")
    if y.size and (y.min() < 0 or y.max() >= net.num_classes):
        raise CnnconvError(f"{name} labels must be in [0, {net.num_classes}), got {y.min()}..{y.max()}")
    return x.astype(net.dtype, copy=False), y.astype(np.int64, copy=False)


def fit(
    net, x_train, y_train, x_val=None, y_val=None, *, loss="xent", optimizer="adam", lr=1e-3,
    momentum=0.9, nesterov=False, weight_decay=0.0, batch_size=64, epochs=10, patience=None, seed=0,
    on_batch=None, on_epoch=None, initial_history=None, optimizer_state=None, threads=None,
) -> FitResult:
    """Train ``net`` in place by mini-batch back-propagation and return a :class:`FitResult`.

    Each epoch shuffles the training set with a generator seeded by ``(seed, epoch)``
    (dropout draws from ``(seed, epoch, 1)``, and on a split batch's second half from
    ``(seed, epoch, 2)``), so a run is repeatable bit for bit and a resumed run
    (``initial_history`` + ``optimizer_state``) continues exactly where the saved one
    stopped. The weights with the best validation accuracy are kept (of equally accurate
    epochs, the one with the lowest validation loss). OpenBLAS runs with one thread inside
    ``fit`` (restored after): a step is many small matrix products, and a second BLAS thread
    mostly waits; the second core instead runs half of each batch in a thread of its own
    (``threads``; see ``cnnconv.nn._step`` and BENCHMARKS.md, "Training").

    Parameters
    ----------
    net : cnnconv.nn.model.Network
    x_train, y_train : ndarray (N, H, W, C), (N,) int
    x_val, y_val : ndarray or None
        Validation data; without it the last epoch is the best.
    loss : {"xent", "sse"}
    optimizer : {"adam", "sgd"}
    lr, momentum, nesterov, weight_decay : float, float, bool, float
        ``momentum``/``nesterov`` are for sgd; ``weight_decay`` is an L2 term on weights.
    batch_size, epochs : int
        ``epochs`` more epochs are run (numbered after ``initial_history``).
    patience : int or None
        Stop after this many epochs without a better validation accuracy.
    seed : int
    on_batch : callable(epoch, i, n_batches, running_loss), optional
    on_epoch : callable(dict), optional
        Called with each new history entry.
    initial_history : list of dict, optional
        History of the run being resumed; its best validation accuracy is the one to beat
        and the current weights are taken as that best.
    optimizer_state : dict, optional
        :attr:`FitResult.optimizer_state` of the run being resumed.
    threads : {None, 1, 2}
        2 splits each batch between two threads (the gradients of the halves summed); None
        does so when two CPUs are usable and batches have at least 16 images. The result
        depends on it by rounding only, and is repeatable for a given value.

    Examples
    --------
    >>> from cnnconv.nn.model import build_network
    >>> from cnnconv.shape.grammar import Layer
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(64, 4, 4, 1)).astype(np.float32); y = (x.mean(axis=(1, 2, 3)) > 0).astype(int)
    >>> net = build_network([Layer("flatten", text="flatten")], (4, 4, 1), 2)
    >>> result = fit(net, x, y, x, y, lr=0.05, epochs=20, batch_size=16)
    >>> result.stopped, result.history[-1]["val_acc"] > 0.9
    ('completed', True)
    """
    loss_fn = get_loss(loss)
    x_train, y_train = _check_data(net, x_train, y_train, "training")
    if x_train.shape[0] == 0:
        raise CnnconvError("no training images")
    has_val = x_val is not None and len(x_val) > 0
    if has_val:
        x_val, y_val = _check_data(net, x_val, y_val, "validation")
    for name, value in (("batch_size", batch_size), ("epochs", epochs)):
        if int(value) < 1:
            raise CnnconvError(f"{name} must be >= 1, got {value}")
    if patience is not None and patience < 1:
        raise CnnconvError(f"patience must be >= 1, got {patience}")
    params = net.parameters()
    opt = make_optimizer(optimizer, params, lr=lr, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay)
    if optimizer_state:
        opt.load_state(optimizer_state)
    history = [dict(h) for h in (initial_history or [])]
    done = len(history)
    scored = [h for h in history if h.get("val_acc") is not None]
    best = max(scored, key=_validation_key, default=None)
    best_key = _validation_key(best) if best else (-math.inf, -math.inf)
    best_epoch = best["epoch"] if best else 0
    result = FitResult(history, net.state(), best_epoch, "completed", opt.state())
    n, bs = x_train.shape[0], int(batch_size)
    n_batches = -(-n // bs)
    since_best = 0
    # many small GEMMs: OpenBLAS's second thread only waits, and when another process holds
    # a core every call stalls (LeNet/MNIST: 6.5 ms per batch on one thread, 6.3-60 on two)
    split = split_threads(threads, bs, usable_cpus()) == 2
    with single_threaded_blas(), ThreadPoolExecutor(1) if split else contextlib.nullcontext() as pool:
        stepper = Stepper(net, loss_fn, pool)
        for epoch in range(done + 1, done + int(epochs) + 1):
            start_state = net.state()
            start_opt = result.optimizer_state
            order = np.random.default_rng([seed, epoch]).permutation(n)
            drop_rng = np.random.default_rng([seed, epoch, 1])
            drop_rng2 = np.random.default_rng([seed, epoch, 2])
            t0 = time.perf_counter()
            total, correct = 0.0, 0
            try:
                for i in range(n_batches):
                    idx = order[i * bs : (i + 1) * bs]
                    value, right = stepper.step(x_train[idx], y_train[idx], drop_rng, drop_rng2)
                    if not math.isfinite(value):
                        net.load_state(start_state)
                        result.stopped = "nan"
                        if result.best_epoch == 0 and not history:
                            result.best_state = start_state
                        return result
                    opt.step(params, net.gradients())
                    total += value * len(idx)
                    correct += right
                    if on_batch is not None:
                        on_batch(epoch, i, n_batches, total / min((i + 1) * bs, n))
                val_acc, val_loss = _validate(net, x_val, y_val) if has_val else (None, None)
            except KeyboardInterrupt:
                net.load_state(start_state)
                result.optimizer_state = start_opt
                result.stopped = "interrupted"
                return result
            seconds = time.perf_counter() - t0
            stats = {
                "epoch": epoch, "loss": total / n, "train_acc": correct / n, "val_acc": val_acc, "val_loss": val_loss,
                "seconds": seconds, "images_per_s": n / seconds if seconds > 0 else float("inf"),
            }
            history.append(stats)
            result.optimizer_state = opt.state()
            # patience counts epochs without a better accuracy; a lower loss at the same
            # accuracy picks the better model to keep but does not postpone the stop
            since_best = 0 if not has_val or val_acc > best_key[0] else since_best + 1
            if not has_val or _validation_key(stats) > best_key:
                best_key = _validation_key(stats) if has_val else best_key
                result.best_state, result.best_epoch = net.state(), epoch
            if on_epoch is not None:
                on_epoch(dict(stats))
            if patience is not None and since_best >= patience:
                result.stopped = "early"
                break
    return result


def _validate(net, x_val, y_val) -> tuple[float, float]:
    """Validation accuracy and mean cross-entropy (whatever loss trains the network)."""
    proba = predict_proba(net, x_val)
    picked = proba[np.arange(len(y_val)), y_val].astype(np.float64)
    return float(np.mean(proba.argmax(axis=1) == y_val)), float(-np.mean(np.log(np.maximum(picked, 1e-300))))


def _validation_key(stats: dict) -> tuple[float, float]:
    """Better model first by validation accuracy, ties broken by the lower validation loss.

    Histories written before the loss was recorded compare on accuracy alone.

    >>> _validation_key({"val_acc": 1.0, "val_loss": 0.2}) > _validation_key({"val_acc": 1.0, "val_loss": 0.5})
    True
    """
    loss = stats.get("val_loss")
    return stats["val_acc"], -loss if loss is not None else -math.inf
