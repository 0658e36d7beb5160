"""Optimisers: SGD (momentum, Nesterov) and Adam, with L2 weight decay on the weights.

An optimiser is the only thing that changes a weight: :meth:`step` writes into the
parameter arrays in place. Its state (moments, step count) is plain arrays keyed by
parameter name, so it can be saved next to a model and loaded to resume training.
"""

from __future__ import annotations

import numpy as np

from cnnconv.errors import CnnconvError


class _Optimizer:
    kind = ""
    slots: tuple[str, ...] = ()

    def __init__(self, parameters, lr, weight_decay=0.0):
        if not (lr >= 0 or np.isnan(lr)):
            raise CnnconvError(f"learning rate must be >= 0, got {lr}")
        if weight_decay < 0:
            raise CnnconvError(f"weight decay must be >= 0, got {weight_decay}")
        self.lr = float(lr)
        self.weight_decay = float(weight_decay)
        self.names = [name for name, _ in parameters]
        self.t = 0
        self.buffers = {
            slot: {name: np.zeros_like(value) for name, value in parameters} for slot in self.slots
        }

    def _decayed(self, name, param, grad):
        # L2 decay on weights only: biases have no scale to shrink
        if self.weight_decay and name.endswith("weight"):
            return grad + self.weight_decay * param
        return grad

    def step(self, parameters, gradients) -> None:
        """Update every parameter in place from its gradient."""
        self.t += 1
        for (name, param), grad in zip(parameters, gradients):
            self._update(name, param, self._decayed(name, param, grad))

    def state(self) -> dict[str, np.ndarray]:
        """Step count and moment buffers, keyed ``"step"`` and ``"<slot>.<parameter name>"``."""
        out = {"step": np.array(self.t, dtype=np.int64)}
        for slot, values in self.buffers.items():
            out.update({f"{slot}.{name}": value.copy() for name, value in values.items()})
        return out

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        """Restore a :meth:`state`; names and shapes must match this optimiser's parameters."""
        expected = {"step"} | {f"{s}.{n}" for s in self.slots for n in self.names}
        if set(state) != expected:
            raise CnnconvError(
                f"the saved optimiser state does not fit this network and optimiser ({self.kind}) "
                f"(missing {sorted(expected - set(state))[:3]}, unexpected {sorted(set(state) - expected)[:3]})"
            )
        for slot, values in self.buffers.items():
            for name, value in values.items():
                new = np.asarray(state[f"{slot}.{name}"])
                if new.shape != value.shape:
                    raise CnnconvError(f"saved {slot} for {name} has shape {new.shape}, expected {value.shape}")
                np.copyto(value, new, casting="same_kind")
        self.t = int(state["step"])


class SGD(_Optimizer):
    """Stochastic gradient descent, PyTorch's form: ``b = mu b + g``; ``w -= lr (g + mu b)`` (Nesterov) or ``lr b``.

    Examples
    --------
    >>> w = np.array([1.0])
    >>> opt = SGD([("w.weight", w)], lr=0.1, momentum=0.9)
    >>> opt.step([("w.weight", w)], [np.array([1.0])]); opt.step([("w.weight", w)], [np.array([1.0])])
    >>> round(float(w[0]), 6)
    0.71
    """

    kind = "sgd"

    def __init__(self, parameters, lr=0.01, momentum=0.0, nesterov=False, weight_decay=0.0):
        if not 0.0 <= momentum < 1.0:
            raise CnnconvError(f"momentum must be in [0, 1), got {momentum}")
        if nesterov and momentum == 0.0:
            raise CnnconvError("Nesterov momentum needs momentum > 0")
        self.slots = ("momentum",) if momentum else ()
        super().__init__(parameters, lr, weight_decay)
        self.momentum, self.nesterov = float(momentum), bool(nesterov)

    def _update(self, name, param, grad):
        if self.momentum:
            buf = self.buffers["momentum"][name]
            buf *= self.momentum
            buf += grad
            grad = grad + self.momentum * buf if self.nesterov else buf
        param -= (self.lr * grad).astype(param.dtype, copy=False)


class Adam(_Optimizer):
    """Adam (Kingma and Ba 2015) with bias correction; weight decay as an L2 term in the gradient.

    Examples
    --------
    >>> w = np.array([1.0])
    >>> opt = Adam([("w.weight", w)], lr=0.1)
    >>> opt.step([("w.weight", w)], [np.array([5.0])])
    >>> round(float(w[0]), 6)      # the first step moves by lr whatever the gradient's size
    0.9
    """

    kind = "adam"
    slots = ("m", "v")

    def __init__(self, parameters, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(parameters, lr, weight_decay)
        self.beta1, self.beta2 = (float(b) for b in betas)
        if not (0 <= self.beta1 < 1 and 0 <= self.beta2 < 1):
            raise CnnconvError(f"Adam betas must be in [0, 1), got {betas}")
        self.eps = float(eps)

    def _update(self, name, param, grad):
        m, v = self.buffers["m"][name], self.buffers["v"][name]
        m *= self.beta1
        m += (1.0 - self.beta1) * grad
        v *= self.beta2
        v += (1.0 - self.beta2) * (grad * grad)
        step = self.lr / (1.0 - self.beta1**self.t)
        denom = np.sqrt(v / (1.0 - self.beta2**self.t))
        denom += self.eps
        param -= (step * m / denom).astype(param.dtype, copy=False)


#: The optimisers :func:`make_optimizer` builds.
OPTIMIZERS = ("adam", "sgd")


def make_optimizer(name, parameters, *, lr, momentum=0.9, nesterov=False, weight_decay=0.0):
    """``"adam"`` or ``"sgd"`` over ``parameters`` (a list of ``(name, array)``).

    Examples
    --------
    >>> make_optimizer("sgd", [], lr=0.1).kind
    'sgd'
    """
    if name == "adam":
        return Adam(parameters, lr=lr, weight_decay=weight_decay)
    if name == "sgd":
        return SGD(parameters, lr=lr, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay)
    raise CnnconvError(f"unknown optimizer {name!r}; use adam or sgd")
