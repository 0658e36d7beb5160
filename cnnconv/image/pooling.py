"""``pool_image``: what ``cnnconv pool`` does to samples."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from cnnconv.errors import CnnconvError
from cnnconv.image.alpha import alpha_top_of, guess_has_alpha, split_alpha, weighted
from cnnconv.image.depth import alpha_in
from cnnconv.image.pipeline import Band, BandedPlan, band_rows
from cnnconv.shape.tiles import Tile
from cnnconv.tiling.windows import gather
from cnnconv.image.samples import INPUT_DTYPE, ImageOutput, image_output, rounding_bound
from cnnconv.image.settings import PoolSettings
from cnnconv.numerics import quiet_floats


@quiet_floats
def pool_image(samples, settings: PoolSettings, *, has_alpha: bool | None = None,
               dtype=INPUT_DTYPE, threads: int = 2, overwrite_input: bool = False) -> ImageOutput:
    """Pool a picture's samples, as ``cnnconv pool`` does.

    Average pooling weights colour by alpha (transparent pixels add no colour) and
    averages alpha, by :func:`cnnconv.image.alpha.weighted`'s formula; max, min and
    median pool alpha like any channel.

    Parameters
    ----------
    samples : array_like
        (n,), (H, W) or (H, W, C), any integer or float sample type.
    settings : PoolSettings
    has_alpha, dtype, threads, overwrite_input
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
    samples = np.asarray(samples)
    has_alpha = guess_has_alpha(samples) if has_alpha is None else has_alpha
    window = np.broadcast_to(np.asarray(settings.size), (2,))
    # a window wider than the image is pooled whole: pool() never lays out its empty overhang
    if samples.ndim in (2, 3) and not settings.uses_windows() and all(
            int(k) <= n for k, n in zip(window, samples.shape[:2])):
        (out,) = PoolPlan.of(samples.shape, samples.dtype, settings, has_alpha, dtype).run(
            samples, threads=threads, overwrite_input=overwrite_input)
        return out
    x, alpha = split_alpha(samples, has_alpha, "premultiply" if settings.op == "avg" else "channel")
    y, coverage = _pooled_whole(x, alpha, settings)
    rounding = 0.0  # max, min and median pick input values: exact
    if settings.op == "avg" and x.size:
        taps = int(np.prod(np.broadcast_to(settings.size, (2,))))
        rounding = rounding_bound(x.dtype, float(np.abs(x).max()), taps)
    return image_output(settings.label(), y, coverage, samples, dtype, settings.range, rounding=rounding)


def _pooled_whole(x, alpha, settings: PoolSettings):
    """The pooled colour of ``x`` (weighted by ``alpha`` unless None) and the coverage, the image at once."""
    from cnnconv.pooling import pool, window_filter

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
    return weighted(run, lambda a: 1 - run_clear(1 - a), x, alpha)


@dataclass(frozen=True, eq=False)
class PoolPlan(BandedPlan):
    """:func:`pool_image` of :func:`cnnconv.pooling.pool`'s ops planned in bands (:mod:`cnnconv.image.pipeline`).

    Examples
    --------
    >>> p = PoolPlan.of((1000, 600, 3), np.dtype(np.uint16), PoolSettings(size=2, op="avg"), False, INPUT_DTYPE)
    >>> p.output_shape, p.compute_type, len(p.bands)
    ((500, 300, 3), dtype('float32'), 2)
    """

    settings: PoolSettings
    sample_type: np.dtype
    target: object
    factor: float
    compute_type: np.dtype
    weighting: bool
    colour: object  # PoolTiles of the colour
    coverage: object  # PoolTiles of the alpha (average pooling of a picture with alpha), or None

    @classmethod
    def of(cls, shape, sample_type, settings: PoolSettings, has_alpha: bool, dtype) -> "PoolPlan":
        from cnnconv.image.depth import depth_factor
        from cnnconv.image.precision import pool_compute_type
        from cnnconv.tiling import pool_tiles

        shape, sample_type = tuple(int(n) for n in shape), np.dtype(sample_type)
        weighting = bool(has_alpha) and settings.op == "avg"
        target = sample_type if isinstance(dtype, str) and dtype == INPUT_DTYPE else dtype
        if (target is None or np.dtype(target).kind == "f") and settings.range == "rescale":
            from cnnconv.image.filtering import _RESCALE_FLOATS

            raise CnnconvError(_RESCALE_FLOATS)
        taps = int(np.prod(np.broadcast_to(settings.size, (2,))))
        cdt = pool_compute_type(sample_type, settings.op, taps, settings.precision)
        colour_shape = shape if not weighting else shape[:2] + ((shape[2] - 1,) if shape[2] > 2 else ())
        keywords = settings.pool_keywords()
        stride = int(np.broadcast_to(keywords.get("stride") or settings.size, (2,))[0])
        rows = band_rows(1, math.prod(shape[1:]), stride)
        colour = pool_tiles(colour_shape, settings.size, dtype=cdt, tile=(rows, 1 << 30), **keywords)
        coverage = pool_tiles(shape[:2], settings.size, dtype=cdt, tile=(rows, 1 << 30), **keywords) \
            if weighting else None
        if 0 in colour.output_shape:
            raise CnnconvError(f"the output would be empty (shape {colour.output_shape}); use --mode same or a "
                               "smaller window")
        return cls(settings, sample_type, target, depth_factor(sample_type, target), cdt, weighting, colour, coverage)

    @property
    def output_shape(self) -> tuple:
        return self.colour.output_shape

    @property
    def bands(self) -> tuple:
        return tuple(Band(i, r.out[0], r.out[1]) for i, r in enumerate(self.colour.tiles.rows))

    def labels(self) -> tuple:
        return (self.settings.label(),)

    def rows_read(self, band: Band) -> tuple:
        plans = [self.colour] + ([self.coverage] if self.coverage is not None else [])
        reads = [r for p in plans for r in p.tiles.rows[band.index].reads]
        return (min(a for a, _ in reads), max(b for _, b in reads)) if reads else (math.inf, -math.inf)

    def _rounding(self, magnitude: float, index: int) -> float:
        if self.settings.op != "avg":
            return 0.0  # max, min and median pick input values: exact
        taps = int(np.prod(np.broadcast_to(self.settings.size, (2,))))
        return rounding_bound(self.compute_type, magnitude, taps) * self.factor

    def _compute(self, samples, band: Band):
        cdt = self.compute_type
        tile = Tile(self.colour.tiles.rows[band.index], self.colour.tiles.cols[0])
        window = gather(samples, tile, self.colour.fill, cdt)
        (r0, r1), (c0, c1) = tile.rows.border, tile.cols.border
        magnitude = 0.0
        if self.settings.range == "rescale" and self.settings.op == "avg":
            inside = window[r0:window.shape[0] - r1, c0:window.shape[1] - c1]
            colour = inside[..., :-1] if self.weighting else inside
            magnitude = float(np.abs(colour).max()) if colour.size else 0.0
        if not self.weighting:
            return [self.colour.run(window, tile)], [None], magnitude
        alpha = window[..., -1] / cdt.type(alpha_top_of(self.sample_type))
        x = window[..., :-1]
        x = x[..., 0] if x.shape[2] == 1 else x

        def coverage(a):
            # 1 - avg(1 - alpha): padding an average counts (--count-pad) counts as opaque, as in
            # the whole-image rule; the window's border positions hold 0 in (1 - alpha)
            clear = 1 - a
            clear[:r0], clear[clear.shape[0] - r1:] = 0, 0
            clear[:, :c0], clear[:, clear.shape[1] - c1:] = 0, 0
            return 1 - self.coverage.run(clear, tile)

        y, cov = weighted(lambda v: self.colour.run(v, tile), coverage, x, alpha)
        return [y], [alpha_in(cov, self.sample_type, self.target)], magnitude


@dataclass(frozen=True, eq=False)
class WindowPlan(BandedPlan):
    """:func:`pool_image` of a rank filter (median, ``--mode same``) planned in bands of output rows.

    Each band computes the whole-image rule on a slab of input rows: the band's rows and
    ``k - 1`` more on each side (taken round the image for ``boundary="wrap"``), so every
    row kept has its whole window in the slab and the slab's own edges, where the rule is
    applied as at the image's edges, fall in rows that are dropped or are the image's edges.
    Strided windows (median pooling) need no halo, and padding would be applied at each
    slab's edge, so they are planned only without padding.

    Examples
    --------
    >>> p = WindowPlan.of((1000, 600), np.dtype(np.uint8), PoolSettings(size=3, op="median", mode="same"),
    ...                   False, INPUT_DTYPE)
    >>> p.output_shape, len(p.bands)
    ((1000, 600), 4)
    """

    settings: PoolSettings
    shape: tuple
    sample_type: np.dtype
    has_alpha: bool
    target: object
    factor: float
    compute_type: np.dtype
    output_shape: tuple

    @classmethod
    def of(cls, shape, sample_type, settings: PoolSettings, has_alpha: bool, dtype) -> "WindowPlan":
        from cnnconv.image.alpha import float_type_for_samples
        from cnnconv.image.depth import depth_factor
        from cnnconv.shape.arithmetic import pool_out_size

        shape, sample_type = tuple(int(n) for n in shape), np.dtype(sample_type)
        if len(shape) not in (2, 3):
            raise CnnconvError(f"a rank filter is planned in bands for (H, W) or (H, W, C) samples, got {shape}")
        target = sample_type if isinstance(dtype, str) and dtype == INPUT_DTYPE else dtype
        if (target is None or np.dtype(target).kind == "f") and settings.range == "rescale":
            from cnnconv.image.filtering import _RESCALE_FLOATS

            raise CnnconvError(_RESCALE_FLOATS)
        k = tuple(int(n) for n in np.broadcast_to(settings.size, (2,)))
        if settings.mode == "same":
            out = shape[:2]
        else:
            keywords = settings.window_keywords()
            if any(int(p) for p in np.broadcast_to(keywords["padding"], (2,))):
                raise CnnconvError("a padded median pooling is computed on the whole image; it cannot run in "
                                   "bands (drop --padding, or raise --max-memory)")
            s = tuple(int(n) for n in np.broadcast_to(keywords["stride"], (2,)))
            out = tuple(pool_out_size(n, kk, ss, 0, ceil_mode=settings.ceil_mode) for n, kk, ss in zip(shape[:2], k, s))
        if 0 in out:
            raise CnnconvError(f"the output would be empty (shape {out}); use --mode same or a smaller window")
        weighting = has_alpha and settings.op == "avg"
        channels = () if len(shape) == 2 else ((shape[2] - 1,) if weighting and shape[2] > 2 else
                                                () if weighting else (shape[2],))
        cdt = np.dtype(float_type_for_samples(np.empty(0, sample_type)))
        return cls(settings, shape, sample_type, bool(has_alpha), target, depth_factor(sample_type, target), cdt,
                   tuple(out) + channels)

    @property
    def weighting(self) -> bool:
        return self.has_alpha and self.settings.op == "avg"

    @property
    def bands(self) -> tuple:
        rows, k = self.output_shape[0], int(np.broadcast_to(self.settings.size, (2,))[0])
        step = band_rows(k, math.prod(self.shape[1:]))
        return tuple(Band(i, start, min(start + step, rows)) for i, start in enumerate(range(0, rows, step)))

    def labels(self) -> tuple:
        return (self.settings.label(),)

    _rounding = PoolPlan._rounding  # the same bound: avg rounds, max, min and median pick input values

    def _slab(self, band: Band) -> tuple[np.ndarray, int]:
        """The input rows band ``band`` reads, and the row of the slab's result where the band starts."""
        height = self.shape[0]
        k = int(np.broadcast_to(self.settings.size, (2,))[0])
        if self.settings.mode != "same":
            s = int(np.broadcast_to(self.settings.window_keywords()["stride"], (2,))[0])
            return np.arange(band.start * s, min(height, (band.stop - 1) * s + k)), 0
        first, last = band.start - (k - 1), band.stop + (k - 1)
        if self.settings.boundary == "wrap":
            return np.arange(first, last) % height, k - 1
        first, last = max(0, first), min(height, last)
        return np.arange(first, last), band.start - first

    def _compute(self, samples, band: Band):
        rows, skip = self._slab(band)
        # contiguous runs of rows (two where the rows wrap round): slices, which a Zarr array reads in parts
        breaks = np.flatnonzero(np.diff(rows) != 1) + 1
        slab = np.concatenate([np.asarray(samples[run[0]:run[-1] + 1]) for run in np.split(rows, breaks)])
        x, alpha = split_alpha(slab, self.has_alpha, "premultiply" if self.settings.op == "avg" else "channel")
        y, coverage = _pooled_whole(x, alpha, self.settings)  # the slab as the whole image
        keep = slice(skip, skip + band.stop - band.start)
        magnitude = float(np.abs(x).max()) if self.settings.op == "avg" and x.size else 0.0
        y = np.array(y[keep], dtype=self.compute_type)  # its own copy: the cast overwrites it
        if coverage is None:
            return [y], [None], magnitude
        return [y], [alpha_in(coverage[keep], self.sample_type, self.target)], magnitude
