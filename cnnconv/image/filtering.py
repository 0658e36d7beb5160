"""``filter_image``: what ``cnnconv filter`` does to samples.

It takes the samples of a picture or an array and returns the output samples with a
:class:`~cnnconv.image.samples.SampleReport` each; the command only reads, call, write
and report, so a script calling these functions gets the samples the commands write.
"""

from __future__ import annotations

import math
import sys
import numpy as np

from cnnconv.errors import CnnconvError
from cnnconv.image.alpha import guess_has_alpha, split_alpha, weighted
from cnnconv.image.samples import INPUT_DTYPE, ImageOutput, image_output, rounding_bound
from cnnconv.image.settings import FilterSettings
from cnnconv.numerics import quiet_floats


def effective_kernels(settings: FilterSettings) -> list[tuple[str, np.ndarray, float]]:
    """(label, weights, offset) per kernel: ``weights * scale``, divided by their sum with ``normalize``.

    Raises :class:`CnnconvError` for a kernel that sums to 0 under ``normalize``, and for
    one whose weights are all 0 or all below float32's smallest normal number.

    Examples
    --------
    >>> from cnnconv.kernels import Kernel
    >>> [(n, w.tolist(), o) for n, w, o in effective_kernels(FilterSettings((Kernel("k", [[1, 3]]),), normalize=True))]
    [('k', [[0.25, 0.75]], 0.0)]
    """
    kernels = []
    for kernel in settings.kernels:
        weights = kernel.effective()  # a libvips .mat divisor is already inverted into the scale
        if settings.normalize:
            total = float(weights.sum())
            if abs(total) <= 1e-12 * float(abs(weights).sum()):
                raise CnnconvError(
                    f"{kernel.name} sums to 0, so --normalize cannot divide by its sum; drop --normalize "
                    "(edge and derivative kernels sum to 0)")
            weights = weights / total
        _check_filterable(kernel.name, weights, float(kernel.offset))
        kernels.append((kernel.name, weights, float(kernel.offset)))
    return kernels


_FLOAT32_TINY = float(np.finfo(np.float32).tiny)


def _check_filterable(name: str, weights: np.ndarray, offset: float) -> None:
    """A kernel that would give nothing, or vanish in float32 (where 8-bit images are filtered), is refused."""
    top = float(np.abs(weights).max())
    if top == 0:
        raise CnnconvError(f"kernel {name!r}: every weight is 0, so every output would be {offset:g}; "
                           "give at least one non-zero weight")
    if top < _FLOAT32_TINY:
        raise CnnconvError(f"kernel {name!r}: its largest weight {top:g} is below float32's smallest normal number "
                           f"({_FLOAT32_TINY:.3g}) and would vanish when 8-bit images are filtered; scale the "
                           "kernel up (and the result down with --scale)")


def kernel_for(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """The kernel as the input needs it: a 1-D signal takes a one-row or one-column kernel flat.

    >>> kernel_for(np.zeros(5), np.ones((1, 3))).shape
    (3,)
    """
    if x.ndim != 1:
        return w
    if w.ndim == 2 and 1 in w.shape:
        return w.reshape(-1)
    raise CnnconvError(f"a 1-D signal needs a 1-D kernel (one row of weights), got shape {w.shape}")


def placed(geometry: dict, origin, x_ndim: int, w_shape) -> dict:
    """``geometry`` with a kernel's origin (ImageMagick's ``+X+Y``) where it places the kernel:
    same-size output (``mode`` "same", the default); valid, full and explicit padding ignore it.
    A row or column kernel applied flat to a 1-D signal takes its origin along that axis.

    >>> placed({"mode": "same", "padding": None}, (0, 2), 2, (3, 3))
    {'mode': None, 'padding': None, 'origin': (0, 2)}
    >>> placed({"mode": "valid", "padding": None}, (0, 2), 2, (3, 3))["mode"]
    'valid'
    """
    if origin is None or geometry.get("padding") is not None or geometry.get("mode") not in (None, "same"):
        return geometry
    if x_ndim == 1:
        origin = origin[1] if w_shape[0] == 1 else origin[0]
    return dict(geometry, mode=None, origin=origin)


def check_size(x_shape, w_shape, geometry: dict, max_pixels: int | None) -> None:
    """Refuse padding, dilation or an output so large that the arrays would not fit in memory.

    The padded input and the output are held to ``max_pixels`` (None: what an array can
    index) or to four times the input, whichever is larger, so that an image just under
    the limit still gets its border; checked from the shapes before any array is made.
    """
    from cnnconv.conv import conv_plan

    plan = conv_plan(x_shape, w_shape, **geometry)
    padded = tuple(n + before + after for n, (before, after) in zip(x_shape, plan.padding))
    limit = sys.maxsize // 64 if max_pixels is None else max_pixels
    limit = max(limit, 4 * math.prod(x_shape[:len(padded)]))
    for what, dims in (("padded input", padded), ("output", plan.output_shape[:len(padded)])):
        if math.prod(dims) > limit:
            raise CnnconvError(
                f"the {what} would be {'x'.join(map(str, dims))} = {math.prod(dims)} pixels, over the limit of "
                f"{limit}; lower --padding or --dilation (or raise --max-pixels if you mean it)"
            )


@quiet_floats
def filter_image(samples, settings: FilterSettings, *, has_alpha: bool | None = None,
                 dtype=INPUT_DTYPE) -> tuple[ImageOutput, ...]:
    """Filter a picture's samples with every kernel of ``settings``, as ``cnnconv filter`` does.

    Parameters
    ----------
    samples : array_like
        (n,), (H, W) or (H, W, C): gray, colour, with or without alpha; any integer or
        float sample type.
    settings : FilterSettings
    has_alpha : bool, optional
        The last channel is alpha; default: when there are 2 or 4 channels (pass False for
        CMYK).
    dtype : numpy dtype, None or "input"
        The output sample type: the input's (default), another, or None for the computed
        floats as they are.

    Returns
    -------
    tuple of ImageOutput
        One per kernel, or one with ``settings.combine``; samples (Ho, Wo) or (Ho, Wo, C).

    Examples
    --------
    >>> from cnnconv.kernels import Kernel
    >>> image = np.array([[0, 0, 10, 10]] * 3, dtype=np.uint8)
    >>> (out,) = filter_image(image, FilterSettings((Kernel("dx", [[-1, 0, 1]]),)))
    >>> out.samples.tolist()
    [[0, 10, 10, 0], [0, 10, 10, 0], [0, 10, 10, 0]]
    >>> out.report.min, out.report.max, out.report.clipped
    (-10.0, 10.0, 3)
    """
    from cnnconv.conv import convolve, correlate

    samples = np.asarray(samples)
    has_alpha = guess_has_alpha(samples) if has_alpha is None else has_alpha
    x, alpha = split_alpha(samples, has_alpha, settings.alpha)
    fn = convolve if settings.convolve else correlate
    opts = settings.geometry.as_keywords()
    # the border is opaque: zero/constant pad colour with 0/V and alpha with 1 (an opaque image then
    # gives its RGB result); the other rules take alpha from the image as they take colour
    cov_opts = dict(opts, boundary="constant", cval=1.0) if opts["boundary"] in ("zero", "constant") else opts
    ys = []  # (label, values, coverage): each kernel's own coverage, as its own |w| sees the alpha
    roundings = []  # how far apart each output's values may be from rounding alone (--range rescale)
    magnitude = float(np.abs(x).max()) if x.size else 0.0
    for kernel, (label, w, offset) in zip(settings.kernels, effective_kernels(settings)):
        here, cov_here = (placed(o, kernel.origin, x.ndim, w.shape) for o in (opts, cov_opts))
        w = kernel_for(x, w).astype(x.dtype)
        check_size(x.shape, w.shape, opts, settings.max_pixels)
        w_abs = np.abs(w).sum(axis=2) if w.ndim == 3 else np.abs(w)
        w_abs = w_abs / w_abs.sum()
        y, cov = weighted(lambda v: fn(v, w, **here), lambda a: fn(a, w_abs, **cov_here), x, alpha)
        ys.append((label, y + offset if offset else y, cov))
        roundings.append(rounding_bound(x.dtype, float(np.abs(w).sum()) * magnitude + abs(offset), w.size))
    if settings.combine:  # one output: the first kernel's coverage (all are 1 on an opaque image)
        ys = [(settings.labels()[0], _combine([y for _, y, _ in ys], settings.combine), ys[0][2])]
        roundings = [sum(roundings)]  # bounds each rule's spread (magnitude: by the triangle inequality)
    if alpha is not None and settings.alpha == "keep":
        if ys[0][2].shape != alpha.shape:
            raise CnnconvError(
                f"--alpha keep needs an output the size of the input, got {ys[0][2].shape} from {alpha.shape}; "
                "use --mode same and stride 1, or --alpha premultiply"
            )
        ys = [(label, y, alpha) for label, y, _ in ys]
    scale, offset = settings.scale, settings.offset
    return tuple(
        image_output(label, y * scale + offset if (scale != 1 or offset) else y, coverage, samples, dtype,
                     settings.range, rounding=r * abs(scale) + rounding_bound(x.dtype, abs(offset)))
        for (label, y, coverage), r in zip(ys, roundings)
    )


def _combine(stack: list, rule: str) -> np.ndarray:
    shapes = {y.shape for y in stack}
    if len(shapes) > 1:
        raise CnnconvError(f"--combine needs outputs of one size, got {sorted(shapes)}; use kernels of one size")
    if rule == "magnitude":
        return np.sqrt(sum(v * v for v in stack))
    if rule == "max":
        return np.maximum.reduce(stack)
    return sum(stack)
