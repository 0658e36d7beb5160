"""The non-spatial layers as pure functions: dense (fully connected), flatten, dropout.

Same conventions as :mod:`cnnconv.nn.functional`: every ``*_forward`` returns ``(y, cache)``
and every ``*_backward`` takes the upstream gradient and that cache; nothing here keeps state
or updates a weight. Dense weights are ``(n_in, n_out)``, biases ``(n_out,)``.
"""

from __future__ import annotations

import numpy as np

from cnnconv.errors import CnnconvError
from cnnconv.nn.functional import column_sums


def dense_forward(x, w, b):
    """Fully connected layer ``z = x W + b`` (Mendez-Vazquez's Convolutional Networks: ``z_i = sum_k w_ik y_k``).

    A batch of feature maps is flattened first in (H, W, C) order. ``b=None`` is a
    layer without bias (``fc{N}:nobias``).

    Shape
    -----
    ``x`` (N, ...) with ``prod(...) = n_in``; ``w`` (n_in, n_out); ``b`` (n_out,) ->
    ``z`` (N, n_out).

    Examples
    --------
    >>> z, _ = dense_forward(np.ones((2, 1, 1, 3)), np.ones((3, 2)), np.array([0.0, 1.0]))
    >>> z.tolist()
    [[3.0, 4.0], [3.0, 4.0]]
    """
    x2 = x.reshape(x.shape[0], -1)
    if x2.shape[1] != w.shape[0]:
        raise CnnconvError(f"dense layer expects {w.shape[0]} inputs per sample, got {x2.shape[1]}")
    z = x2 @ w
    if b is not None:
        z += b
    return z, (x2, x.shape, w, b is not None)


def dense_backward(dz, cache, *, need_dx=True):
    """Gradients ``(dx, dw, db)`` of :func:`dense_forward`; ``dx`` has the input's shape
    (``db`` is None for a layer without bias).

    Examples
    --------
    >>> z, cache = dense_forward(np.ones((2, 3)), np.ones((3, 2)), np.zeros(2))
    >>> dx, dw, db = dense_backward(np.ones_like(z), cache)
    >>> dx.tolist()[0], dw.tolist()[0], db.tolist()
    ([2.0, 2.0, 2.0], [2.0, 2.0], [2.0, 2.0])
    """
    x2, x_shape, w, has_bias = cache
    dw = x2.T @ dz
    db = column_sums(dz) if has_bias else None
    dx = (dz @ w.T).reshape(x_shape) if need_dx else None
    return dx, dw, db


def flatten_forward(x):
    """``(N, H, W, C) -> (N, H*W*C)`` in channels-last order; the cache is the input shape.

    Examples
    --------
    >>> flatten_forward(np.zeros((2, 3, 4, 5)))[0].shape
    (2, 60)
    """
    return x.reshape(x.shape[0], -1), x.shape


def flatten_backward(dy, cache):
    """Reshape the gradient back to the input shape."""
    return dy.reshape(cache)


def dropout_forward(x, rate, rng=None, *, mask=None):
    """Inverted dropout: zero each unit with probability ``rate``, scale the rest by ``1/(1-rate)``.

    The mask is drawn from ``rng`` (a seeded ``numpy.random.Generator``) unless one is
    given; at inference no dropout layer is called, so nothing needs rescaling then.

    Returns
    -------
    y : ndarray, same shape as ``x``
    mask : ndarray, the scaled keep mask (the cache)

    Examples
    --------
    >>> y, mask = dropout_forward(np.ones((1, 1000)), 0.5, np.random.default_rng(0))
    >>> sorted(set(y.ravel().tolist()))
    [0.0, 2.0]
    """
    if not 0.0 <= rate < 1.0:
        raise CnnconvError(f"dropout rate must be in [0, 1), got {rate}")
    if mask is None:
        if rng is None:
            raise CnnconvError("dropout in training needs a random generator (rng=...)")
        keep = rng.random(x.shape, dtype=np.float64 if x.dtype == np.float64 else np.float32)
        mask = (keep >= rate).astype(x.dtype)
        mask *= 1.0 / (1.0 - rate)
    return x * mask, mask


def dropout_backward(dy, mask):
    """Gradient of :func:`dropout_forward`: the same mask applied to ``dy``."""
    return dy * mask
