"""``pool_image``: what ``cnnconv pool`` does to samples."""

from __future__ import annotations

import numpy as np

from cnnconv.image.alpha import guess_has_alpha, split_alpha, weighted
from cnnconv.image.samples import INPUT_DTYPE, ImageOutput, image_output, rounding_bound
from cnnconv.image.settings import PoolSettings
from cnnconv.numerics import quiet_floats


@quiet_floats
def pool_image(samples, settings: PoolSettings, *, has_alpha: bool | None = None,
               dtype=INPUT_DTYPE) -> ImageOutput:
    """Pool a picture's samples, as ``cnnconv pool`` does.

    Average pooling weights colour by alpha (transparent pixels add no colour) and
    averages alpha, by :func:`cnnconv.image.alpha.weighted`'s formula; max, min and
    median pool alpha like any channel.

    Parameters
    ----------
    samples : array_like
        (n,), (H, W) or (H, W, C), any integer or float sample type.
    settings : PoolSettings
    has_alpha, dtype
        As for :func:`filter_image`.

    Returns
    -------
    ImageOutput

    Examples
    --------
    >>> out = pool_image(np.arange(16, dtype=np.uint8).reshape(4, 4), PoolSettings(size=2, op="avg"))
    >>> out.label, out.samples.tolist()
    ('avg2', [[2, 4], [10, 12]])
    """
    from cnnconv.pooling import pool, window_filter

    samples = np.asarray(samples)
    has_alpha = guess_has_alpha(samples) if has_alpha is None else has_alpha
    x, alpha = split_alpha(samples, has_alpha, "premultiply" if settings.op == "avg" else "channel")
    if settings.uses_windows():
        keywords = settings.window_keywords()
        run = lambda v: window_filter(v, settings.size, **keywords)  # noqa: E731
        # 1 - avg(1 - alpha) below: a constant border is opaque, so 1 - alpha pads with 0
        clear = dict(keywords, boundary="zero", cval=0.0) if keywords.get("boundary") == "constant" else keywords
        run_clear = lambda v: window_filter(v, settings.size, **clear)  # noqa: E731
    else:
        keywords = settings.pool_keywords()
        run = run_clear = lambda v: pool(v, settings.size, **keywords)  # noqa: E731
    # coverage 1 - avg(1 - alpha): padding that an average counts (--count-pad) counts as opaque, so
    # an opaque image pools exactly as its RGB copy; without --count-pad it is avg(alpha)
    y, coverage = weighted(run, lambda a: 1 - run_clear(1 - a), x, alpha)
    rounding = 0.0  # max, min and median pick input values: exact
    if settings.op == "avg" and x.size:
        taps = int(np.prod(np.broadcast_to(settings.size, (2,))))
        rounding = rounding_bound(x.dtype, float(np.abs(x).max()), taps)
    return image_output(settings.label(), y, coverage, samples, dtype, settings.range, rounding=rounding)
