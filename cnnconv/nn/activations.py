"""Point-wise non-linearities and softmax as forward/backward pairs.

``forward(x) -> (y, cache)`` and ``backward(dy, cache) -> dx``; shapes are unchanged.
Every forward is written to stay finite for any finite input (no ``exp`` overflow).
"""

from __future__ import annotations

import numpy as np

from cnnconv.errors import CnnconvError


def relu_forward(x):
    """``max(x, 0)``; the cache is the mask of positive inputs.

    Examples
    --------
    >>> relu_forward(np.array([-1.0, 0.0, 2.0]))[0].tolist()
    [0.0, 0.0, 2.0]
    """
    y = np.maximum(x, 0)
    return y, y > 0


def relu_backward(dy, mask):
    """``dy`` where the input was positive, else 0 (the subgradient 0 at 0, as PyTorch)."""
    return dy * mask


def relu6_forward(x):
    """``min(max(x, 0), 6)`` (MobileNet's bounded ReLU); the cache is the mask of ``0 < x < 6``.

    Examples
    --------
    >>> relu6_forward(np.array([-1.0, 3.0, 9.0]))[0].tolist()
    [0.0, 3.0, 6.0]
    """
    y = np.clip(x, 0, 6)
    return y, (x > 0) & (x < 6)


def relu6_backward(dy, mask):
    """``dy`` where ``0 < x < 6``, else 0 (the subgradient 0 at both kinks, as PyTorch's ``hardtanh``)."""
    return dy * mask


def sigmoid_forward(x):
    """``1 / (1 + exp(-x))`` (Mendez-Vazquez's Convolutional Networks), evaluated without overflow for large ``|x|``.

    Examples
    --------
    >>> sigmoid_forward(np.array([0.0, -1000.0, 1000.0]))[0].tolist()
    [0.5, 0.0, 1.0]
    """
    e = np.exp(-np.abs(x))
    y = np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(x.dtype, copy=False)
    return y, y


def sigmoid_backward(dy, y):
    """``dy * s (1 - s)``."""
    return dy * y * (1.0 - y)


def tanh_forward(x):
    """``tanh(x)``.

    Examples
    --------
    >>> tanh_forward(np.array([0.0]))[0].tolist()
    [0.0]
    """
    y = np.tanh(x)
    return y, y


def tanh_backward(dy, y):
    """``dy * (1 - tanh^2)``."""
    return dy * (1.0 - y * y)


def softplus_forward(x):
    """``ln(1 + e^x)`` (Mendez-Vazquez's Convolutional Networks's soft non-linearity with k = 1), as ``logaddexp(0, x)``.

    Examples
    --------
    >>> [round(v, 4) for v in softplus_forward(np.array([0.0, 1000.0]))[0].tolist()]
    [0.6931, 1000.0]
    """
    return np.logaddexp(0.0, x).astype(x.dtype, copy=False), x


def softplus_backward(dy, x):
    """``dy * sigmoid(x)``, the derivative ``e^x / (1 + e^x)`` of Mendez-Vazquez's Convolutional Networks."""
    return dy * sigmoid_forward(x)[0]


def abs_forward(x):
    """Rectification ``|x|`` (Mendez-Vazquez's Convolutional Networks, the ``R_abs`` layer).

    Examples
    --------
    >>> abs_forward(np.array([-2.0, 3.0]))[0].tolist()
    [2.0, 3.0]
    """
    return np.abs(x), np.sign(x).astype(x.dtype, copy=False)


def abs_backward(dy, sign):
    """``dy * sgn(x)`` (0 at 0)."""
    return dy * sign


def softmax(z, axis=-1):
    """``exp(z - max z) / sum exp(z - max z)`` along ``axis``: never overflows.

    Examples
    --------
    >>> softmax(np.array([[0.0, 0.0], [1000.0, 0.0]])).tolist()
    [[0.5, 0.5], [1.0, 0.0]]
    """
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    e /= e.sum(axis=axis, keepdims=True)
    return e


def softmax_forward(x):
    """Softmax over the last axis (the channels); the cache is the output."""
    y = softmax(x, axis=-1)
    return y, y


def softmax_backward(dy, y):
    """``y * (dy - sum(dy * y))`` over the last axis (the softmax Jacobian times ``dy``)."""
    return y * (dy - (dy * y).sum(axis=-1, keepdims=True))


ACTIVATIONS = {
    "relu": (relu_forward, relu_backward),
    "relu6": (relu6_forward, relu6_backward),
    "sigmoid": (sigmoid_forward, sigmoid_backward),
    "tanh": (tanh_forward, tanh_backward),
    "softplus": (softplus_forward, softplus_backward),
    "abs": (abs_forward, abs_backward),
    "softmax": (softmax_forward, softmax_backward),
}


def activation(kind):
    """The ``(forward, backward)`` pair for an activation name.

    Examples
    --------
    >>> activation("relu")[0](np.array([-1.0]))[0].tolist()
    [0.0]
    """
    try:
        return ACTIVATIONS[kind]
    except KeyError:
        raise CnnconvError(
            f"unknown activation {kind!r}; use one of {', '.join(ACTIVATIONS)}"
        ) from None
