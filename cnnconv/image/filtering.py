"""``filter_image``: what ``cnnconv filter`` does to samples.

It takes the samples of a picture or an array and returns the output samples with a
:class:`~cnnconv.image.samples.SampleReport` each; the command only reads, call, write
and report, so a script calling these functions gets the samples the commands write.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass

import numpy as np

from cnnconv.errors import CnnconvError
from cnnconv.image.alpha import alpha_top_of, weighted
from cnnconv.image.depth import alpha_in
from cnnconv.image.pipeline import Band, BandedPlan, band_rows
from cnnconv.image.samples import INPUT_DTYPE, ImageOutput, rounding_bound
from cnnconv.image.settings import FilterSettings
from cnnconv.numerics import quiet_floats
from cnnconv.shape.tiles import Tile
from cnnconv.tiling.windows import gather


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
                 dtype=INPUT_DTYPE, band_rows: int | None = None, threads: int = 2,
                 overwrite_input: bool = False) -> tuple[ImageOutput, ...]:
    """Filter a picture's samples with every kernel of ``settings``, as ``cnnconv filter`` does.

    Parameters
    ----------
    samples : array_like
        (n,), (H, W) or (H, W, C): gray, colour, with or without alpha; any integer or
        float sample type. Anything that slices like an array (a memory map, a Zarr array)
        is read a band at a time.
    settings : FilterSettings
    has_alpha : bool, optional
        The last channel is alpha; default: when there are 2 or 4 channels (pass False for
        CMYK).
    dtype : numpy dtype, None or "input"
        The output sample type: the input's (default), another, or None for the computed
        floats as they are.
    band_rows : int, optional
        Output rows computed at a time (default :func:`cnnconv.image.pipeline.band_rows`);
        integer results do not depend on it (:mod:`cnnconv.image.pipeline`).
    threads : int
        Bands computed at a time.
    overwrite_input : bool
        The one output may be written into ``samples``' memory, which then no longer holds
        the input (half the memory of a picture in and a picture out). Used when the output
        has the input's sample type, no more samples, and no band reads rows an earlier band
        has written (not, for instance, with ``boundary="wrap"``); otherwise a new array.

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
    if not hasattr(samples, "shape") or not hasattr(samples, "dtype"):
        samples = np.asarray(samples)
    plan = plan_filter(samples.shape, samples.dtype, settings, has_alpha=has_alpha, dtype=dtype, band_rows=band_rows)
    return plan.run(samples, threads=threads, overwrite_input=overwrite_input)


def plan_filter(shape, sample_type, settings: FilterSettings, *, has_alpha: bool | None = None,
                dtype=INPUT_DTYPE, band_rows: int | None = None) -> "FilterPlan":
    """Plan :func:`filter_image` for samples of ``shape`` and ``sample_type`` from the shapes alone.

    Every check that the shapes can fail (sizes, the kernels, ``--alpha keep``, a rescale
    of float samples) runs here, before a sample is read.

    Examples
    --------
    >>> from cnnconv.kernels import Kernel
    >>> p = plan_filter((4000, 3000, 3), np.uint8, FilterSettings((Kernel("dx", [[-1, 0, 1]]),)))
    >>> p.output_shape, p.compute_type, len(p.bands) > 1
    ((4000, 3000, 3), dtype('float32'), True)
    """
    from cnnconv.image.depth import depth_factor
    from cnnconv.image.precision import compute_type
    from cnnconv.tiling import conv_tiles

    shape, sample_type = tuple(int(n) for n in shape), np.dtype(sample_type)
    has_alpha = (len(shape) == 3 and shape[2] in (2, 4)) if has_alpha is None else bool(has_alpha)
    weighting = has_alpha and settings.alpha != "channel"
    target = sample_type if isinstance(dtype, str) and dtype == INPUT_DTYPE else dtype
    factor = depth_factor(sample_type, target)
    kernels = effective_kernels(settings)
    cdt = compute_type(sample_type, [w for _, w, _ in kernels], scale=settings.scale, offset=settings.offset,
                       factor=factor, precision=settings.precision)
    colour_shape = shape if not weighting else shape[:2] + ((shape[2] - 1,) if shape[2] > 2 else ())
    if target is None or np.dtype(target).kind == "f":
        if settings.range == "rescale":
            raise CnnconvError(_RESCALE_FLOATS)
    opts = settings.geometry.as_keywords()
    cov_opts = dict(opts, boundary="constant", cval=1.0) if opts["boundary"] in ("zero", "constant") else opts
    filters = []
    for kernel, (label, w, offset) in zip(settings.kernels, kernels):
        here, cov_here = (placed(o, kernel.origin, len(shape), w.shape) for o in (opts, cov_opts))
        w = w.astype(cdt)
        if len(shape) == 1:
            w = kernel_for(np.zeros(1), w)
        check_size(colour_shape, w.shape, opts, settings.max_pixels)
        w_abs = np.abs(w).sum(axis=2) if w.ndim == 3 else np.abs(w)
        w_abs = w_abs / w_abs.sum()
        filters.append(_KernelFilter(label, w, offset, here, cov_here, w_abs))
    return FilterPlan(shape, sample_type, settings, has_alpha, weighting, target, factor, cdt, colour_shape,
                      tuple(filters), band_rows)


_RESCALE_FLOATS = ("--range rescale maps values onto an integer sample range, and this output holds float "
                   "samples (the computed values); add --depth 8 or --depth 16 for integer samples, "
                   "or drop --range rescale")


@dataclass(frozen=True)
class _KernelFilter:
    label: str
    weights: np.ndarray
    offset: float
    geometry: dict
    coverage_geometry: dict
    coverage_weights: np.ndarray


@dataclass(frozen=True, eq=False)
class FilterPlan(BandedPlan):
    """:func:`filter_image` planned from the shapes: its bands, compute type and outputs."""

    shape: tuple
    sample_type: np.dtype
    settings: FilterSettings
    has_alpha: bool
    weighting: bool
    target: object
    factor: float
    compute_type: np.dtype
    colour_shape: tuple
    filters: tuple
    rows_per_band: int | None = None

    def __post_init__(self):
        from cnnconv.tiling import conv_tiles

        flip = self.settings.convolve
        if len(self.shape) == 1:
            from cnnconv.conv import conv_plan

            plans = [conv_plan(self.shape, f.weights.shape, flip=flip, **f.geometry) for f in self.filters]
            if self.settings.combine and len({p.output_shape for p in plans}) > 1:
                raise CnnconvError(f"--combine needs outputs of one size, got {sorted(p.output_shape for p in plans)}; "
                                   "use kernels of one size")
            object.__setattr__(self, "_tiles", None)
            object.__setattr__(self, "_signal_shape", plans[0].output_shape)
            return
        tiles = []
        for f in self.filters:
            probe = conv_tiles(self.colour_shape, f.weights, flip=flip, dtype=self.compute_type, tile=1 << 30,
                               **f.geometry)
            tiles.append(probe)
        out = {t.output_shape[:2] for t in tiles}
        if self.settings.combine and len(out) > 1:
            raise CnnconvError(f"--combine needs outputs of one size, got {sorted(t.output_shape for t in tiles)}; "
                               "use kernels of one size")
        ho, wo = tiles[0].output_shape[:2]
        spans = max(t.tiles.rows[0].length - (ho - 1) * t.conv.stride[0] for t in tiles)
        rows = self.rows_per_band or band_rows(spans, math.prod(self.shape[1:]), tiles[0].conv.stride[0])
        planned = []
        for f in self.filters:
            kw = dict(flip=flip, dtype=self.compute_type, tile=(rows, 1 << 30))
            planned.append((conv_tiles(self.colour_shape, f.weights, **kw, **f.geometry),
                            conv_tiles(self.colour_shape[:2], f.coverage_weights, **kw, **f.coverage_geometry)
                            if self.weighting else None))
        object.__setattr__(self, "_tiles", tuple(planned))
        if self.settings.alpha == "keep" and self.weighting and (ho, wo) != self.shape[:2]:
            raise CnnconvError(
                f"--alpha keep needs an output the size of the input, got {(ho, wo)} from {self.shape[:2]}; "
                "use --mode same and stride 1, or --alpha premultiply"
            )

    @property
    def output_shape(self) -> tuple:
        """The shape of each output's colour samples (alpha not counted)."""
        return self._signal_shape if self._tiles is None else self._tiles[0][0].output_shape

    @property
    def bands(self) -> tuple:
        """The bands of output rows, top to bottom."""
        if self._tiles is None:
            return (Band(0, 0, self.output_shape[0]),)
        rows = self._tiles[0][0].tiles.rows
        return tuple(Band(i, r.out[0], r.out[1]) for i, r in enumerate(rows))

    def labels(self) -> tuple:
        return self.settings.labels()

    def rows_read(self, band: Band) -> tuple | None:
        if self._tiles is None:
            return None
        reads = [r for plans in self._tiles for p in plans if p is not None for r in p.tiles.rows[band.index].reads]
        return (min(a for a, _ in reads), max(b for _, b in reads)) if reads else (math.inf, -math.inf)

    def _rounding(self, magnitude: float, index: int) -> float:
        """How far apart output ``index``'s values may be from float rounding alone."""
        cdt, scale, offset = self.compute_type, self.settings.scale, self.settings.offset
        bounds = [rounding_bound(cdt, float(np.abs(f.weights).sum()) * magnitude + abs(f.offset), f.weights.size)
                  for f in self.filters]
        r = sum(bounds) if self.settings.combine else bounds[index]
        return (r * abs(scale) + rounding_bound(cdt, abs(offset))) * self.factor

    def _split(self, window: np.ndarray, tile: Tile, top: float):
        """A window's colour, its alpha in 0..1 (border opaque) and its largest |colour| on the image."""
        cdt = self.compute_type
        alpha = None
        if self.weighting:
            alpha = window[..., -1] / cdt.type(top)
            window = window[..., :-1]
            window = window[..., 0] if window.shape[2] == 1 else window
            if self.settings.geometry.boundary in ("zero", "constant"):  # the border is opaque
                (r0, r1), (c0, c1) = tile.rows.border, tile.cols.border
                alpha[:r0], alpha[alpha.shape[0] - r1:] = 1, 1
                alpha[:, :c0], alpha[:, alpha.shape[1] - c1:] = 1, 1
        magnitude = 0.0
        if self.settings.range == "rescale" and window.size:
            (r0, r1), (c0, c1) = tile.rows.border, tile.cols.border
            inside = window[r0:window.shape[0] - r1, c0:window.shape[1] - c1]
            magnitude = float(np.abs(inside).max()) if inside.size else 0.0
        return window, alpha, magnitude

    def _compute_signal(self, samples):
        """The whole 1-D signal as one band (signals are small)."""
        from cnnconv.conv import convolve, correlate

        fn = convolve if self.settings.convolve else correlate
        x = np.asarray(samples).astype(self.compute_type)
        ys = [(lambda y: y + self.compute_type.type(f.offset) if f.offset else y)(fn(x, f.weights, **f.geometry))
              for f in self.filters]
        magnitude = float(np.abs(x).max()) if x.size else 0.0
        return ys, magnitude

    def _compute(self, samples, band: Band):
        """Per output the band's float values, the alpha samples to append, and the largest |input| read."""
        settings = self.settings
        cdt = self.compute_type
        if self._tiles is None:
            signal, magnitude = self._compute_signal(samples)
            return self._finish(samples, band, [(y, None) for y in signal], magnitude)
        top = alpha_top_of(self.sample_type)
        ys = []
        magnitude = 0.0
        windows = {}
        for f, (colour, coverage) in zip(self.filters, self._tiles):
            tile = Tile(colour.tiles.rows[band.index], colour.tiles.cols[0])
            key = (tile.rows.window, tile.cols.window)
            if key not in windows:
                windows[key] = self._split(gather(samples, tile, colour.fill, cdt), tile, top)
            x, alpha, inside = windows[key]
            magnitude = max(magnitude, inside)
            if alpha is None:
                y, cov = colour.run(x, tile), None
            else:
                y, cov = weighted(lambda v: colour.run(v, tile), lambda a: coverage.run(a, tile), x, alpha)
            ys.append((y + cdt.type(f.offset) if f.offset else y, cov))
        return self._finish(samples, band, ys, magnitude)

    def _finish(self, samples, band: Band, ys: list, magnitude: float):
        """Combine, scale and offset the kernels' values; the alpha samples beside them."""
        settings, cdt = self.settings, self.compute_type
        top = alpha_top_of(self.sample_type)
        if settings.combine:
            ys = [(_combine([y for y, _ in ys], settings.combine), ys[0][1])]
        scale, offset = cdt.type(settings.scale), cdt.type(settings.offset)
        values, alphas = [], []
        for y, cov in ys:
            if settings.scale != 1:
                y *= scale
            if settings.offset:
                y += offset
            values.append(y)
            if not self.weighting:
                alphas.append(None)
                continue
            if settings.alpha == "keep":
                cov = np.asarray(samples[band.start:band.stop, :, -1]).astype(cdt) / cdt.type(top)
            alphas.append(alpha_in(cov, self.sample_type, self.target))
        return values, alphas, magnitude


def _combine(stack: list, rule: str) -> np.ndarray:
    shapes = {y.shape for y in stack}
    if len(shapes) > 1:
        raise CnnconvError(f"--combine needs outputs of one size, got {sorted(shapes)}; use kernels of one size")
    if rule == "magnitude":
        return np.sqrt(sum(v * v for v in stack))
    if rule == "max":
        return np.maximum.reduce(stack)
    return sum(stack)
