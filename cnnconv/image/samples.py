"""Computed values to samples: the ``range`` policy, the cast and what it clipped.

A filter computes floats; a picture holds integers. :func:`to_samples` rounds to the
nearest integer and then, by the range policy, clips to the sample range (``clip``),
takes the absolute value first (``abs``) or maps the smallest..largest value onto the
whole range (``rescale``), and counts every value that fell outside. Values within float
rounding of one another are one value: a constant result is not stretched (a flat image's
derivative is 0, not a 0/255 speckle of rounding noise) but written as that constant,
with a note. Float sample types keep the numbers: ``abs`` applies to them, ``rescale``
(which maps onto an integer range) is refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from cnnconv.numerics import check_finite

#: ``dtype`` default of :func:`cnnconv.image.filter_image` and :func:`cnnconv.image.pool_image`: the input's sample type.
INPUT_DTYPE = "input"


@dataclass(frozen=True)
class SampleReport:
    """What the cast met: the range of the values before it and what it clipped.

    Attributes
    ----------
    min, max : float
        The smallest and largest value before the cast, in the shortest form that reads
        back as the computing dtype's value (``2.3333333``, not ``2.3333332538604736``).
    range : str
        The range policy applied.
    clipped, below, above : int or None
        Values outside the sample range after rounding (in all, under 0, over the top);
        None when the samples are floats (nothing is clipped).
    rescaled_from : (float, float) or None
        For ``rescale``, the interval mapped onto the sample range.
    notes : tuple of str
        Sentences for the user (what was clipped, why a rescale did nothing).
    """

    min: float
    max: float
    range: str
    clipped: int | None = None
    below: int | None = None
    above: int | None = None
    rescaled_from: tuple[float, float] | None = None
    notes: tuple[str, ...] = field(default=())

    def as_record(self) -> dict:
        """The report as JSON-ready data (the keys of ``cnnconv filter --json``'s outputs)."""
        record = {"min": self.min, "max": self.max, "range": self.range}
        if self.rescaled_from is not None:
            record["rescaled_from"] = list(self.rescaled_from)
        record["clipped"] = self.clipped
        if self.clipped is not None:
            record.update(below=self.below, above=self.above)
        return record


def _shortest(value) -> float:
    # str() of a NumPy scalar is its shortest round-trip form
    return float(str(value))


def rounding_bound(dtype, magnitude: float, terms: int = 1) -> float:
    """How far apart two results may be from float rounding alone, for sums of ``terms`` products.

    ``magnitude`` bounds the sum of the terms' absolute values (``sum|w| * max|x|`` for a
    kernel); the bound is ``16 * sqrt(terms) * eps * magnitude``: a few units in the last
    place of the largest partial sum, growing as rounding errors do (a random walk), with
    room for the FFT and BLAS engines.

    >>> f"{rounding_bound(np.float32, 8 * 128, 9):.2g}"  # Sobel (sum|w| 8) on 8-bit gray 128, in float32
    '0.0059'
    """
    return 16.0 * max(1.0, float(terms)) ** 0.5 * float(np.finfo(dtype).eps) * float(magnitude)


def to_samples(values: np.ndarray, dtype, range_mode: str = "clip", *,
               rounding: float = 0.0) -> tuple[np.ndarray, SampleReport]:
    """Round float results to samples of ``dtype`` by the range policy; the samples and a report.

    Parameters
    ----------
    values : ndarray of float
        The computed values, any shape.
    dtype : numpy dtype or None
        The sample type wanted. None keeps ``values`` as they are; a float type casts to it.
    range_mode : {"clip", "abs", "rescale"}
        Integer samples: round to nearest, then clip to ``0..top``; take ``|v|`` first; or
        map ``min..max`` onto ``0..top``. A span of at most ``rounding`` is a constant:
        ``rescale`` writes it as ``clip`` would (rounded, clipped), with a note. Float
        samples: ``abs`` takes ``|v|``, ``rescale`` raises :class:`CnnconvError`.
    rounding : float
        How far apart values may be from float rounding alone (:func:`rounding_bound`).

    Returns
    -------
    samples : ndarray
        Same shape as ``values``.
    report : SampleReport

    Examples
    --------
    >>> samples, report = to_samples(np.array([-20.0, 100.4, 300.0]), np.dtype(np.uint8), "clip")
    >>> samples.tolist(), report.clipped, report.below, report.above
    ([0, 100, 255], 2, 1, 1)
    >>> to_samples(np.array([-20.0, 100.4, 300.0]), np.dtype(np.uint8), "rescale")[0].tolist()
    [0, 96, 255]
    >>> to_samples(np.array([-3.0, 2.0]), np.dtype(np.uint8), "abs")[0].tolist()
    [3, 2]
    >>> samples, report = to_samples(np.array([0.0, 1.3e-5, 0.0]), np.dtype(np.uint8), "rescale", rounding=1e-3)
    >>> samples.tolist(), report.notes
    ([0, 0, 0], ('every value is 6.5e-06 to within float rounding (a constant result): --range rescale has no range to stretch, so it was written as that value, rounded and clipped',))
    """
    from cnnconv.errors import CnnconvError

    low, high = _shortest(values.min()), _shortest(values.max())
    if dtype is None or np.dtype(dtype).kind == "f":
        if range_mode == "rescale":
            raise CnnconvError("--range rescale maps values onto an integer sample range, and this output holds float "
                               "samples (the computed values); add --depth 8 or --depth 16 for integer samples, "
                               "or drop --range rescale")
        report = SampleReport(low, high, range_mode)
        out = np.abs(values) if range_mode == "abs" else values
        return (out if dtype is None else out.astype(dtype)), report
    dtype = np.dtype(dtype)
    top = float(np.iinfo(dtype).max)
    rescaled_from = None
    lowest, highest = low, high  # bounds of the working array before rounding
    notes = ()
    if range_mode == "rescale" and not high - low > rounding:  # NaN spans stretch (and are counted)
        middle = (low + high) / 2
        v = np.full_like(values, middle)  # one value, so rounding cannot split it into a speckle
        lowest, highest = middle, middle
        notes = (f"every value is {middle:.6g} to within float rounding (a constant result): --range rescale has "
                 "no range to stretch, so it was written as that value, rounded and clipped",)
    elif range_mode == "rescale":
        span = high - low
        rescaled_from = (low, high)
        v = stretch_in_place(values.copy(), low, span, top)
        lowest, highest = -np.inf, np.inf  # rounding may step just outside 0..top: count
    elif range_mode == "abs":
        v = np.abs(values)
        lowest, highest = 0.0, max(-low, high)
    else:
        v = values.copy()
    np.rint(v, out=v)  # one working array, rounded, clipped and cast in place: no more copies
    # rint is monotone, so the extremes already say when nothing can lie outside (no pass
    # then); a NaN extreme says nothing, so it counts
    below = 0 if lowest >= 0 else int(np.count_nonzero(v < 0))
    above = 0 if highest <= top else int(np.count_nonzero(v > top))
    if below + above:
        notes += (clip_note(below, above, low, high, int(top)),)
    report = SampleReport(low, high, range_mode, below + above, below, above, rescaled_from, notes)
    return np.clip(v, 0, top, out=v).astype(dtype), report


def extremes(totals, compute_type) -> tuple[float, float]:
    """The smallest and largest value of a banded result, in their shortest form (as :class:`SampleReport` holds them)."""
    kind = np.dtype(compute_type).type
    return _shortest(kind(totals.low)), _shortest(kind(totals.high))


def stretch_of(totals, rounding: float, compute_type) -> tuple[float, float]:
    """``(low, span)`` that ``--range rescale`` maps onto the sample range, or ``(middle, 0)`` for a constant.

    A span of at most ``rounding`` is one value (see :func:`to_samples`).

    >>> from cnnconv.image.pipeline import Totals
    >>> stretch_of(Totals(-2.0, 6.0), 0.0, np.float32), stretch_of(Totals(0.0, 1e-6), 1e-3, np.float32)
    ((-2.0, 8.0), (5e-07, 0))
    """
    low, high = extremes(totals, compute_type)
    if not high - low > rounding:  # NaN spans stretch (and are counted)
        return (low + high) / 2, 0
    return low, high - low


def sample_report(totals, cast, sample_type, compute_type, size: int, *, rescaled=None) -> SampleReport:
    """The :class:`SampleReport` of a banded cast (:mod:`cnnconv.image.pipeline`), as :func:`to_samples` makes it.

    Raises :class:`~cnnconv.errors.CnnconvError` when the result holds NaN or infinity (an
    overflow: the inputs are finite), naming how many of ``size`` values.
    """
    from cnnconv.numerics import overflow_error

    low, high = extremes(totals, compute_type)
    if totals.nonfinite or not (np.isfinite(low) and np.isfinite(high)):
        holder = cast.dtype if cast.dtype is not None and np.dtype(cast.dtype).kind == "f" else compute_type
        raise overflow_error(totals.nonfinite, size, holder)
    range_mode = cast.range
    if cast.dtype is None or np.dtype(cast.dtype).kind == "f":
        return SampleReport(low, high, range_mode)
    top = int(np.iinfo(cast.dtype).max)
    notes = ()
    rescaled_from = None
    if range_mode == "rescale" and rescaled is not None:
        start, span = rescaled
        if span == 0:
            notes = (f"every value is {start:.6g} to within float rounding (a constant result): --range rescale has "
                     "no range to stretch, so it was written as that value, rounded and clipped",)
        else:
            rescaled_from = (low, high)
    below, above = totals.below, totals.above
    if below + above:
        notes += (clip_note(below, above, low, high, top),)
    if np.dtype(sample_type).kind == "f" and range_mode == "clip" and low >= 0 and high <= 1 and high > low:
        notes += ("the float values lie in 0..1 and were written as the numbers they are (rounded to 0 or 1); "
                  "for 0..1 intensities add --scale 255 (or --range rescale)",)
    return SampleReport(low, high, range_mode, below + above, below, above, rescaled_from, notes)


def stretch_in_place(values: np.ndarray, low: float, span: float, top: float) -> np.ndarray:
    """``(values - low) * (top / span)`` in the values' dtype, in place, without overflow.

    When ``top / span`` is too large for the dtype (a span of a few float32 denormals),
    the same map is computed as ``(values - low) / span * top``, whose steps stay in range.

    >>> stretch_in_place(np.array([2.0, 4.0, 6.0]), 2.0, 4.0, 255.0).tolist()
    [0.0, 127.5, 255.0]
    """
    kind = values.dtype.type
    with np.errstate(over="ignore"):
        factor = kind(top / span)
    values -= kind(low)
    if np.isfinite(factor):
        values *= factor
        return values
    values /= kind(span)
    values *= kind(top)
    return values


def clip_note(below: int, above: int, low: float, high: float, top: int) -> str:
    """The sentence that reports clipped values and the options that avoid them.

    >>> clip_note(1, 2, -4.0, 300.0, 255)
    '3 values fell outside 0..255 and were clipped (1 below, 2 above; results ranged -4..300); see --range abs|rescale, --scale, --offset'
    """
    return (
        f"{below + above} values fell outside 0..{top} and were clipped ({below} below, "
        f"{above} above; results ranged {low:.6g}..{high:.6g}); "
        "see --range abs|rescale, --scale, --offset"
    )


@dataclass(frozen=True, eq=False)
class ImageOutput:
    """One output: its label, its samples (alpha last when the input had it) and the cast's report."""

    label: str
    samples: np.ndarray
    report: SampleReport


def image_output(label, y, alpha, samples, dtype, range_mode, *, rounding: float = 0.0) -> ImageOutput:
    """Cast ``y`` by the depth and range rules and append the output alpha (coverage or the input's).

    ``dtype`` as :func:`cnnconv.image.filter_image` takes it. Integer to integer depths
    scale the values first (:func:`cnnconv.image.depth.depth_factor`: 16 -> 8 is ``v / 257``);
    alpha is written by :func:`cnnconv.image.depth.alpha_in`. ``rounding`` is
    :func:`to_samples`'s, in ``y``'s units.
    """
    from cnnconv.errors import CnnconvError
    from cnnconv.image.depth import alpha_in, depth_factor

    if y.size == 0:
        raise CnnconvError(f"the output would be empty (shape {y.shape}); use --mode same or a smaller window")
    dtype = samples.dtype if isinstance(dtype, str) and dtype == INPUT_DTYPE else dtype
    factor = depth_factor(samples.dtype, dtype)
    if factor != 1:
        y = y * y.dtype.type(factor)
    out, report = to_samples(y, dtype, range_mode, rounding=rounding * factor)
    check_finite(report.min, report.max, y)  # the inputs are finite: a NaN or inf here is an overflow
    if samples.dtype.kind == "f" and dtype is not None and np.dtype(dtype).kind in "ui" and range_mode == "clip" \
            and report.min >= 0 and report.max <= 1 and report.max > report.min:
        report = replace(report, notes=report.notes + (
            "the float values lie in 0..1 and were written as the numbers they are (rounded to 0 or 1); "
            "for 0..1 intensities add --scale 255 (or --range rescale)",))
    if alpha is not None:
        out = np.dstack([out.reshape(out.shape[:2] + (-1,)), alpha_in(alpha, samples.dtype, dtype)])
    return ImageOutput(label, out, report)
