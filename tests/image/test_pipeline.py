"""The band pipeline: bands put together are the one-band result, and the precision rule holds."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from cnnconv.image import FilterSettings, Geometry, filter_image
from cnnconv.image.filtering import plan_filter
from cnnconv.kernels import Kernel


@st.composite
def cases(draw):
    dtype = draw(st.sampled_from([np.uint8, np.uint16]))
    channels = draw(st.sampled_from([None, 2, 3, 4]))
    h, w = draw(st.integers(3, 14)), draw(st.integers(3, 14))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    top = np.iinfo(dtype).max
    shape = (h, w) if channels is None else (h, w, channels)
    samples = rng.integers(0, top + 1, shape, dtype=dtype)
    if channels in (2, 4) and draw(st.booleans()):
        samples[..., -1] = rng.choice([0, top // 2, top], (h, w))  # transparent, half and opaque pixels
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    integer = draw(st.booleans())
    weights = rng.integers(-3, 4, (kh, kw)).astype(float) if integer else rng.normal(size=(kh, kw))
    if not np.any(weights):
        weights[0, 0] = 1.0
    boundary = draw(st.sampled_from(["zero", "constant", "edge", "reflect", "mirror", "wrap"]))
    geometry = Geometry(mode=draw(st.sampled_from(["same", "valid", "full"])), stride=draw(st.integers(1, 2)),
                        dilation=draw(st.integers(1, 2)), boundary=boundary,
                        cval=float(top // 3) if boundary == "constant" else 0.0)
    kernels = (Kernel("a", weights),) + ((Kernel("b", weights.T[::-1].copy()),) if kh == kw and draw(st.booleans()) else ())
    combine = draw(st.sampled_from([None, "magnitude", "sum"])) if len(kernels) > 1 else None
    return samples, FilterSettings(kernels, geometry=geometry, combine=combine, scale=draw(st.sampled_from([1.0, 0.5])),
                                   range=draw(st.sampled_from(["clip", "abs", "rescale"])),
                                   alpha=draw(st.sampled_from(["premultiply", "channel", "keep"])))


def _run(samples, s, **kw):
    try:
        return filter_image(samples, s, **kw)
    except Exception as exc:  # the shapes refuse the same way whatever the bands
        return type(exc).__name__, str(exc)


def assert_same_outputs(expected, actual):
    """The same outputs (labels, reports, samples and their type), or the same refusal."""
    if isinstance(expected, tuple) and expected and isinstance(expected[0], str):
        assert actual == expected
        return
    for a, b in zip(expected, actual, strict=True):
        assert a.label == b.label and a.report == b.report
        np.testing.assert_array_equal(a.samples, b.samples)
        assert a.samples.dtype == b.samples.dtype


@settings(max_examples=150, deadline=None)
@given(cases(), st.integers(1, 4), st.sampled_from([1, 2]))
def test_bands_put_together_are_the_one_band_result(case, rows, threads):
    samples, s = case
    assert_same_outputs(_run(samples, s, band_rows=10**6, threads=1), _run(samples, s, band_rows=rows, threads=threads))


def test_a_band_check_can_fail():
    # the comparison above sees a one-level change in one band
    x = np.arange(64, dtype=np.uint8).reshape(8, 8)
    s = FilterSettings((Kernel("k", [[1, 2, 1]]),))
    (a,), (b,) = filter_image(x, s, band_rows=2), filter_image(x, s, band_rows=10**6)
    b.samples[5, 3] += 1
    with pytest.raises(AssertionError):
        np.testing.assert_array_equal(a.samples, b.samples)


def test_integer_kernels_on_16_bits_are_exact_in_float32():
    rng = np.random.default_rng(1)
    x = rng.integers(0, 65536, (40, 50), dtype=np.uint16)
    s = FilterSettings((Kernel("sobel", [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]),))
    assert plan_filter(x.shape, x.dtype, s, dtype=None).compute_type == np.float32
    (f32,) = filter_image(x, s, dtype=None)
    (f64,) = filter_image(x, FilterSettings(s.kernels, precision="float64"), dtype=None)
    assert f32.samples.dtype == np.float32 and f64.samples.dtype == np.float64
    np.testing.assert_array_equal(f32.samples.astype(np.float64), f64.samples)


def test_float32_on_16_bits_rounds_as_float64_except_within_its_bound_of_a_tie():
    from cnnconv.image.precision import float32_error

    rng = np.random.default_rng(2)
    x = rng.integers(0, 65536, (120, 130), dtype=np.uint16)
    w = rng.random((5, 5))
    w /= w.sum()
    s = FilterSettings((Kernel("blur", w),))
    assert plan_filter(x.shape, x.dtype, s).compute_type == np.float32
    (auto,) = filter_image(x, s)
    (exact,) = filter_image(x, FilterSettings(s.kernels, precision="float64"), dtype=None)
    (ref,) = filter_image(x, FilterSettings(s.kernels, precision="float64"))
    bound = float32_error(np.uint16, [w])
    assert bound < 0.125
    differ = auto.samples != ref.samples
    near_tie = np.abs(exact.samples - np.floor(exact.samples) - 0.5) <= bound
    assert not (differ & ~near_tie).any()
    assert np.abs(auto.samples.astype(int) - ref.samples.astype(int)).max() <= 1


def test_precision_is_chosen_or_given():
    x = (np.zeros((4, 4), np.uint16), np.uint16)
    big = FilterSettings((Kernel("box", np.ones((31, 31))),), scale=1 / 961)
    assert plan_filter((64, 64), np.uint16, big).compute_type == np.float64
    assert plan_filter((64, 64), np.uint16, FilterSettings(big.kernels, scale=big.scale,
                                                           precision="float32")).compute_type == np.float32
    assert plan_filter((64, 64), np.uint8, big).compute_type == np.float32
    del x


@settings(max_examples=150, deadline=None)
@given(cases(), st.integers(1, 4), st.sampled_from([1, 2]))
def test_an_output_written_over_its_input_is_the_one_written_apart(case, rows, threads):
    """overwrite_input: written band by band over the input where no later band reads those rows, else apart."""
    samples, s = case
    assert_same_outputs(_run(samples, s, band_rows=rows, threads=threads),
                        _run(samples.copy(), s, band_rows=rows, threads=threads, overwrite_input=True))


@pytest.mark.parametrize("boundary, mode, over", [("zero", "same", True), ("edge", "valid", True),
                                                  ("reflect", "same", True), ("wrap", "same", False),
                                                  ("zero", "full", False)])
def test_the_output_goes_over_the_input_only_where_no_later_band_reads_what_it_covers(boundary, mode, over):
    # wrap: the last band reads the first rows; full: the output is larger than the input
    x = np.random.default_rng(3).integers(0, 256, (40, 30, 3), dtype=np.uint8)
    s = FilterSettings((Kernel("k", [[1, 2, 1], [2, 4, 2], [1, 2, 1]], scale=1 / 16),),
                       geometry=Geometry(mode=mode, boundary=boundary))
    (apart,) = filter_image(x, s, band_rows=4)
    y = x.copy()
    (written,) = filter_image(y, s, band_rows=4, overwrite_input=True)
    assert np.shares_memory(written.samples, y) == over
    np.testing.assert_array_equal(written.samples, apart.samples)
    (kept,) = filter_image(x, s, band_rows=4)  # without it the input is kept
    np.testing.assert_array_equal(kept.samples, apart.samples)
    assert not np.shares_memory(kept.samples, x)


def test_a_pooling_written_over_its_input_is_the_one_written_apart():
    from cnnconv.image import PoolSettings, pool_image

    x = np.random.default_rng(4).integers(0, 65536, (600, 70, 4), dtype=np.uint16)
    for s in (PoolSettings(size=2, op="avg"), PoolSettings(size=3, stride=1, padding=1, op="max")):
        apart = pool_image(x, s)
        y = x.copy()
        over = pool_image(y, s, overwrite_input=True)
        assert np.shares_memory(over.samples, y)
        np.testing.assert_array_equal(over.samples, apart.samples)


@pytest.mark.parametrize("weights", [[[1.0]], [[0.0, 1.0, 0.0]], [[1, 2, 1], [2, 4, 2], [1, 2, 1]]])
def test_float_samples_written_over_themselves_are_the_ones_written_apart(weights):
    """A float32 picture's bands are read as views of it: none of them may see rows already written."""
    x = np.random.default_rng(5).random((64, 20, 3)).astype(np.float32)
    s = FilterSettings((Kernel("k", weights),))
    (apart,) = filter_image(x, s, band_rows=4)
    y = x.copy()
    (over,) = filter_image(y, s, band_rows=4, overwrite_input=True)
    assert over.samples.dtype == np.float32 and np.shares_memory(over.samples, y)
    np.testing.assert_array_equal(over.samples, apart.samples)
