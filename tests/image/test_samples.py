"""The cast of computed values to samples: range policies, rounding, clip counts."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnconv.image import to_samples


def _reference_samples(values, top, range_mode):
    """The cast as first written: rint, count outside 0..top, clip (a full pass each)."""
    v = np.abs(values) if range_mode == "abs" else values
    if range_mode == "rescale":
        lo, hi = float(str(values.min())), float(str(values.max()))
        v = np.zeros_like(values)
        if hi > lo:  # a span of a few float32 denormals: top / span overflows float32, so divide first
            with np.errstate(over="ignore"):
                factor = values.dtype.type(top / (hi - lo))
            v = (values - lo) * factor if np.isfinite(factor) else (values - lo) / values.dtype.type(hi - lo) * top
    v = np.rint(v)
    return np.clip(v, 0, top), int(np.count_nonzero(v < 0)), int(np.count_nonzero(v > top))


@settings(max_examples=60)
@given(st.lists(st.floats(-600, 600, width=32), min_size=1, max_size=30),
       st.sampled_from(["clip", "abs", "rescale"]), st.sampled_from([np.float32, np.float64]), st.booleans())
def test_to_samples_matches_the_plain_cast(values, range_mode, dtype, with_nan):
    values = np.array(values + ([float("nan")] if with_nan and range_mode != "rescale" else []), dtype=dtype)
    with np.errstate(invalid="ignore"):  # NaN cast to uint8: counted like the plain cast, value unspecified
        samples, report = to_samples(values, np.dtype(np.uint8), range_mode)
    expected, below, above = _reference_samples(values, 255.0, range_mode)
    finite = ~np.isnan(expected)
    np.testing.assert_array_equal(samples[finite], expected[finite].astype(np.uint8))
    assert (report.below, report.above, report.clipped) == (below, above, below + above)


def test_a_span_of_two_float32_denormals_rescales_without_overflow():
    # top / span overflows float32 here; the map divides first instead
    samples, report = to_samples(np.array([0.0, 1.1754943508222875e-38], np.float32), np.dtype(np.uint8), "rescale")
    assert samples.tolist() == [0, 255] and report.clipped == 0
