"""Band by band: a picture's output computed, scaled, rounded, clipped, counted and cast in row bands.

A filter or a pooling of a picture runs over bands of output rows. For each band the
window of input rows it reads (its halo from the image, its border from the boundary rule;
:mod:`cnnconv.tiling`) is converted to the computing float type, computed, and the result
is cast straight into the output samples, with the clip statistics counted on the way: no
image-sized float array exists, only a few bands' worth. Each band runs the engine the
whole image would run, with the same taps in the same order, so the bands put together are
the whole-image result (to the last bit for integer samples; a BLAS-backed engine may round
float results differently for other band heights, so the height is fixed).

Two bands run at a time on two threads (NumPy releases the GIL in its loops), each casting
into its own rows. ``--range rescale`` needs the whole result's range before the first
sample is cast: its bands are computed twice, once for the range and once for the cast,
rather than keeping an image-sized float result.

The source is anything that slices like an array (a NumPy array, a memory map, a Zarr
array), and the bands are handed to the caller in order, so the same loop streams an image
larger than memory from a file into a file.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

import numpy as np

from cnnconv.errors import CnnconvError
from cnnconv.image.depth import is_integer_type
from cnnconv.image.samples import stretch_in_place

#: Output rows per band: a streamed TIFF's tile height too, so that a picture filtered in
#: memory and one streamed from a file are cut into the same bands (BLAS-backed engines may
#: round a float result differently for windows of other heights).
BAND_ROWS = 256


def band_rows(span: int) -> int:
    """Output rows per band for a kernel reaching ``span`` rows: :data:`BAND_ROWS`, or four halos.

    >>> band_rows(3), band_rows(101)
    (256, 400)
    """
    return max(BAND_ROWS, 4 * (span - 1))


@dataclass
class Totals:
    """What the cast of one output met, summed over its bands."""

    low: float = math.inf
    high: float = -math.inf
    below: int = 0
    above: int = 0
    nonfinite: int = 0
    magnitude: float = 0.0  # the largest |input| the output's bands read (rescale's rounding bound)

    def add(self, other: "Totals") -> None:
        if np.isnan(other.low) or np.isnan(other.high):
            self.low = self.high = math.nan
        elif not (np.isnan(self.low) or np.isnan(self.high)):
            self.low, self.high = min(self.low, other.low), max(self.high, other.high)
        self.below += other.below
        self.above += other.above
        self.nonfinite += other.nonfinite
        self.magnitude = max(self.magnitude, other.magnitude)


@dataclass(frozen=True)
class Cast:
    """How one output's float values become its samples.

    ``dtype`` None keeps the floats; ``stretch`` (rescale) is ``(low, span)`` mapped onto
    ``0..top``, or ``(middle, 0)`` for a constant result written as that value.
    """

    dtype: object
    range: str
    factor: float = 1.0
    stretch: tuple | None = None

    def apply(self, values: np.ndarray, totals: Totals):
        """The band's samples (``values`` is overwritten); its extremes and clip counts go into ``totals``."""
        if self.factor != 1:
            values *= values.dtype.type(self.factor)
        low = high = 0.0
        if values.size:
            low, high = float(values.min()), float(values.max())
            totals.add(Totals(low, high))
            if not (np.isfinite(low) and np.isfinite(high)):
                totals.nonfinite += int(np.count_nonzero(~np.isfinite(values)))
        if self.dtype is None or np.dtype(self.dtype).kind == "f":
            if self.dtype is not None and values.size:  # finite values a narrower float cannot hold
                biggest = float(np.finfo(self.dtype).max)
                if max(-low, high) > biggest:
                    totals.nonfinite += int(np.count_nonzero(np.abs(values) > biggest))
            out = np.abs(values, out=values) if self.range == "abs" else values
            return out if self.dtype is None else out.astype(self.dtype, copy=False)
        top = float(np.iinfo(self.dtype).max)
        if self.range == "rescale":
            start, span = self.stretch
            if span == 0:  # one value, so rounding cannot split it into a speckle
                values[...] = values.dtype.type(start)
                lowest = highest = start
            else:
                values = stretch_in_place(values, start, span, top)
                lowest, highest = -math.inf, math.inf  # rounding may step just outside 0..top: count
        elif self.range == "abs":
            np.abs(values, out=values)
            lowest, highest = 0.0, max(-low, high)
        else:
            lowest, highest = low, high
        np.rint(values, out=values)
        # rint is monotone, so the extremes already say when nothing can lie outside (no pass
        # then); a NaN extreme says nothing, so it counts
        if not lowest >= 0:
            totals.below += int(np.count_nonzero(values < 0))
        if not highest <= top:
            totals.above += int(np.count_nonzero(values > top))
        np.clip(values, 0, top, out=values)
        return values.astype(self.dtype)


@dataclass(frozen=True)
class Band:
    """Output rows ``start..stop`` of every output, and what the computation needs for them."""

    index: int
    start: int
    stop: int


@dataclass
class BandResult:
    """One band's outputs: per output its samples (rows, Wo[, C]) and its totals."""

    band: Band
    samples: list
    totals: list = field(default_factory=list)


def run_bands(compute, bands, casts, *, threads: int = 2, map_bands=None):
    """Compute and cast every band; yield each :class:`BandResult` in order.

    Parameters
    ----------
    compute : callable
        ``compute(band) -> (values, alpha, magnitude)``: per output a float array (rows,
        Wo[, C]) that the cast may overwrite, per output the alpha samples to append (or
        None), and the largest |input| the band read.
    bands : sequence of Band
    casts : sequence of Cast, one per output
    threads : int
        Bands computed at a time.
    map_bands : callable, optional
        ``map_bands(work, bands)`` yields ``work(band)`` for every band, in order, computed
        wherever it likes (a cluster's workers: ``work`` and what it refers to are then
        pickled); default: ``threads`` threads of this process.
    """
    from cnnconv.conv.engines._blas import single_threaded_blas

    def work(band):
        with np.errstate(all="ignore"):
            values, alphas, magnitude = compute(band)
            result = BandResult(band, [])
            for v, a, cast in zip(values, alphas, casts):
                totals = Totals(magnitude=magnitude)
                out = cast.apply(v, totals)
                if a is not None:
                    out = np.concatenate([out.reshape(out.shape[:2] + (-1,)), a[:, :, None]], axis=2)
                result.samples.append(out)
                result.totals.append(totals)
            return result

    if map_bands is not None:
        yield from map_bands(work, bands)
        return
    if threads <= 1 or len(bands) <= 1:
        for band in bands:
            yield work(band)
        return
    # one BLAS thread per band: the bands are the parallelism (and the engines' own
    # single-thread blocks then restore the same count)
    with single_threaded_blas(), ThreadPoolExecutor(threads) as pool:
        yield from pool.map(work, bands)


class BandedPlan:
    """What a filter's and a pooling's plan share: the band loop, the rescale's two passes, the reports.

    A subclass has ``settings`` (with ``range``), ``sample_type``, ``target``, ``factor``,
    ``compute_type``, ``labels()``, ``bands``, ``output_shape``, ``_compute(samples, band)``
    (as :func:`run_bands` takes it) and ``_rounding(magnitude, index)``.
    """

    def run(self, samples, *, threads: int = 2) -> tuple:
        """Compute ``samples`` (of the planned shape) into new arrays; the outputs and their reports."""
        outputs = None
        for result, reports in self.iterate(samples, threads=threads):
            if outputs is None:
                outputs = [np.empty((self.output_shape[0],) + s.shape[1:], s.dtype) for s in result.samples]
            for out, s in zip(outputs, result.samples):
                out[result.band.start:result.band.stop] = s
        from cnnconv.image.samples import ImageOutput

        return tuple(ImageOutput(label, out, report) for label, out, report in zip(self.labels(), outputs, reports))

    def iterate(self, samples, *, threads: int = 2, map_bands=None):
        """Yield ``(BandResult, reports)`` band by band, in order; ``reports`` is None until the last band.

        ``map_bands``: where the bands are computed (see :func:`run_bands`).
        """
        casts = [Cast(self.target, self.settings.range, self.factor)] * len(self.labels())
        totals = None
        if self.settings.range == "rescale" and is_integer_type(self.target):
            first = [Totals() for _ in casts]
            for result in run_bands(lambda b: self._compute(samples, b), self.bands,
                                    [Cast(None, "clip", self.factor)] * len(casts), threads=threads,
                                    map_bands=map_bands):
                for t, r in zip(first, result.totals):
                    t.add(r)
            from cnnconv.image.samples import stretch_of

            casts = [replace(c, stretch=stretch_of(t, self._rounding(t.magnitude, i), self.compute_type)) for i, (c, t)
                     in enumerate(zip(casts, first))]
        totals = [Totals() for _ in casts]
        bands = self.bands
        for result in run_bands(lambda b: self._compute(samples, b), bands, casts, threads=threads,
                                map_bands=map_bands):
            for t, r in zip(totals, result.totals):
                t.add(r)
            last = result.band.index == len(bands) - 1
            reports = [self._report(t, c, i) for i, (t, c) in enumerate(zip(totals, casts))] if last else None
            yield result, reports

    def _report(self, totals: Totals, cast: Cast, index: int):
        from cnnconv.image.samples import sample_report

        return sample_report(totals, cast, self.sample_type, self.compute_type, self.output_size(),
                             rescaled=cast.stretch)

    def output_size(self) -> int:
        return math.prod(self.output_shape)
