"""The training loop: mini-batches, validation, best-model keeping, early and clean stops.

:func:`fit` knows nothing of files or terminals: progress goes to the ``on_batch`` and
``on_epoch`` callbacks, and everything a caller needs to save or resume comes back in
a :class:`FitResult`. It is the one owner of how a run ends: a NaN loss, patience, a
stop request (``stop``, which a command line sets from a signal handler) or a
``KeyboardInterrupt`` anywhere in the loop, callbacks included, all end in a result that
holds the best weights so far.
"""

from __future__ import annotations

import contextlib
import math
import threading
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
from cnnconv.nn.optim import OPTIMIZERS, make_optimizer


@dataclass(frozen=True)
class FitOptions:
    """How :func:`fit` trains: loss, optimiser, batches, epochs, stopping, seed, threads.

    Attributes
    ----------
    loss : {"xent", "sse"}
    optimizer : {"adam", "sgd"}
    lr, momentum, nesterov, weight_decay : float, float, bool, float
        ``momentum``/``nesterov`` are for sgd; ``weight_decay`` is an L2 term on weights.
        A NaN ``lr`` is allowed: training then stops with ``stopped == "nan"``.
    batch_size, epochs : int
        ``epochs`` more epochs are run (numbered after a resumed run's history).
    patience : int or None
        Stop after this many epochs without a better validation accuracy.
    seed : int
        Seeds the batch order (``(seed, epoch)``) and dropout (``(seed, epoch, 1)``, and on
        a split batch's second half ``(seed, epoch, 2)``).
    threads : {None, 1, 2}
        2 splits each batch between two threads (the gradients of the halves summed); None
        does so when two CPUs are usable and batches have at least 16 images. The result
        depends on it by rounding only, and is repeatable for a given value (batch norm uses
        the whole batch's statistics either way: ``cnnconv.nn._step``).

    Examples
    --------
    >>> FitOptions(epochs=3, lr=0.01).epochs
    3
    >>> FitOptions(batch_size=0)
    Traceback (most recent call last):
    ...
    cnnconv.errors.CnnconvError: batch_size must be a whole number >= 1, got 0
    """

    loss: str = "xent"
    optimizer: str = "adam"
    lr: float = 1e-3
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 0.0
    batch_size: int = 64
    epochs: int = 10
    patience: int | None = None
    seed: int = 0
    threads: int | None = None

    def __post_init__(self) -> None:
        get_loss(self.loss)  # refuses an unknown name, listing the known ones
        if self.optimizer not in OPTIMIZERS:
            raise CnnconvError(f"unknown optimizer {self.optimizer!r}; use {' or '.join(OPTIMIZERS)}")
        for name in ("batch_size", "epochs") + (("patience",) if self.patience is not None else ()):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
                raise CnnconvError(f"{name} must be a whole number >= 1, got {value!r}")
        if self.threads not in (None, 1, 2):
            raise CnnconvError(f"threads must be None, 1 or 2, got {self.threads!r}")


@dataclass(frozen=True)
class Resume:
    """A saved run to continue: its history and the optimiser state after its last epoch.

    Its best validation accuracy is the one to beat, and the network's current weights
    are taken as that best.
    """

    history: tuple = ()
    optimizer_state: dict = field(default_factory=dict)


@dataclass
class FitResult:
    """What :func:`fit` returns.

    Attributes
    ----------
    history : list of dict
        One per epoch, the resumed run's included: ``epoch`` (1-based), ``loss`` (mean
        training loss), ``train_acc`` (on the training batches as they were trained),
        ``val_acc`` and ``val_loss`` (mean cross-entropy of the validation set; both None
        without validation data), ``seconds``, ``images_per_s``.
    best_state : dict[str, ndarray]
        The weights with the best validation accuracy, ties broken by the lower
        validation loss (the last epoch's without validation data); the network's
        starting weights if no epoch finished.
    best_epoch : int
        The epoch ``best_state`` comes from (0: the starting weights).
    stopped : str
        ``"completed"``, ``"early"`` (patience ran out), ``"nan"`` (a non-finite loss;
        the network holds the last good weights) or ``"interrupted"`` (a stop request or
        KeyboardInterrupt; an unfinished epoch is undone).
    optimizer_state : dict[str, ndarray]
        The optimiser's moments and step count after the last finished epoch; pass it
        back in a :class:`Resume` with the history to continue.
    """

    history: list = field(default_factory=list)
    best_state: dict = field(default_factory=dict)
    best_epoch: int = 0
    stopped: str = "completed"
    optimizer_state: dict = field(default_factory=dict)


class _Interrupted(Exception):
    """Raised inside the loop when ``stop`` is set; caught by :func:`fit` alone."""


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


class _BestModel:
    """Which weights to keep, and how long since the validation accuracy last improved.

    Of equally accurate epochs the one with the lowest validation loss is kept, but only a
    better accuracy resets patience (a lower loss at the same accuracy does not postpone
    the stop). Without validation data every epoch is the best so far.
    """

    def __init__(self, history: list, state: dict) -> None:
        scored = [h for h in history if h.get("val_acc") is not None]
        best = max(scored, key=_validation_key, default=None)
        self.key = _validation_key(best) if best else (-math.inf, -math.inf)
        self.epoch = best["epoch"] if best else 0
        self.state = state
        self.since_better_accuracy = 0

    def offer(self, stats: dict, net) -> None:
        if stats["val_acc"] is None:
            self.state, self.epoch = net.state(), stats["epoch"]
            return
        key = _validation_key(stats)
        self.since_better_accuracy = 0 if key[0] > self.key[0] else self.since_better_accuracy + 1
        if key > self.key:
            self.key, self.state, self.epoch = key, net.state(), stats["epoch"]


def _run_epoch(epoch, net, stepper, opt, params, train, options: FitOptions, on_batch, stop):
    """One pass over the shuffled training set; returns (mean loss, accuracy) or None on a
    non-finite loss. Raises :class:`_Interrupted` when ``stop`` is set between batches."""
    x_train, y_train = train
    n, bs = x_train.shape[0], options.batch_size
    n_batches = -(-n // bs)
    order = np.random.default_rng([options.seed, epoch]).permutation(n)
    drop_rng = np.random.default_rng([options.seed, epoch, 1])
    drop_rng2 = np.random.default_rng([options.seed, epoch, 2])
    total, correct = 0.0, 0
    for i in range(n_batches):
        if stop is not None and stop.is_set():
            raise _Interrupted
        idx = order[i * bs : (i + 1) * bs]
        value, right = stepper.step(x_train[idx], y_train[idx], drop_rng, drop_rng2)
        if not math.isfinite(value):
            return None
        opt.step(params, net.gradients())
        total += value * len(idx)
        correct += right
        if on_batch is not None:
            on_batch(epoch, i, n_batches, total / min((i + 1) * bs, n))
    return total / n, correct / n


def fit(net, x_train, y_train, x_val=None, y_val=None, options: FitOptions | None = None, *,
        on_batch=None, on_epoch=None, resume: Resume | None = None,
        stop: threading.Event | None = None) -> FitResult:
    """Train ``net`` in place by mini-batch back-propagation and return a :class:`FitResult`.

    Each epoch shuffles the training set with a generator seeded by ``(options.seed,
    epoch)``, so a run is repeatable bit for bit and a resumed run continues exactly where
    the saved one stopped. The weights with the best validation accuracy are kept (of
    equally accurate epochs, the one with the lowest validation loss). OpenBLAS runs with one
    thread inside ``fit`` (restored after): a step is many small matrix products, and a
    second BLAS thread mostly waits; the second core instead runs half of each batch in a
    thread of its own (``options.threads``; see ``cnnconv.nn._step``).

    Parameters
    ----------
    net : cnnconv.nn.model.Network
    x_train, y_train : ndarray (N, H, W, C), (N,) int
    x_val, y_val : ndarray or None
        Validation data; without it the last epoch is the best.
    options : FitOptions, optional
        Defaults to ``FitOptions()``.
    on_batch : callable(epoch, i, n_batches, running_loss), optional
    on_epoch : callable(dict), optional
        Called with each new history entry, after the best model has been updated.
    resume : Resume, optional
        The run to continue.
    stop : threading.Event, optional
        Checked before every batch: once set, the unfinished epoch is undone and the
        result says ``"interrupted"``. (A ``KeyboardInterrupt`` does the same.)

    Examples
    --------
    >>> from cnnconv.nn.model import build_network
    >>> from cnnconv.shape.layer import Layer
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(64, 4, 4, 1)).astype(np.float32); y = (x.mean(axis=(1, 2, 3)) > 0).astype(int)
    >>> net = build_network([Layer("flatten", text="flatten")], (4, 4, 1), 2)
    >>> result = fit(net, x, y, x, y, FitOptions(lr=0.05, epochs=20, batch_size=16))
    >>> result.stopped, result.history[-1]["val_acc"] > 0.9
    ('completed', True)
    """
    options = FitOptions() if options is None else options
    if not isinstance(options, FitOptions):
        raise CnnconvError(f"options must be a FitOptions, got {type(options).__name__}")
    resume = resume or Resume()
    loss_fn = get_loss(options.loss)
    train = _check_data(net, x_train, y_train, "training")
    if train[0].shape[0] == 0:
        raise CnnconvError("no training images")
    validation = None
    if x_val is not None and len(x_val) > 0:
        validation = _check_data(net, x_val, y_val, "validation")
    params = net.parameters()
    opt = make_optimizer(options.optimizer, params, lr=options.lr, momentum=options.momentum,
                         nesterov=options.nesterov, weight_decay=options.weight_decay)
    if resume.optimizer_state:
        opt.load_state(resume.optimizer_state)
    history = [dict(h) for h in resume.history]
    best = _BestModel(history, net.state())
    result = FitResult(history, best.state, best.epoch, "completed", opt.state())
    # many small GEMMs: OpenBLAS's second thread only waits, and when another process holds
    # a core every call stalls (see BENCHMARKS.md, "Training")
    split = split_threads(options.threads, options.batch_size, usable_cpus()) == 2
    epoch_start = None
    try:
        with single_threaded_blas(), ThreadPoolExecutor(1) if split else contextlib.nullcontext() as pool:
            stepper = Stepper(net, loss_fn, pool)
            for epoch in range(len(history) + 1, len(history) + options.epochs + 1):
                epoch_start = net.state(), result.optimizer_state
                t0 = time.perf_counter()
                trained = _run_epoch(epoch, net, stepper, opt, params, train, options, on_batch, stop)
                if trained is None:
                    net.load_state(epoch_start[0])
                    result.stopped = "nan"
                    break
                val_acc, val_loss = _validate(net, *validation) if validation else (None, None)
                seconds = time.perf_counter() - t0
                n = train[0].shape[0]
                stats = {"epoch": epoch, "loss": trained[0], "train_acc": trained[1], "val_acc": val_acc,
                         "val_loss": val_loss, "seconds": seconds,
                         "images_per_s": n / seconds if seconds > 0 else float("inf")}
                history.append(stats)
                epoch_start = None  # the epoch is whole: an interrupt from here on keeps it
                result.optimizer_state = opt.state()
                best.offer(stats, net)
                result.best_state, result.best_epoch = best.state, best.epoch
                if on_epoch is not None:
                    on_epoch(dict(stats))
                if options.patience is not None and best.since_better_accuracy >= options.patience:
                    result.stopped = "early"
                    break
    except (_Interrupted, KeyboardInterrupt):
        if epoch_start is not None:  # undo the unfinished epoch
            net.load_state(epoch_start[0])
            result.optimizer_state = epoch_start[1]
        result.stopped = "interrupted"
    result.history = history
    result.best_state, result.best_epoch = best.state, best.epoch
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
