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

#: Added to the variance before the square root (PyTorch's default).
EPS = 1e-5
#: Weight of the newest batch in the running statistics (PyTorch's default).
MOMENTUM = 0.1


def _flat(x):
    return x.reshape(-1, x.shape[-1])


def batchnorm_train_forward(x, gamma, beta, eps=EPS):
    """Normalise with the batch's own statistics: ``y = gamma * (x - mean) / sqrt(var + eps) + beta``.

    Returns
    -------
    y : ndarray, like ``x``
    cache : tuple
        What :func:`batchnorm_backward` needs; ``cache[-1]`` is ``(mean, var)`` of the batch
        (the biased variance, which normalises) for :func:`update_running_stats`.

    Shape
    -----
    ``x`` (N, H, W, C) or (N, C); ``gamma``, ``beta`` (C,). Statistics over ``m = N*H*W``
    values per channel (``m = N`` for vectors). A batch of one vector (``m = 1``, e.g. the
    last batch of an epoch) has variance 0: its output is ``beta`` and no gradient passes.

    Examples
    --------
    >>> x = np.array([[1.0], [3.0]])
    >>> y, cache = batchnorm_train_forward(x, np.ones(1), np.zeros(1))
    >>> np.round(y.ravel(), 4).tolist(), cache[-1][0].tolist(), cache[-1][1].tolist()
    ([-1.0, 1.0], [2.0], [1.0])
    """
    flat = _flat(x)
    m = flat.shape[0]
    # statistics in float64 whatever the dtype: a float32 sum over 60,000 values loses digits
    mean = flat.mean(axis=0, dtype=np.float64)
    centred = flat - mean.astype(x.dtype)
    var = np.einsum("ij,ij->j", centred, centred, dtype=np.float64) / m
    inv_std = (1.0 / np.sqrt(var + eps)).astype(x.dtype)
    x_hat = centred * inv_std
    y = x_hat * gamma + beta
    return y.reshape(x.shape), (x_hat, inv_std, gamma, x.shape, (mean, var))


def batchnorm_backward(dy, cache):
    """Gradients ``(dx, dgamma, dbeta)`` of :func:`batchnorm_train_forward`.

    With ``g = dy * gamma``: ``dx = inv_std * (g - mean(g) - x_hat * mean(g * x_hat))``, the
    batch statistics differentiated through (each input moves the mean and variance too).

    Examples
    --------
    >>> y, cache = batchnorm_train_forward(np.array([[1.0], [3.0]]), np.ones(1), np.zeros(1))
    >>> dx, dgamma, dbeta = batchnorm_backward(np.ones_like(y), cache)
    >>> bool(np.abs(dx).max() < 1e-12), dbeta.tolist()     # a constant gradient moves only beta
    (True, [2.0])
    """
    x_hat, inv_std, gamma, shape, _ = cache
    g = _flat(dy)
    m = g.shape[0]
    dbeta = g.sum(axis=0)
    dgamma = np.einsum("ij,ij->j", g, x_hat)
    dx = g * (gamma * inv_std)
    dx -= (dbeta * (gamma * inv_std) / m).astype(dx.dtype)
    dx -= x_hat * ((dgamma * gamma * inv_std) / m).astype(dx.dtype)
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


def update_running_stats(running_mean, running_var, batch_stats, count, momentum=MOMENTUM):
    """Blend a batch's statistics into the running ones, in place (PyTorch's rule).

    ``batch_stats`` is ``(mean, var)`` from :func:`batchnorm_train_forward` (biased
    variance over ``count`` values); the running variance takes the unbiased one.

    Examples
    --------
    >>> rm, rv = np.zeros(1), np.ones(1)
    >>> update_running_stats(rm, rv, (np.array([2.0]), np.array([1.0])), 2)
    >>> rm.tolist(), [round(v, 4) for v in rv.tolist()]
    ([0.2], [1.1])
    """
    mean, var = batch_stats
    unbiased = var * (count / max(count - 1, 1))
    running_mean *= 1.0 - momentum
    running_mean += (momentum * mean).astype(running_mean.dtype)
    running_var *= 1.0 - momentum
    running_var += (momentum * unbiased).astype(running_var.dtype)
