"""Kernels computed from parameters: Gaussian, box, Laplacian of Gaussian, difference of
Gaussians and unsharp masking.

Spelled on the command line as ``gaussian:sigma=2``, ``gaussian:2,size=7``, ``box:7``,
``box:3x5`` (3 rows, 5 columns), ``log:sigma=1.4``, ``dog:1,2`` and
``unsharp:sigma=1,amount=0.5`` (values by position or by name). Sizes default to
``2*ceil(3*sigma) + 1`` for the Gaussian and ``2*ceil(4*sigma) + 1`` (largest sigma)
for LoG and DoG, whose tails reach further; no side may exceed ``MAX_SIZE``.
The Gaussian and the box sum to 1; LoG and DoG sum to 0 (their sampled values are
shifted by their mean, as MATLAB's ``fspecial("log")`` does, so a flat region gives 0).
"""

from __future__ import annotations

import math
import re

import numpy as np

from cnnconv.errors import CnnconvError
from cnnconv.kernels.parsers import Kernel

#: Largest side of a parametric kernel.
MAX_SIZE = 1001
#: Smallest sigma accepted (a smaller one is the identity, and LoG's 1/sigma**4 would overflow).
MIN_SIGMA = 0.01
#: Largest sigma accepted (LoG's sigma**4 must stay finite; a larger one is flat on any kernel).
MAX_SIGMA = 1e6


def _check_sigma(sigma, name: str = "sigma") -> float:
    try:
        sigma = float(sigma)
    except (TypeError, ValueError):
        raise CnnconvError(f"{name} must be a number, got {sigma!r}") from None
    if not (math.isfinite(sigma) and MIN_SIGMA <= sigma <= MAX_SIGMA):
        raise CnnconvError(f"{name} must be a number from {MIN_SIGMA} to {MAX_SIGMA:g}, got {sigma:g}")
    return sigma


def _size(size, sigma: float, reach: int) -> int:
    if size is None:
        size = 2 * math.ceil(reach * sigma) + 1
        if size > MAX_SIZE:
            raise CnnconvError(
                f"sigma {sigma:g} needs a {size}x{size} kernel, larger than {MAX_SIZE}x{MAX_SIZE}; give a size"
            )
    if isinstance(size, float) and size.is_integer():
        size = int(size)
    if not isinstance(size, (int, np.integer)) or isinstance(size, bool) or not 1 <= size <= MAX_SIZE:
        raise CnnconvError(f"size must be a whole number from 1 to {MAX_SIZE}, got {size!r}")
    return int(size)


def _squared_radius(size: int) -> np.ndarray:
    x = np.arange(size) - (size - 1) / 2
    return x[:, None] ** 2 + x[None, :] ** 2


def _sampled_gaussian(sigma: float, size: int) -> np.ndarray:
    g = np.exp(-_squared_radius(size) / (2 * sigma * sigma))
    return g / g.sum()


def gaussian(sigma: float, size: int | None = None) -> Kernel:
    """A sampled 2-D Gaussian, normalised to sum 1.

    Shape
    -----
    (size, size), ``size = 2*ceil(3*sigma) + 1`` unless given.

    Examples
    --------
    >>> k = gaussian(1)
    >>> k.shape, round(float(k.weights.sum()), 12), k.name
    ((7, 7), 1.0, 'gaussian:sigma=1,size=7')
    """
    sigma = _check_sigma(sigma)
    size = _size(size, sigma, 3)
    return Kernel(
        f"gaussian:sigma={sigma:g},size={size}", _sampled_gaussian(sigma, size),
        description=f"Gaussian blur, sigma {sigma:g}, {size}x{size}, sums to 1",
    )


def box(size) -> Kernel:
    """A mean filter: ones with scale ``1/(rows*cols)``; ``size`` is N (square) or (rows, cols).

    Shape
    -----
    (size, size), or (rows, cols).

    Examples
    --------
    >>> k = box(3)
    >>> float(k.weights.sum() * k.scale)
    1.0
    >>> box((3, 5)).shape, box((3, 5)).name
    ((3, 5), 'box:3x5')
    """
    if isinstance(size, (tuple, list)):
        if len(size) != 2:
            raise CnnconvError(f"a box is N or (rows, cols), got {size!r}")
        rows, cols = (_size(n, 0.0, 0) for n in size)
    else:
        rows = cols = _size(size, 0.0, 0)
    label = str(rows) if rows == cols else f"{rows}x{cols}"
    return Kernel(f"box:{label}", np.ones((rows, cols)), scale=1 / (rows * cols),
                  description=f"mean of a {rows}x{cols} window, sums to 1")


def unsharp(sigma: float, amount: float = 1.0, size: int | None = None) -> Kernel:
    """Unsharp masking ``identity + amount*(identity - G(sigma))``: sums to 1.

    Adds ``amount`` times the detail a Gaussian blur removes, as ImageMagick's
    ``-unsharp 0xS+A+0`` and GIMP's unsharp mask do (without a threshold).

    Shape
    -----
    (size, size), ``size = 2*ceil(3*sigma) + 1`` unless given.

    Examples
    --------
    >>> k = unsharp(1, 0.5)
    >>> k.shape, round(float(k.weights.sum()), 12), bool(k.weights[3, 3] > 1)
    ((7, 7), 1.0, True)
    """
    sigma = _check_sigma(sigma)
    try:
        amount = float(amount)
    except (TypeError, ValueError):
        raise CnnconvError(f"amount must be a number, got {amount!r}") from None
    if not math.isfinite(amount):
        raise CnnconvError(f"amount must be a finite number, got {amount}")
    size = _size(size, sigma, 3)
    w = -amount * _sampled_gaussian(sigma, size)
    w[size // 2, size // 2] += 1 + amount
    return Kernel(
        f"unsharp:sigma={sigma:g},amount={amount:g},size={size}", w,
        description=f"unsharp mask, sigma {sigma:g}, amount {amount:g}, {size}x{size}, sums to 1",
    )


def log(sigma: float, size: int | None = None) -> Kernel:
    """Laplacian of Gaussian ``-(1 - r²/2σ²) exp(-r²/2σ²) / (πσ⁴)``, shifted to sum 0.

    Negative at the centre, like the ``laplacian`` kernel: bright blobs of radius about
    ``sigma*sqrt(2)`` give strong negative responses.

    Shape
    -----
    (size, size), ``size = 2*ceil(4*sigma) + 1`` unless given.

    Examples
    --------
    >>> k = log(1.4)
    >>> k.shape, abs(float(k.weights.sum())) < 1e-12, bool(k.weights[5, 5] < 0)
    ((13, 13), True, True)
    """
    sigma = _check_sigma(sigma)
    size = _size(size, sigma, 4)
    q = _squared_radius(size) / (2 * sigma * sigma)
    w = -(1 - q) * np.exp(-q) / (math.pi * sigma**4)
    return Kernel(
        f"log:sigma={sigma:g},size={size}", w - w.mean(),
        description=f"Laplacian of Gaussian, sigma {sigma:g}, {size}x{size}, sums to 0",
    )


def dog(sigma1: float, sigma2: float, size: int | None = None) -> Kernel:
    """Difference of Gaussians ``G(sigma1) - G(sigma2)``, each summing to 1: sums to 0.

    With ``sigma1 < sigma2`` the centre is positive (a band-pass that keeps detail
    between the two scales).

    Shape
    -----
    (size, size), ``size = 2*ceil(4*max(sigma1, sigma2)) + 1`` unless given.

    Examples
    --------
    >>> k = dog(1, 2)
    >>> k.shape, abs(float(k.weights.sum())) < 1e-12
    ((17, 17), True)
    """
    sigma1, sigma2 = _check_sigma(sigma1, "sigma1"), _check_sigma(sigma2, "sigma2")
    if sigma1 == sigma2:
        raise CnnconvError(f"dog needs two different sigmas, got {sigma1:g} twice")
    size = _size(size, max(sigma1, sigma2), 4)
    w = _sampled_gaussian(sigma1, size) - _sampled_gaussian(sigma2, size)
    if not np.any(w):
        raise CnnconvError(f"dog:{sigma1:g},{sigma2:g},size={size} is all zeros: use larger sigmas or size")
    return Kernel(
        f"dog:sigma1={sigma1:g},sigma2={sigma2:g},size={size}", w - w.mean(),
        description=f"difference of Gaussians, sigmas {sigma1:g} and {sigma2:g}, {size}x{size}, sums to 0",
    )


# name -> (generator, parameter names, how many are required)
_GENERATORS = {
    "gaussian": (gaussian, ("sigma", "size"), 1),
    "box": (box, ("size",), 1),
    "log": (log, ("sigma", "size"), 1),
    "dog": (dog, ("sigma1", "sigma2", "size"), 2),
    "unsharp": (unsharp, ("sigma", "amount", "size"), 1),
}

#: How to write each parametric kernel (for help texts and listings).
PARAMETRIC_FORMS = ("gaussian:sigma=S[,size=N]", "box:N[xM]", "log:sigma=S[,size=N]", "dog:S1,S2[,size=N]",
                    "unsharp:sigma=S[,amount=A][,size=N]")


def is_parametric(spec: str) -> bool:
    """Whether ``spec`` names a parametric kernel (``gaussian:...``, ``box:...``, ...).

    Examples
    --------
    >>> is_parametric("gaussian:sigma=2"), is_parametric("C:/kernels/k.txt")
    (True, False)
    """
    head, colon, _ = spec.partition(":")
    return bool(colon) and head.strip().lower() in _GENERATORS


def _value(text: str, key: str, where: str):
    rect = re.fullmatch(r"(\d+)\s*[x×]\s*(\d+)", text)
    if key == "size" and rect:
        return int(rect[1]), int(rect[2])
    try:
        value = float(text)
    except ValueError:
        raise CnnconvError(f"{where}: {key} must be a number, got {text!r}") from None
    if key == "size":
        if not value.is_integer():
            raise CnnconvError(f"{where}: size must be a whole number, got {text!r}")
        return int(value) if math.isfinite(value) else value
    return value


def parse_parametric(spec: str) -> Kernel:
    """Build the kernel a spec like ``gaussian:sigma=2`` or ``dog:1,2,size=9`` describes.

    Examples
    --------
    >>> parse_parametric("box:7").shape
    (7, 7)
    >>> parse_parametric("gaussian:sigma=2").shape
    (13, 13)
    >>> parse_parametric("dog:1")
    Traceback (most recent call last):
    ...
    cnnconv.errors.CnnconvError: kernel 'dog:1': dog needs sigma2 (write it as dog:S1,S2[,size=N])
    """
    where = f"kernel {spec!r}"
    head, colon, rest = spec.partition(":")
    kind = head.strip().lower()
    if not colon or kind not in _GENERATORS:
        raise CnnconvError(f"{where}: not a parametric kernel; write one of {', '.join(PARAMETRIC_FORMS)}")
    generator, names, required = _GENERATORS[kind]
    form = next(f for f in PARAMETRIC_FORMS if f.startswith(kind + ":"))
    values: dict = {}
    items = [item.strip() for item in rest.split(",")] if rest.strip() else []
    for position, item in enumerate(items):
        key, equals, text = item.partition("=")
        if not equals:
            key, text = (names[position] if position < len(names) else None), item
            if key is None:
                raise CnnconvError(f"{where}: {kind} takes at most {len(names)} values ({', '.join(names)})")
        key = key.strip().lower()
        if key not in names:
            raise CnnconvError(f"{where}: unknown parameter {key!r} for {kind}; it takes {', '.join(names)}")
        if key in values:
            raise CnnconvError(f"{where}: {key} is given twice")
        values[key] = _value(text.strip(), key, where)
    for key in names[:required]:
        if key not in values:
            raise CnnconvError(f"{where}: {kind} needs {key} (write it as {form})")
    try:
        return generator(**values)
    except CnnconvError as exc:
        raise CnnconvError(f"{where}: {exc}") from None
