"""Alpha: colour weighted by coverage, so transparent pixels add no colour.

An image with alpha ``a`` (0..1) and colour ``x`` is filtered as premultiplied colour::

    coverage = S(a)                      S: the kernel's |w| / sum|w| (non-negative, sums to 1)
    colour   = F(a * x) / coverage       where coverage > 0; F(x) where it is 0
    alpha    = coverage                  (in 0..1)

with ``F`` the filter itself and the border counted opaque (the zero and constant
boundaries pad colour with 0 or V and alpha with 1). So

- an opaque image gives exactly what its RGB copy gives, and an opaque alpha: every
  window's coverage is 1 (values within float rounding of 1 are taken as 1, so nothing
  is divided);
- a transparent pixel adds no colour: ``a * x`` is 0 there whatever ``x`` holds;
- the result stays bounded for zero-sum kernels (derivatives): the divisor is built from
  ``|w|``, never from ``w``, so the kernel cannot make it 0 or negative, and
  ``|F(a x)| <= sum|w| * max|x| * coverage`` gives ``|colour| <= sum|w| * max|x|``, the
  bound of the plain filter.

Where the coverage is (within rounding of) 0 the window sees only transparent pixels and
the output pixel is transparent too: its colour, never visible, is the plain filter of the
colour hidden there, so an identity kernel returns a file unchanged and hidden colour
("alpha bleeding" in textures) is filtered among itself rather than blackened.
"""

from __future__ import annotations

import numpy as np

#: Coverage within this of 1 is taken as 1 (an opaque window), within this of 0 as 0 (no colour):
#: the rounding of a sum of |w|/sum|w| in the computing type, with room for FFT engines.
COVERAGE_ROUNDING = {np.dtype(np.float32): 1e-5, np.dtype(np.float64): 1e-10}


def float_type_for_samples(samples: np.ndarray):
    """The float type an image is computed in: float32 for 8-bit samples, float64 otherwise.

    >>> float_type_for_samples(np.zeros(2, np.uint8)), float_type_for_samples(np.zeros(2, np.uint16))
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
    return alpha_top_of(samples.dtype)


def alpha_top_of(dtype) -> float:
    """:func:`alpha_top` of a sample type.

    >>> alpha_top_of(np.uint16), alpha_top_of(np.float32)
    (65535.0, 1.0)
    """
    dtype = np.dtype(dtype)
    return float(np.iinfo(dtype).max) if dtype.kind in "ui" else 1.0


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
    dtype = float_type_for_samples(samples)
    x = samples.astype(dtype)
    if has_alpha and policy != "channel":
        alpha = x[..., -1] / dtype(alpha_top(samples))
        x = x[..., :-1]
        return (x[..., 0] if x.shape[2] == 1 else x), alpha
    return x, None


def weighted(apply, apply_coverage, x, alpha):
    """``apply(x)`` with colour weighted by alpha (the module's formula); the result and the coverage.

    Parameters
    ----------
    apply : callable
        The operation F (a correlation, a pooling) on (H, W) or (H, W, C) values.
    apply_coverage : callable
        S: the same operation with non-negative weights summing to one (``|w| / sum|w|``
        for a kernel, the window average for pooling), applied to the (H, W) alpha with
        the border counted opaque.
    x : ndarray
        (H, W) or (H, W, C) colour.
    alpha : ndarray or None
        (H, W) in [0, 1]; None: ``apply(x)`` alone, and no coverage.

    Returns
    -------
    result : ndarray
        ``F(alpha x) / S(alpha)``, ``F(x)`` where ``S(alpha)`` is 0; shape of ``apply(x)``.
    coverage : ndarray or None
        ``S(alpha)`` clipped to [0, 1], exactly 1 for opaque windows and 0 for transparent ones.

    Examples
    --------
    A derivative [-1, 0, 1] over gray 100, 50, 200 with alpha 1, 0.5, 0 (the border
    opaque, colour 0): the middle pixel sees 100 at full alpha on its left and nothing on
    its right, coverage (1 + 0) / 2, colour (0 - 100) / 0.5.

    >>> from cnnconv.conv import correlate
    >>> x, a = np.array([100.0, 50.0, 200.0]), np.array([1.0, 0.5, 0.0])
    >>> w = np.array([-1.0, 0.0, 1.0])
    >>> F = lambda v: correlate(v, w, mode="same")
    >>> S = lambda v: correlate(v, np.abs(w) / 2, mode="same", boundary="constant", cval=1.0)
    >>> y, cov = weighted(F, S, x, a)
    >>> np.round(y, 4).tolist(), cov.tolist()
    ([33.3333, -200.0, -33.3333], [0.75, 0.5, 0.75])
    """
    if alpha is None:
        return apply(x), None
    rounding = COVERAGE_ROUNDING.get(np.dtype(alpha.dtype), 1e-10)
    coverage = np.clip(apply_coverage(alpha), 0, 1)
    numerator = apply(x * (alpha[..., None] if x.ndim == 3 else alpha))
    opaque = coverage >= 1 - rounding
    empty = coverage <= rounding
    coverage[opaque] = 1
    coverage[empty] = 0
    if opaque.all():  # the usual case, an opaque image: nothing to divide
        return numerator, coverage
    share = np.where(opaque | empty, 1, coverage).astype(coverage.dtype)
    spread = (lambda m: m[..., None]) if numerator.ndim == 3 else (lambda m: m)
    y = numerator / spread(share)
    if empty.any():  # output alpha 0 there: the hidden colour filtered among itself
        y = np.where(spread(empty), apply(x), y)
    return y, coverage
