"""Alpha: colour weighted by coverage, so transparent pixels add no colour.

An image with alpha is filtered as premultiplied colour: the colour times alpha is
filtered and divided afterwards by the *coverage*, the alpha filtered with the kernel's
``|w| / sum|w|``. A transparent pixel adds no colour (no bleed), a blur gives the usual
premultiplied result, and an edge kernel on an opaque image gives what it gives without
alpha. Where the coverage is about 0 there is no colour to divide: the plain filter's
value is kept.
"""

from __future__ import annotations

import numpy as np

_TRANSPARENT = 1e-5  # coverage below this is "no colour here": fall back to the plain filter


def compute_dtype(samples: np.ndarray):
    """The float type an image is computed in: float32 for 8-bit samples, float64 otherwise.

    >>> compute_dtype(np.zeros(2, np.uint8)), compute_dtype(np.zeros(2, np.uint16))
    (<class 'numpy.float32'>, <class 'numpy.float64'>)
    """
    return np.float32 if samples.dtype == np.uint8 else np.float64


def guess_has_alpha(samples: np.ndarray) -> bool:
    """Whether the last channel is taken as alpha when the caller does not say: 2 or 4 channels.

    >>> guess_has_alpha(np.zeros((2, 2, 4))), guess_has_alpha(np.zeros((2, 2, 3)))
    (True, False)
    """
    return samples.ndim == 3 and samples.shape[2] in (2, 4)


def alpha_top(samples: np.ndarray) -> float:
    """The sample value of full opacity: the integer type's largest value, 1 for floats."""
    return float(np.iinfo(samples.dtype).max) if samples.dtype.kind in "ui" else 1.0


def split_alpha(samples: np.ndarray, has_alpha: bool, policy: str):
    """Float values to compute on and the alpha in [0, 1] (None when alpha is not weighted).

    Parameters
    ----------
    samples : ndarray
        (n,), (H, W) or (H, W, C).
    has_alpha : bool
        The last channel is alpha.
    policy : {"premultiply", "keep", "channel"}
        ``channel`` computes alpha as an ordinary channel (no weighting).

    Returns
    -------
    values : ndarray
        Float; gray+alpha gives (H, W), other colour (H, W, C-1).
    alpha : ndarray or None
        (H, W), in [0, 1].

    Examples
    --------
    >>> x, a = split_alpha(np.array([[[10, 255], [20, 0]]], np.uint8), True, "premultiply")
    >>> x.tolist(), a.tolist()
    ([[10.0, 20.0]], [[1.0, 0.0]])
    """
    dtype = compute_dtype(samples)
    x = samples.astype(dtype)
    if has_alpha and policy != "channel":
        alpha = x[..., -1] / dtype(alpha_top(samples))
        x = x[..., :-1]
        return (x[..., 0] if x.shape[2] == 1 else x), alpha
    return x, None


def weighted(apply, apply_coverage, x, alpha):
    """``apply(x)`` with colour weighted by alpha; returns the result and the coverage.

    Parameters
    ----------
    apply : callable
        The operation (a correlation, a pooling) on (H, W) or (H, W, C) values.
    apply_coverage : callable
        The same operation with non-negative weights summing to one (``|w| / sum|w|`` for
        a kernel, the window average for pooling), applied to the (H, W) alpha.
    x : ndarray
    alpha : ndarray or None
        None: ``apply(x)`` alone, and no coverage.

    Returns
    -------
    result : ndarray
    coverage : ndarray or None
        In [0, 1].

    Examples
    --------
    >>> x = np.array([[100.0, 0.0]]); a = np.array([[1.0, 0.0]])  # the right pixel is transparent
    >>> mean = lambda v: np.repeat(v.mean(axis=1, keepdims=True), 2, axis=1)
    >>> y, cov = weighted(mean, mean, x, a)
    >>> y.tolist(), cov.tolist()
    ([[100.0, 100.0]], [[0.5, 0.5]])
    """
    if alpha is None:
        return apply(x), None
    coverage = apply_coverage(alpha)
    numerator = apply(x * (alpha[..., None] if x.ndim == 3 else alpha))
    seen = coverage > _TRANSPARENT
    share = np.where(seen, coverage, 1).astype(coverage.dtype)
    y = numerator / (share[..., None] if numerator.ndim == 3 else share)
    if not seen.all():
        plain = apply(x)
        y = np.where(seen[..., None] if y.ndim == 3 else seen, y, plain)
    return y, np.clip(coverage, 0, 1)
