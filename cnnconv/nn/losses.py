"""Losses over a batch of logits: softmax cross-entropy and Mendez-Vazquez's Convolutional Networks's sum of squared errors.

Each returns ``(loss, dlogits)``: the mean loss over the batch (a Python float) and its
gradient with respect to the logits, so a training step needs one call.
"""

from __future__ import annotations

import numpy as np

from cnnconv.errors import CnnconvError
from cnnconv.nn.activations import softmax


def _check(logits: np.ndarray, labels: np.ndarray) -> None:
    if logits.ndim != 2 or labels.shape != (logits.shape[0],):
        raise CnnconvError(
            f"a loss needs logits (N, classes) and labels (N,), got {logits.shape} and {labels.shape}"
        )


def softmax_cross_entropy(logits, labels):
    """``mean_n( -log softmax(z_n)[t_n] )`` and its gradient ``(softmax(z) - onehot(t)) / N``.

    The cross-entropy error of Mendez-Vazquez's Convolutional Networks with the softmax folded in; computed as
    ``logsumexp(z) - z[t]`` with the maximum subtracted, so it is finite for any finite
    logits.

    Shape
    -----
    ``logits`` (N, K) float, ``labels`` (N,) int in ``[0, K)`` -> float, (N, K).

    Examples
    --------
    >>> loss, grad = softmax_cross_entropy(np.array([[0.0, 0.0]]), np.array([1]))
    >>> round(loss, 6), grad.tolist()
    (0.693147, [[0.5, -0.5]])
    >>> softmax_cross_entropy(np.array([[1000.0, -1000.0]]), np.array([1]))[0]
    2000.0
    """
    _check(logits, labels)
    n = logits.shape[0]
    shifted = logits - logits.max(axis=1, keepdims=True)
    logsum = np.log(np.exp(shifted).sum(axis=1))
    rows = np.arange(n)
    loss = float(np.mean(logsum - shifted[rows, labels]))
    grad = softmax(logits, axis=1)
    grad[rows, labels] -= 1.0
    grad /= n
    return loss, grad


def sse(logits, labels):
    """Sum of squared errors (Mendez-Vazquez's Convolutional Networks): ``mean_n( 1/2 sum_k (p_nk - t_nk)^2 )``.

    ``p = softmax(z)`` are the class probabilities and ``t`` the one-hot targets, so
    the outputs compared with the targets are the ones ``predict`` reports. The 1/2 is
    the seed's (``H = 1/2 (y - t)^2``), giving the gradient ``(p - t)`` through the
    softmax Jacobian.

    Shape
    -----
    ``logits`` (N, K), ``labels`` (N,) -> float, (N, K).

    Examples
    --------
    >>> loss, grad = sse(np.array([[0.0, 0.0]]), np.array([1]))
    >>> loss, grad.tolist()
    (0.25, [[0.25, -0.25]])
    """
    _check(logits, labels)
    n = logits.shape[0]
    p = softmax(logits, axis=1)
    err = p.copy()
    err[np.arange(n), labels] -= 1.0
    loss = float(0.5 * np.sum(err * err) / n)
    # softmax Jacobian applied to err: p * (err - sum(err * p))
    grad = p * (err - (err * p).sum(axis=1, keepdims=True))
    grad /= n
    return loss, grad


LOSSES = {"xent": softmax_cross_entropy, "sse": sse}


def get_loss(name: str):
    """The loss function for ``"xent"`` or ``"sse"``.

    Examples
    --------
    >>> get_loss("sse").__name__
    'sse'
    """
    try:
        return LOSSES[name]
    except KeyError:
        raise CnnconvError(f"unknown loss {name!r}; use one of: {', '.join(LOSSES)}") from None
