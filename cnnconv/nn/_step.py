"""One training step (forward, loss, backward) on a batch, on one core or split over two.

NumPy runs each operation on one core, and a LeNet step is hundreds of small operations, so
the second core helps only if it gets its own work: half the batch, run in a second thread on
a twin of the network (``Network.twin``: the same weight arrays, its own caches and gradients).
Most of the time of both halves is spent in NumPy calls that release the GIL. The twin's
gradients are added to the network's, so the optimiser sees the gradient of the whole batch's
mean loss, as with one thread (up to rounding: the two halves are summed separately).

Batch norm normalises by the statistics of the whole batch, not of a half: while a batch is
split, each bn layer and its twin sum their halves' statistics (and, backwards, the two sums
its input gradient needs) through a :class:`PairSum`, a rendezvous of the two threads, as
PyTorch's ``SyncBatchNorm`` does between processes. Only the network's own layer updates the
running statistics, once per batch.
"""

from __future__ import annotations

import math
import threading
from functools import partial

#: Batches with fewer samples per half than this run on one thread.
MIN_HALF = 8


def split_threads(threads, batch_size, cpus):
    """How many threads a step uses: ``threads`` if given (1 or 2), else 2 when two CPUs
    are usable and a batch splits into halves of at least ``MIN_HALF`` samples.

    >>> split_threads(None, 64, 2), split_threads(None, 8, 2), split_threads(None, 64, 1), split_threads(1, 64, 2)
    (2, 1, 1, 1)
    """
    if threads is not None:
        return int(threads)
    return 2 if cpus >= 2 and batch_size >= 2 * MIN_HALF else 1


class PairSum:
    """The sum of one array from each of two threads, given to both (the same bits to each).

    ``total(side, value)`` blocks until the other side (0 or 1) has sent its value too. If a
    thread fails, :meth:`abort` wakes the other with ``threading.BrokenBarrierError`` instead of
    leaving it waiting; the pair is usable again after :meth:`reset`.

    >>> pair = PairSum()
    >>> t = threading.Thread(target=pair.total, args=(1, 2.0))
    >>> t.start(); print(pair.total(0, 1.0)); t.join()
    3.0
    """

    def __init__(self) -> None:
        self.barrier = threading.Barrier(2)
        self.slots = [None, None]

    def total(self, side: int, value):
        self.slots[side] = value
        self.barrier.wait()
        out = self.slots[0] + self.slots[1]  # in one order on both sides: identical results
        self.barrier.wait()  # both have read before either sends its next value
        return out

    def abort(self) -> None:
        self.barrier.abort()

    def reset(self) -> None:
        self.barrier.reset()


def _half(net, loss_fn, x, y, rng, share, pairs=()):
    """Forward, loss and (if the loss is finite) backward of ``share`` of the batch's mean loss.

    Both halves must make the same calls on their bn layers' pairs: a non-finite loss still
    runs the backward (its gradients are then discarded), and an error aborts the pairs."""
    try:
        logits = net.forward(x, training=True, rng=rng)
        value, dlogits = loss_fn(logits, y)
        if math.isfinite(value) or pairs:
            net.backward(dlogits if share == 1 else dlogits * share)
        return value, int((logits.argmax(axis=1) == y).sum())
    except BaseException:
        for pair in pairs:
            pair.abort()
        raise


class Stepper:
    """Runs training steps for ``net``; with a ``pool`` (a one-worker executor) batches of at
    least ``2 * MIN_HALF`` samples are split between this thread and the pool's.

    ``step`` returns the batch's mean loss and its number of correct predictions; unless the
    loss is NaN or infinite, ``net``'s gradients then hold the gradient of that mean loss.
    """

    def __init__(self, net, loss_fn, pool=None):
        self.net, self.loss_fn, self.pool = net, loss_fn, pool
        self.twin = net.twin() if pool is not None else None
        self.synced = []  # (layer, twin, pair) of every bn layer
        if self.twin is not None:
            for m, t in zip(net.modules, self.twin.modules):
                if m.spec.kind == "bn":
                    t.updates_running = False
                    self.synced.append((m, t, PairSum()))

    def _sync(self, on: bool) -> None:
        for m, t, pair in self.synced:
            if on:
                pair.reset()
            m.reduce, t.reduce = (partial(pair.total, 0), partial(pair.total, 1)) if on else (None, None)

    def step(self, x, y, rng, rng2=None):
        n = len(y)
        if self.twin is None or n < 2 * MIN_HALF:
            return _half(self.net, self.loss_fn, x, y, rng, 1)
        h = n // 2
        pairs = [pair for _, _, pair in self.synced]
        self._sync(True)
        try:
            other = self.pool.submit(_half, self.twin, self.loss_fn, x[h:], y[h:], rng2, (n - h) / n, pairs)
            try:
                value_a, correct_a = _half(self.net, self.loss_fn, x[:h], y[:h], rng, h / n, pairs)
            finally:
                value_b, correct_b = other.result()  # never leave the twin running
        finally:
            self._sync(False)
        value = value_a * (h / n) + value_b * ((n - h) / n)
        if math.isfinite(value):
            for m, t in zip(self.net.modules, self.twin.modules):
                for key, grad in t.grads.items():
                    m.grads[key] += grad
        return value, correct_a + correct_b
