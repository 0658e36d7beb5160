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
        v = np.full_like(values, lo)  # a constant is written as it is (rounded, clipped)
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


def test_rescale_takes_values_within_rounding_as_one_value_and_writes_the_constant():
    # a flat gray image's derivative: zeros and rounding noise; rescale must not stretch the noise to 0/255
    noise = np.array([0.0, 1.3e-5, -4e-6, 0.0], np.float32)
    samples, report = to_samples(noise, np.dtype(np.uint8), "rescale", rounding=1e-3)
    assert samples.tolist() == [0, 0, 0, 0] and "constant" in report.notes[0]
    samples, _ = to_samples(noise + np.float32(127.6), np.dtype(np.uint8), "rescale", rounding=1e-3)
    assert samples.tolist() == [128] * 4  # one value, rounded once: no 127/128 speckle
    samples, report = to_samples(noise - 5, np.dtype(np.uint8), "rescale", rounding=1e-3)
    assert samples.tolist() == [0] * 4 and report.clipped == 4  # mapped as clip maps it, and counted
    # a real span just above the rounding bound is stretched
    assert to_samples(np.array([0.0, 2e-3]), np.dtype(np.uint8), "rescale", rounding=1e-3)[0].tolist() == [0, 255]


def test_a_flat_images_derivative_rescales_to_zeros_through_filter_image():
    from cnnconv.image import FilterSettings, Geometry, filter_image
    from cnnconv.kernels import Kernel

    flat = np.full((16, 16), 128, np.uint8)
    sobel = Kernel("sobel-x", [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]])
    for kernel in (sobel, Kernel("gauss", np.outer([1, 4, 6, 4, 1], [1, 4, 6, 4, 1]) / 256.0)):
        (out,) = filter_image(flat, FilterSettings((kernel,), geometry=Geometry(boundary="edge"), range="rescale"))
        expected = 0 if kernel is sobel else 128
        assert (out.samples == expected).all(), kernel.name


def test_float_outputs_take_abs_and_refuse_rescale_naming_depth():
    import pytest

    from cnnconv.errors import CnnconvError

    assert to_samples(np.array([-2.5, 1.0]), None, "abs")[0].tolist() == [2.5, 1.0]
    with pytest.raises(CnnconvError, match="--depth 8"):
        to_samples(np.array([-2.5, 1.0]), np.dtype(np.float32), "rescale")
