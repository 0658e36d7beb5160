"""Every engine of cnnconv.conv.dispatch against a slow float64 reference, on every contract case.

Accuracy is measured against the scale of the result: |got - ref| <= rtol * (|x| correlated
with |w|), which is what "1e-5 relative" means for sums whose terms may cancel. The spatial
engines meet that element by element. An FFT spreads its rounding over the whole transform,
so for "fft" the bound is relative to the largest such scale in the output (norm-wise).
"""

from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnconv.conv import dispatch as methods, engines
from cnnconv.conv.engines.fft import next_fast_len
from cnnconv.errors import CnnconvError
from reference import correlate_reference

RTOL = {np.float32: 1e-5, np.float64: 1e-10}


def loop_reference(xp, w, stride, dilation):
    """The definition, pixel by pixel in float64: tests/reference.py on an already padded input."""
    return correlate_reference(xp, w, ((0, 0), (0, 0)), stride, dilation)


def window_reference(xp, w, stride, dilation):
    """The same definition vectorised with sliding windows, for images too big to loop over."""
    (sh, sw), (dh, dw) = stride, dilation
    kh, kw = w.shape[:2]
    view = np.lib.stride_tricks.sliding_window_view(
        xp.astype(np.float64), (dh * (kh - 1) + 1, dw * (kw - 1) + 1), axis=(0, 1)
    )[::sh, ::sw, ..., ::dh, ::dw]
    k = w.astype(np.float64)
    if w.ndim == 2:
        return np.einsum("ij...ab,ab->ij...", view, k)
    if w.ndim == 3:
        return np.einsum("ijcab,abc->ij", view, k)
    return np.einsum("ijcab,abcn->ijn", view, k)


def assert_close(got, xp, w, stride, dilation, reference=loop_reference, normwise=False):
    ref = reference(xp, w, stride, dilation)
    scale = reference(np.abs(xp), np.abs(w), stride, dilation)
    if normwise:
        scale = np.full_like(scale, scale.max())
    assert got.shape == ref.shape
    assert got.dtype == xp.dtype
    err = np.abs(got.astype(np.float64) - ref)
    tol = RTOL[xp.dtype.type] * (scale + np.finfo(np.float64).tiny)
    assert np.all(err <= tol), f"max error {err.max():.3g}, allowed {tol.min():.3g}"


@st.composite
def operands(draw, rank1=False, small_integers=False):
    """A padded input and kernel for one of the four contract cases, with stride/dilation."""
    case = draw(st.sampled_from(["2d", "per-channel", "summed", "bank"]))
    if rank1:
        case = draw(st.sampled_from(["2d", "per-channel"]))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    kh, kw = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    dh, dw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    h = dh * (kh - 1) + 1 + draw(st.integers(0, 12))
    wd = dw * (kw - 1) + 1 + draw(st.integers(0, 12))
    c, n = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    xp = rng.standard_normal((h, wd) if case == "2d" else (h, wd, c)).astype(dtype)
    wshape = {"2d": (kh, kw), "per-channel": (kh, kw), "summed": (kh, kw, c), "bank": (kh, kw, c, n)}
    if rank1:
        w = np.outer(rng.standard_normal(kh), rng.standard_normal(kw)).astype(dtype)
    elif small_integers:  # weights of 0 and +-1 take their own paths in the direct engine
        w = rng.integers(-2, 3, wshape[case]).astype(dtype)
    else:
        w = rng.standard_normal(wshape[case]).astype(dtype)
    return xp, w, (sh, sw), (dh, dw)


@pytest.mark.parametrize("method", methods.METHODS)
@settings(max_examples=40)
@given(ops=operands())
def test_every_method_matches_the_loop_reference(method, ops):
    xp, w, stride, dilation = ops
    got = methods.correlate_valid(xp, w, stride, dilation, method=method)
    assert_close(got, xp, w, stride, dilation, normwise=runs_fft(method, xp, w, stride, dilation))


@pytest.mark.parametrize("method", ["direct", "auto"])
@settings(max_examples=30)
@given(ops=operands(small_integers=True))
def test_integer_kernels_with_zero_and_unit_weights_match(method, ops):
    xp, w, stride, dilation = ops
    got = methods.correlate_valid(xp, w, stride, dilation, method=method)
    assert_close(got, xp, w, stride, dilation, normwise=runs_fft(method, xp, w, stride, dilation))


def runs_fft(method, xp, w, stride, dilation):
    return methods.explain_method(xp.shape, w.shape, xp.dtype, stride, dilation, method, kernel=w)[0] == "fft"


@pytest.mark.parametrize("method", ["separable", "auto"])
@settings(max_examples=30)
@given(ops=operands(rank1=True))
def test_rank1_kernels_run_separable_and_match(method, ops):
    """The separable engine is the one that runs (auto takes it from 2x2 taps up), and it is exact."""
    xp, w, stride, dilation = ops
    ran = []
    real = engines.correlate_separable
    with mock.patch.object(engines, "correlate_separable", lambda *a, **k: ran.append(a) or real(*a, **k)):
        got = methods.correlate_valid(xp, w, stride, dilation, method=method)
    expected = method == "separable" or min(w.shape) >= methods.SEPARABLE_MIN_K
    assert bool(ran) == expected, (method, w.shape)
    chosen = methods.explain_method(xp.shape, w.shape, xp.dtype, stride, dilation, method, kernel=w)[0]
    assert (chosen == "separable") == expected
    assert_close(got, xp, w, stride, dilation)


def test_window_reference_agrees_with_the_loop_reference():
    rng = np.random.default_rng(1)
    xp = rng.standard_normal((9, 11, 3))
    for w in (rng.standard_normal((3, 2)), rng.standard_normal((3, 2, 3)), rng.standard_normal((3, 2, 3, 4))):
        np.testing.assert_allclose(window_reference(xp, w, (2, 1), (1, 2)), loop_reference(xp, w, (2, 1), (1, 2)))


@pytest.mark.parametrize("method", methods.METHODS[1:])
@pytest.mark.parametrize("shape, wshape", [((300, 700), (7, 7)), ((150, 260, 3), (5, 5)), ((90, 130, 3), (3, 3, 3, 5))])
def test_multi_strip_images_match(method, shape, wshape):
    """Images big enough for several row strips and column blocks (strip edges, tail block)."""
    rng = np.random.default_rng(7)
    xp = rng.standard_normal(shape).astype(np.float32)
    w = rng.standard_normal(wshape).astype(np.float32)
    for stride, dilation in [((1, 1), (1, 1)), ((2, 3), (2, 1))]:
        got = methods.correlate_valid(xp, w, stride, dilation, method=method)
        assert_close(got, xp, w, stride, dilation, window_reference, method == "fft")


@pytest.mark.parametrize("fft_size", [1, 8, 16, 20])
def test_tiled_fft_matches(fft_size):
    rng = np.random.default_rng(3)
    xp = rng.standard_normal((37, 41, 2)).astype(np.float32)
    w = rng.standard_normal((4, 6, 2, 3)).astype(np.float32)
    for stride, dilation in [((1, 1), (1, 1)), ((3, 2), (2, 1))]:
        got = engines.correlate_fft(xp, w, stride, dilation, fft_size=fft_size)
        assert_close(got, xp, w, stride, dilation, normwise=True)


def test_sobel_is_exactly_separable_and_a_gaussian_is_within_tolerance():
    sobel = np.outer([1.0, 2.0, 1.0], [-1.0, 0.0, 1.0]).astype(np.float32)
    u, v = engines.rank1_factors(sobel)
    np.testing.assert_allclose(np.outer(u, v), sobel, atol=1e-6)
    g = np.exp(-0.5 * (np.arange(-7, 8) / 2.5) ** 2)
    u, v = engines.rank1_factors(np.outer(g, g).astype(np.float32))
    np.testing.assert_allclose(np.outer(u, v), np.outer(g, g), rtol=0, atol=1e-6)
    noisy = np.outer(g, g) + 1e-3 * np.eye(15)
    assert engines.rank1_factors(noisy) is None


def test_next_fast_len_is_the_smallest_7_smooth_size():
    def smooth(m):
        for p in (2, 3, 5, 7):
            while m % p == 0:
                m //= p
        return m == 1

    for n in range(1, 400):
        fast = next_fast_len(n)
        assert fast >= n and smooth(fast)
        assert not any(smooth(m) for m in range(n, fast))


def test_auto_choices_and_explanations():
    f32 = np.float32
    assert methods.choose_method((512, 512), (3, 3), f32) == "banded"
    assert methods.choose_method((64, 64), (3, 3), f32) == "direct"
    assert methods.choose_method((512, 512), (7, 7), f32) == "banded"
    assert methods.choose_method((512, 512), (15, 15), f32) == "banded"
    assert methods.choose_method((512, 512), (13, 13), np.float64) == "banded"
    assert methods.choose_method((512, 512), (15, 15), np.float64) == "fft"
    assert methods.choose_method((512, 512), (17, 17), f32) == "fft"
    assert methods.choose_method((512, 512), (7, 7), f32, stride=(2, 1)) == "banded"
    assert methods.choose_method((512, 512), (7, 7), f32, stride=(1, 2)) == "toeplitz"
    assert methods.choose_method((64, 64), (7, 7), f32) == "toeplitz"
    assert methods.choose_method((512, 512), (31, 31), f32) == "fft"
    assert methods.choose_method((512, 512), (31, 31), f32, stride=(2, 2)) != "fft"
    assert methods.choose_method((512, 512), (31, 31), f32, stride=(2, 1)) == "banded"
    gauss = np.outer([1, 4, 6, 4, 1], [1, 4, 6, 4, 1]).astype(f32)
    assert methods.choose_method((512, 512), (5, 5), f32, kernel=gauss) == "separable"
    assert methods.choose_method((64, 64, 8), (3, 3, 8, 32), f32) == "im2col"
    rgb = [methods.choose_method((512, 512, 3), (k, k), f32) for k in (5, 9, 15)]
    assert rgb == ["banded", "banded", "fft"]
    small_rgb = [methods.choose_method((128, 128, 3), (k, k), f32) for k in (5, 9, 15)]
    assert methods.choose_method((180, 190), (3, 3), f32) == "banded"
    assert small_rgb == ["direct", "toeplitz", "fft"]
    assert methods.choose_method((128, 128), (5, 5), np.float64) == "direct"
    name, why = methods.explain_method((64, 64, 3), (5, 5, 3), f32, method="separable")
    assert name != "separable" and "falls back" in why
    name, why = methods.explain_method((64, 64), (5, 5), f32, method="separable", kernel=np.eye(5))
    assert name != "separable" and "rank-1" in why


def test_unknown_method_is_refused_with_the_choices():
    with pytest.raises(CnnconvError, match="unknown method 'blas'.*toeplitz"):
        methods.correlate_valid(np.zeros((4, 4)), np.ones((2, 2)), method="blas")


def test_all_zero_kernel_gives_zeros():
    xp = np.ones((6, 6), np.float32)
    for method in methods.METHODS:
        out = methods.correlate_valid(xp, np.zeros((3, 3), np.float32), method=method)
        assert out.shape == (4, 4) and not out.any()


@pytest.mark.parametrize("shape", [(150, 90), (150, 90, 3)])
@pytest.mark.parametrize("kh, kw", [(9, 11), (3, 19), (17, 2)])
def test_long_separable_kernels_use_gemm_passes_and_match(shape, kh, kw):
    """Long vectors run their passes as matrix products (several strips, partial last strip)."""
    rng = np.random.default_rng(kh * kw)
    xp = rng.standard_normal(shape).astype(np.float32)
    w = np.outer(rng.standard_normal(kh), rng.standard_normal(kw)).astype(np.float32)
    assert kh > engines.separable.VERTICAL_TAPS_MAX or kw > engines.separable.HORIZONTAL_TAPS_MAX
    for stride, dilation in [((1, 1), (1, 1)), ((2, 3), (3, 2))]:
        got = methods.correlate_valid(xp, w, stride, dilation, method="separable")
        assert_close(got, xp, w, stride, dilation, window_reference)


@pytest.mark.parametrize("method", methods.METHODS[1:])
def test_non_contiguous_inputs_and_kernels(method):
    """Views (reversed rows, every other column, a transposed kernel) give the same numbers."""
    rng = np.random.default_rng(11)
    base = rng.standard_normal((40, 70, 2)).astype(np.float32)
    xp = base[::-1, ::2]
    for w in (rng.standard_normal((5, 4)).astype(np.float32).T, rng.standard_normal((3, 3, 2, 3)).astype(np.float32)[::-1]):
        got = methods.correlate_valid(xp, w, (1, 2), (2, 1), method=method)
        assert_close(got, xp, w, (1, 2), (2, 1), window_reference, method == "fft")
