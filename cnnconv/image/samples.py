"""Computed values to samples: the ``range`` policy, the cast and what it clipped.

A filter computes floats; a picture holds integers. :func:`to_samples` rounds to the
nearest integer and then, by the range policy, clips to the sample range (``clip``),
takes the absolute value first (``abs``) or maps the smallest..largest value onto the
whole range (``rescale``), and counts every value that fell outside. Float sample types
keep the numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

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


def to_samples(values: np.ndarray, dtype, range_mode: str = "clip") -> tuple[np.ndarray, SampleReport]:
    """Round float results to samples of ``dtype`` by the range policy; the samples and a report.

    Parameters
    ----------
    values : ndarray of float
        The computed values, any shape.
    dtype : numpy dtype or None
        The sample type wanted. None keeps ``values`` as they are; a float type casts to it.
    range_mode : {"clip", "abs", "rescale"}
        Integer samples: round to nearest, then clip to ``0..top``; take ``|v|`` first; or
        map ``min..max`` onto ``0..top`` (a constant gives 0).

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
    """
    low, high = _shortest(values.min()), _shortest(values.max())
    if dtype is None or np.dtype(dtype).kind == "f":
        report = SampleReport(low, high, range_mode)
        return (values if dtype is None else values.astype(dtype)), report
    dtype = np.dtype(dtype)
    top = float(np.iinfo(dtype).max)
    rescaled_from = None
    lowest, highest = low, high  # bounds of the working array before rounding
    if range_mode == "rescale":
        span = high - low
        rescaled_from = (low, high)
        if span > 0:
            v = _stretch(values, low, span, top)
        else:
            v = np.zeros_like(values)
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
    notes = ()
    if below + above:
        notes = (clip_note(below, above, low, high, int(top)),)
    report = SampleReport(low, high, range_mode, below + above, below, above, rescaled_from, notes)
    return np.clip(v, 0, top, out=v).astype(dtype), report


def _stretch(values: np.ndarray, low: float, span: float, top: float) -> np.ndarray:
    """``(values - low) * (top / span)`` in the values' dtype, without overflow.

    When ``top / span`` is too large for the dtype (a span of a few float32 denormals),
    the same map is computed as ``(values - low) / span * top``, whose steps stay in range.
    """
    kind = values.dtype.type
    with np.errstate(over="ignore"):
        factor = kind(top / span)
    if np.isfinite(factor):
        return (values - kind(low)) * factor
    return (values - kind(low)) / kind(span) * kind(top)


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


def image_output(label, y, alpha, samples, dtype, range_mode) -> ImageOutput:
    """Cast ``y`` by the range policy and append the output alpha (coverage or the input's).

    ``dtype`` as :func:`cnnconv.image.filter_image` takes it; the alpha is written in the
    output's sample units (the input's for raw floats).
    """
    from cnnconv.errors import CnnconvError
    from cnnconv.image.alpha import alpha_top

    if y.size == 0:
        raise CnnconvError(f"the output would be empty (shape {y.shape}); use --mode same or a smaller window")
    dtype = samples.dtype if isinstance(dtype, str) and dtype == INPUT_DTYPE else dtype
    out, report = to_samples(y, dtype, range_mode)
    check_finite(report.min, report.max, y)  # the inputs are finite: a NaN or inf here is an overflow
    if alpha is not None:
        if dtype is None:  # raw numbers: alpha in the input's sample units, like the colour
            a = alpha * alpha_top(samples)
        elif np.dtype(dtype).kind == "f":
            a = alpha.astype(dtype)
        else:
            a = np.rint(alpha * float(np.iinfo(dtype).max)).astype(dtype)
        out = np.dstack([out.reshape(out.shape[:2] + (-1,)), a])
    return ImageOutput(label, out, report)
