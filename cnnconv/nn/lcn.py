"""Local contrast normalisation (Mendez-Vazquez's Convolutional Networks): subtractive, then divisive, with its backward.

For a batch ``x`` (N, H, W, C) and a normalised Gaussian window ``G`` (size ``k``,
``sigma``):

* subtractive (002, eq. 15): ``v = x - G * mean_c(x)`` — each unit minus the
  Gaussian-weighted mean of its neighbourhood over all feature maps;
* divisive (002, eq. 17 with ``lambda = 1``, ``mu = 1/2``, the sum taken over the same
  Gaussian neighbourhood as in Jarrett et al. 2009): ``y = v / sqrt(kappa + G * mean_c(v^2))``.

Near the border the window is cut by the image: the weighted sums are divided by the
weight that falls inside it, so a constant image stays a weighted mean of itself
(``v = 0``) up to the edge. ``kappa`` keeps flat regions from being amplified.
"""

from __future__ import annotations

import numpy as np

from cnnconv.errors import CnnconvError


def gaussian_taps(size: int, sigma: float | None = None, dtype=np.float64) -> np.ndarray:
    """1-D Gaussian of ``size`` taps summing to 1; ``sigma`` defaults to ``size / 4``.

    The 2-D window of Mendez-Vazquez's Convolutional Networks (eq. 16) is the outer product of two of these.

    Examples
    --------
    >>> g = gaussian_taps(5)
    >>> round(float(g.sum()), 6), bool(g[2] > g[1] > g[0])
    (1.0, True)
    """
    if size < 1 or size % 2 == 0:
        raise CnnconvError(f"lcn window size must be odd and >= 1, got {size}")
    sigma = size / 4.0 if sigma is None else sigma
    r = np.arange(size) - size // 2
    g = np.exp(-(r * r) / (2.0 * sigma * sigma))
    return (g / g.sum()).astype(dtype)


def _smooth(z: np.ndarray, taps: np.ndarray) -> np.ndarray:
    """Zero-padded, same-size separable Gaussian of (N, H, W); symmetric, so self-adjoint."""
    h = taps.size // 2
    out = np.zeros_like(z)
    zp = np.pad(z, ((0, 0), (h, h), (0, 0)))
    for i, t in enumerate(taps):
        out += t * zp[:, i : i + z.shape[1], :]
    zp = np.pad(out, ((0, 0), (0, 0), (h, h)))
    out = np.zeros_like(z)
    for i, t in enumerate(taps):
        out += t * zp[:, :, i : i + z.shape[2]]
    return out


def lcn_forward(x, size=9, sigma=None, kappa=1.0):
    """Subtractive and divisive local contrast normalisation of an NHWC batch.

    Parameters
    ----------
    x : ndarray (N, H, W, C)
    size : int
        Odd window side of the Gaussian neighbourhood.
    sigma : float, optional
        Gaussian width; ``size / 4`` by default.
    kappa : float
        Added to the local variance before the square root (> 0).

    Returns
    -------
    y : ndarray (N, H, W, C)
    cache : tuple for :func:`lcn_backward`

    Examples
    --------
    A constant image has no contrast: everything becomes 0.

    >>> y, _ = lcn_forward(np.full((1, 6, 6, 2), 3.0), size=3)
    >>> float(np.abs(y).max()) < 1e-12
    True
    """
    if kappa <= 0:
        raise CnnconvError(f"lcn kappa must be > 0, got {kappa}")
    taps = gaussian_taps(size, sigma, dtype=x.dtype)
    n, h, w, c = x.shape
    inside = _smooth(np.ones((1, h, w), dtype=x.dtype), taps)[0]  # weight within the image
    mean = _smooth(x.mean(axis=3), taps) / inside
    v = x - mean[..., None]
    var = _smooth((v * v).mean(axis=3), taps) / inside
    d = np.sqrt(kappa + var)
    y = v / d[..., None]
    return y, (v, d, inside, taps)


def lcn_backward(dy, cache):
    """Gradient of :func:`lcn_forward` with respect to its input.

    Examples
    --------
    >>> x = np.random.default_rng(0).normal(size=(1, 5, 5, 2))
    >>> y, cache = lcn_forward(x, size=3)
    >>> lcn_backward(np.ones_like(y), cache).shape
    (1, 5, 5, 2)
    """
    v, d, inside, taps = cache
    c = v.shape[3]
    dv = dy / d[..., None]
    dd = -(dy * v).sum(axis=3) / (d * d)
    dvar = dd * 0.5 / d
    dq = _smooth(dvar / inside, taps)
    dv += v * (2.0 / c) * dq[..., None]
    dmean = -dv.sum(axis=3)
    da = _smooth(dmean / inside, taps)
    return dv + da[..., None] / c
