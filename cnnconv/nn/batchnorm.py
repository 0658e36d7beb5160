"""Batch normalisation (Ioffe and Szegedy 2015) as pure functions.

In training, each channel is normalised by the mean and variance of the batch (over the
batch and, for maps, every pixel), then scaled by ``gamma`` and shifted by ``beta``. At
inference the running statistics are used instead, so one image's output does not depend
on the others of its batch. The running statistics are buffers, not parameters: no
gradient reaches them and the optimiser never sees them. :func:`update_running_stats` is
the rule, PyTorch's: after each training forward, ``running = (1 - momentum) * running +
momentum * batch`` with the batch variance unbiased (divided by ``m - 1``), momentum 0.1.

Same conventions as :mod:`cnnconv.nn.functional`: ``*_forward`` returns ``(y, cache)``,
``*_backward`` takes the upstream gradient and the cache. Channels are the last axis of
``(N, H, W, C)`` maps or ``(N, C)`` vectors.
"""

from __future__ import annotations

import numpy as np

from cnnconv.nn.functional import column_sums

#: Added to the variance before the square root (PyTorch's default).
EPS = 1e-5
#: Weight of the newest batch in the running statistics (PyTorch's default).
MOMENTUM = 0.1


def _flat(x):
    return x.reshape(-1, x.shape[-1])


def _local(value):
    return value


def batchnorm_train_forward(x, gamma, beta, eps=EPS, reduce=None):
    """Normalise with the batch's own statistics: ``y = gamma * (x - mean) / sqrt(var + eps) + beta``.

    Parameters
    ----------
    x : ndarray (N, H, W, C) or (N, C)
    gamma, beta : ndarray (C,)
    eps : float
    reduce : callable, optional
        Sums an array over every part of a batch split between workers (each calls it with
        its own part's sums and gets the total): the statistics are then the whole batch's,
        as if one worker had it all. None: this array is the whole batch.

    Returns
    -------
    y : ndarray, like ``x``
    cache : tuple
        What :func:`batchnorm_backward` needs; ``cache[-1]`` is ``(mean, var, count)`` of the
        batch (the biased variance, which normalises) for :func:`update_running_stats`.

    Shape
    -----
    Statistics over ``m = N*H*W`` values per channel (``m = N`` for vectors). A batch of one
    vector (``m = 1``, e.g. the last batch of an epoch) has variance 0: its output is ``beta``
    and no gradient passes.

    Examples
    --------
    >>> x = np.array([[1.0], [3.0]])
    >>> y, cache = batchnorm_train_forward(x, np.ones(1), np.zeros(1))
    >>> np.round(y.ravel(), 4).tolist(), cache[-1][0].tolist(), cache[-1][1].tolist()
    ([-1.0, 1.0], [2.0], [1.0])
    """
    reduce = reduce or _local
    flat = _flat(x)
    c = flat.shape[1]
    # column sums as one matrix-vector product (cnnconv.nn.functional.column_sums: ~20x faster
    # than .sum(axis=0) on a tall matrix); BLAS accumulates in blocks, so float32 keeps its digits
    first = reduce(np.concatenate([[float(flat.shape[0])], column_sums(flat).astype(np.float64)]))
    count, mean = first[0], first[1:] / max(first[0], 1.0)
    centred = flat - mean.astype(x.dtype)
    var = reduce(np.einsum("ij,ij->j", centred, centred).astype(np.float64)) / max(count, 1.0)
    inv_std = (1.0 / np.sqrt(var + eps)).astype(x.dtype)
    # y = centred * (gamma * inv_std) + beta in two passes over one new array; x_hat is never
    # stored (the backward folds inv_std into its per-channel factors): each pass and each
    # fresh map-sized array costs as much as the arithmetic here
    y = centred * (gamma * inv_std).astype(x.dtype)
    y += beta.astype(x.dtype)
    return y.reshape(x.shape), (centred, inv_std, gamma, x.shape, reduce, count, c, (mean, var, count))


def batchnorm_backward(dy, cache):
    """Gradients ``(dx, dgamma, dbeta)`` of :func:`batchnorm_train_forward`.

    With ``g = dy * gamma``: ``dx = inv_std * (g - mean(g) - x_hat * mean(g * x_hat))`` (two
    reductions, ``x_hat`` recomputed from the cached centred input inside the factors), the
    batch statistics differentiated through (each input moves the mean and variance too); the
    means are over the whole batch (through the forward's ``reduce``), while ``dgamma`` and
    ``dbeta`` are this part's own sums (the parts' gradients add up to the batch's).

    Examples
    --------
    >>> y, cache = batchnorm_train_forward(np.array([[1.0], [3.0]]), np.ones(1), np.zeros(1))
    >>> dx, dgamma, dbeta = batchnorm_backward(np.ones_like(y), cache)
    >>> bool(np.abs(dx).max() < 1e-12), dbeta.tolist()     # a constant gradient moves only beta
    (True, [2.0])
    """
    centred, inv_std, gamma, shape, reduce, count, c, _ = cache
    g = _flat(dy)
    dbeta = column_sums(g)
    dgamma = np.einsum("ij,ij->j", g, centred) * inv_std  # sum(g * x_hat), x_hat = centred * inv_std
    totals = reduce(np.concatenate([dbeta, dgamma]).astype(np.float64))
    scale = gamma * inv_std
    # dx = g * scale - (centred * k2 + k1), per-channel k1 = scale * mean(g), k2 = scale * inv_std * mean(g * x_hat)
    dx = centred * (totals[c:] * scale * inv_std / count).astype(g.dtype)
    dx += (totals[:c] * scale / count).astype(g.dtype)
    np.subtract(g * scale.astype(g.dtype), dx, out=dx)
    return dx.reshape(shape), dgamma.astype(gamma.dtype), dbeta.astype(gamma.dtype)


def batchnorm_infer_forward(x, gamma, beta, running_mean, running_var, eps=EPS):
    """Normalise with the running statistics (inference): an affine map per channel.

    Examples
    --------
    >>> y = batchnorm_infer_forward(np.array([[4.0]]), np.ones(1), np.zeros(1), np.array([2.0]), np.array([4.0]))
    >>> round(float(y[0, 0]), 4)
    1.0
    """
    scale = (gamma / np.sqrt(running_var + eps)).astype(x.dtype)
    shift = (beta - running_mean * scale).astype(x.dtype)
    return x * scale + shift


def update_running_stats(running_mean, running_var, batch_stats, momentum=MOMENTUM):
    """Blend a batch's statistics into the running ones, in place (PyTorch's rule).

    ``batch_stats`` is ``(mean, var, count)`` from :func:`batchnorm_train_forward` (the
    biased variance over ``count`` values); the running variance takes the unbiased one.

    Examples
    --------
    >>> rm, rv = np.zeros(1), np.ones(1)
    >>> update_running_stats(rm, rv, (np.array([2.0]), np.array([1.0]), 2.0))
    >>> rm.tolist(), [round(v, 4) for v in rv.tolist()]
    ([0.2], [1.1])
    """
    mean, var, count = batch_stats
    unbiased = var * (count / max(count - 1, 1))
    running_mean *= 1.0 - momentum
    running_mean += (momentum * mean).astype(running_mean.dtype)
    running_var *= 1.0 - momentum
    running_var += (momentum * unbiased).astype(running_var.dtype)
