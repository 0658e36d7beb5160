"""Weight initialisation: He (for ReLU-like layers) and Glorot (for the others)."""

from __future__ import annotations

import numpy as np


def he_normal(shape, fan_in, rng, dtype=np.float32):
    """Normal with std ``sqrt(2 / fan_in)`` (He et al. 2015), for layers followed by ReLU/abs.

    Examples
    --------
    >>> w = he_normal((5, 5, 1, 8), 25, np.random.default_rng(0))
    >>> w.dtype, w.shape, 0.2 < float(w.std()) < 0.35
    (dtype('float32'), (5, 5, 1, 8), True)
    """
    return (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(dtype)


def glorot_uniform(shape, fan_in, fan_out, rng, dtype=np.float32):
    """Uniform on ``±sqrt(6 / (fan_in + fan_out))`` (Glorot and Bengio 2010).

    Examples
    --------
    >>> w = glorot_uniform((84, 10), 84, 10, np.random.default_rng(0))
    >>> bool(np.abs(w).max() <= np.sqrt(6 / 94))
    True
    """
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=shape).astype(dtype)
