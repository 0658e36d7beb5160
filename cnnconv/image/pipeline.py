"""Band by band: a picture's output computed, scaled, rounded, clipped, counted and cast in row bands.

A filter or a pooling of a picture runs over bands of output rows. For each band the
window of input rows it reads (its halo from the image, its border from the boundary rule;
:mod:`cnnconv.tiling`) is converted to the computing float type, computed, and the result
is cast straight into the output samples, with the clip statistics counted on the way: no
image-sized float array exists, only a few bands' worth. Each band runs the engine the
whole image would run, with the same taps in the same order, so the bands put together are
the whole-image result (to the last bit for integer samples; a BLAS-backed engine may round
float results differently for other band heights, so the height is a function of the picture's
shape and the kernel alone, the same whether the picture is in memory or streamed from a file).

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
from dataclasses import dataclass, field, replace

import numpy as np

from cnnconv._threads import ordered_map
from cnnconv.errors import CnnconvError
from cnnconv.image.depth import is_integer_type
from cnnconv.image.samples import stretch_in_place

#: The most output rows in a band: a small picture still runs as a few bands on the threads.
BAND_ROWS = 256
#: The fewest (but four halos): fewer rows make the halo and the per-band overhead the work.
MIN_BAND_ROWS = 16
#: Input samples a band reads, about: a band's float copy is then ~4 MiB (float32) whatever the
#: picture's width, so two threads' bands stay a small part of a picture held in memory.
BAND_SAMPLES = 1 << 20


def band_rows(span: int, row_samples: int = 0, stride: int = 1) -> int:
    """Output rows per band, from the kernel's reach and the width of the rows it reads.

    About :data:`BAND_SAMPLES` input samples a band (``row_samples`` per input row, ``stride``
    input rows per output row), as a multiple of 16 from :data:`MIN_BAND_ROWS` to
    :data:`BAND_ROWS`, and at least four halos (``span`` input rows reached by one output row).

    >>> band_rows(3), band_rows(3, 4096 * 3), band_rows(3, 30000 * 3), band_rows(101, 30000)
    (256, 80, 16, 400)
    """
    fits = BAND_SAMPLES // max(1, row_samples * stride) // 16 * 16
    return max(min(BAND_ROWS, max(MIN_BAND_ROWS, fits)), 4 * (span - 1))


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


def _over(samples: np.ndarray, shape: tuple) -> np.ndarray:
    """An array of ``shape`` over the start of ``samples``' memory (same dtype, no larger)."""
    return samples.reshape(-1)[:math.prod(shape)].reshape(shape)


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
    with single_threaded_blas():
        yield from ordered_map(work, bands, threads)


class BandedPlan:
    """What a filter's and a pooling's plan share: the band loop, the rescale's two passes, the reports.

    A subclass has ``settings`` (with ``range``), ``sample_type``, ``target``, ``factor``,
    ``compute_type``, ``labels()``, ``bands``, ``output_shape``, ``_compute(samples, band)``
    (as :func:`run_bands` takes it) and ``_rounding(magnitude, index)``.
    """

    def run(self, samples, *, threads: int = 2, overwrite_input: bool = False) -> tuple:
        """Compute ``samples`` (of the planned shape) into new arrays; the outputs and their reports.

        ``overwrite_input``: the one output may be written into ``samples``' memory (which is
        then lost), as SciPy's ``overwrite_x``: a band's samples go over input rows no later
        band still reads, once the band after it has read its window (see
        :meth:`in_place_safe`). Where that cannot be so, the output is a new array.
        """
        outputs, pending = None, None
        for result, reports in self.iterate(samples, threads=threads):
            if outputs is None:
                shapes = [(self.output_shape[0],) + s.shape[1:] for s in result.samples]
                in_place = overwrite_input and len(shapes) == 1 and self.in_place_safe(samples, shapes[0],
                                                                                       result.samples[0].dtype)
                outputs = [_over(samples, shapes[0]) if in_place else np.empty(shape, s.dtype)
                           for shape, s in zip(shapes, result.samples)]
            if in_place:  # band i goes in once band i + 1, the last to read its rows, has read them
                result, pending = pending, result
            if result is not None:
                for out, s in zip(outputs, result.samples):
                    out[result.band.start:result.band.stop] = s
        if pending is not None:
            outputs[0][pending.band.start:pending.band.stop] = pending.samples[0]
        from cnnconv.image.samples import ImageOutput

        return tuple(ImageOutput(label, out, report) for label, out, report in zip(self.labels(), outputs, reports))

    def rows_read(self, band: Band) -> tuple | None:
        """(first, stop) of the input rows ``band``'s computation reads (its boundary's sources too);
        None where the plan does not say (its output is then never written over its input)."""
        return None

    def in_place_safe(self, samples, shape: tuple, dtype) -> bool:
        """Whether an output of ``shape`` and ``dtype`` can be written band by band over ``samples``.

        The output's rows, laid out from the start of the input's memory, must each end before
        the first input row that any band two or more later reads (the band just after is
        computed before the band is written).
        """
        if not (isinstance(samples, np.ndarray) and samples.flags.c_contiguous and samples.flags.writeable
                and samples.dtype == dtype and samples.ndim >= 2 and math.prod(shape) <= samples.size):
            return False
        reads = [self.rows_read(b) for b in self.bands]
        if any(r is None for r in reads):
            return False
        out_row, in_row = math.prod(shape[1:]), math.prod(samples.shape[1:])
        later = math.inf  # the first input row any band from i + 2 on reads
        for i in range(len(self.bands) - 3, -1, -1):
            later = min(later, reads[i + 2][0])
            if self.bands[i].stop * out_row > later * in_row:
                return False
        return True

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
