"""Identities of correlate/convolve/correlate_transpose, impulse responses, and dtypes."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cnnconv.conv import conv_plan, convolve, correlate, correlate_transpose
from cnnconv.conv.dispatch import METHODS
from cnnconv.shape.arithmetic import conv_transpose_out_size

LAYOUTS = ("1-D", "2-D", "per-channel", "summed", "bank")


def _shapes(layout, spatial, ksize, c, n):
    """(x shape without spatial, w shape, y channel shape) for a layout."""
    x_ch = {"per-channel": (c,), "summed": (c,), "bank": (c,)}.get(layout, ())
    w_shape = ksize + {"summed": (c,), "bank": (c, n)}.get(layout, ())
    y_ch = {"per-channel": (c,), "bank": (n,)}.get(layout, ())
    return x_ch, w_shape, y_ch


@st.composite
def adjoint_problems(draw):
    layout = draw(st.sampled_from(LAYOUTS))
    nd = 1 if layout == "1-D" else 2
    y_spatial = tuple(draw(st.integers(1, 5)) for _ in range(nd))
    ksize = tuple(draw(st.integers(1, 4)) for _ in range(nd))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    dilation = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    output_padding = tuple(draw(st.integers(0, s - 1)) for s in stride)
    pads = tuple((draw(st.integers(0, 3)), draw(st.integers(0, 3))) for _ in range(nd))
    x_spatial = tuple(
        conv_transpose_out_size(n, k, s, 0, op, d) - b - a
        for n, k, s, op, d, (b, a) in zip(y_spatial, ksize, stride, output_padding, dilation, pads)
    )
    if min(x_spatial) < 1:
        pads = ((0, 0),) * nd
        x_spatial = tuple(
            conv_transpose_out_size(n, k, s, 0, op, d)
            for n, k, s, op, d in zip(y_spatial, ksize, stride, output_padding, dilation)
        )
    c, n = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    x_ch, w_shape, y_ch = _shapes(layout, x_spatial, ksize, c, n)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    return (
        rng.standard_normal(x_spatial + x_ch),
        rng.standard_normal(w_shape),
        rng.standard_normal(y_spatial + y_ch),
        dict(stride=stride, dilation=dilation, padding=pads[0] if nd == 1 else pads),
        output_padding,
    )


@pytest.mark.parametrize("method", METHODS)
@given(problem=adjoint_problems())
def test_transpose_is_the_adjoint_of_correlate(method, problem):
    x, w, y, options, output_padding = problem
    forward = correlate(x, w, method=method, **options)
    assert forward.shape == y.shape
    backward = correlate_transpose(y, w, output_padding=output_padding, method=method, **options)
    assert backward.shape == x.shape
    lhs, rhs = np.vdot(forward, y), np.vdot(x, backward)
    assert lhs == pytest.approx(rhs, rel=1e-9, abs=1e-9)


@st.composite
def same_layout_problems(draw):
    layout = draw(st.sampled_from(("1-D", "2-D", "per-channel")))
    nd = 1 if layout == "1-D" else 2
    spatial = tuple(draw(st.integers(7, 10)) for _ in range(nd))
    ksize = tuple(draw(st.integers(1, 4)) for _ in range(nd))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(nd))
    c = draw(st.integers(1, 3))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    ch = (c,) if layout == "per-channel" else ()
    return rng.standard_normal(spatial + ch), rng.standard_normal(ksize), dilation


@pytest.mark.parametrize("method", METHODS)
@given(problem=same_layout_problems())
def test_valid_correlation_and_full_convolution_are_adjoint(method, problem):
    x, w, dilation = problem
    forward = correlate(x, w, mode="valid", dilation=dilation, method=method)
    y = np.random.default_rng(1).standard_normal(forward.shape)
    backward = convolve(y, w, mode="full", dilation=dilation, method=method)
    assert backward.shape == x.shape
    assert np.vdot(forward, y) == pytest.approx(np.vdot(x, backward), rel=1e-9, abs=1e-9)


@pytest.mark.parametrize("method", METHODS)
@given(problem=same_layout_problems())
def test_same_convolution_is_the_adjoint_of_same_correlation(method, problem):
    # this is what the mirrored same padding of convolve buys, even kernels included
    x, w, dilation = problem
    y = np.random.default_rng(2).standard_normal(x.shape)
    lhs = np.vdot(correlate(x, w, mode="same", dilation=dilation, method=method), y)
    rhs = np.vdot(x, convolve(y, w, mode="same", dilation=dilation, method=method))
    assert lhs == pytest.approx(rhs, rel=1e-9, abs=1e-9)


@pytest.mark.parametrize("mode", ["valid", "full"])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_convolve_is_correlate_with_the_flipped_kernel(mode, layout):
    rng = np.random.default_rng(3)
    nd = 1 if layout == "1-D" else 2
    x_ch, w_shape, _ = _shapes(layout, None, (3, 2)[:nd] if nd == 2 else (4,), 2, 3)
    x = rng.standard_normal((9, 8)[:nd] + x_ch)
    w = rng.standard_normal(w_shape)
    flipped = w[::-1] if nd == 1 else w[::-1, ::-1]
    for stride, dilation in [(1, 1), (2, 1), (1, 2)]:
        got = convolve(x, w, mode=mode, stride=stride, dilation=dilation)
        np.testing.assert_allclose(got, correlate(x, flipped, mode=mode, stride=stride, dilation=dilation), atol=1e-12)


def test_linearity_in_input_and_kernel():
    rng = np.random.default_rng(4)
    x1, x2 = rng.standard_normal((2, 7, 6, 3))
    w1, w2 = rng.standard_normal((2, 3, 2, 3, 4))
    options = dict(mode="same", stride=2, boundary="reflect")
    np.testing.assert_allclose(
        correlate(2 * x1 - 3 * x2, w1, **options),
        2 * correlate(x1, w1, **options) - 3 * correlate(x2, w1, **options),
        atol=1e-12,
    )
    np.testing.assert_allclose(
        correlate(x1, 0.5 * w1 + w2, **options),
        0.5 * correlate(x1, w1, **options) + correlate(x1, w2, **options),
        atol=1e-12,
    )


def test_stride_subsamples_and_dilation_spreads_the_kernel():
    rng = np.random.default_rng(5)
    x, w = rng.standard_normal((9, 10)), rng.standard_normal((2, 3))
    np.testing.assert_allclose(correlate(x, w, stride=(2, 3), padding=1), correlate(x, w, padding=1)[::2, ::3])
    spread = np.zeros((3, 7))
    spread[::2, ::3] = w
    np.testing.assert_allclose(correlate(x, w, dilation=(2, 3)), correlate(x, spread), atol=1e-12)


# --- impulse responses: the flip and the origin of even kernels in same mode -------------

IMPULSE = np.eye(1, 11, 5)[0]  # 1 at index 5


def test_impulse_1d_even_kernel_same():
    w = [1.0, 2.0, 3.0, 4.0]
    # correlate: same padding (1, 2); out[i] = x[i + a - 1] w[a], so the impulse at 5 shows the
    # kernel reversed, w[0] at index 6 and w[1] (the origin, plan.origin == 1) at index 5
    np.testing.assert_array_equal(correlate(IMPULSE, w, mode="same"), [0, 0, 0, 4, 3, 2, 1, 0, 0, 0, 0])
    # convolve: mirrored padding (2, 1) puts the kernel itself with w[1] on the impulse; this is
    # what numpy.convolve(x, w, mode="same") and scipy.signal.convolve2d give (checked by hand)
    np.testing.assert_array_equal(convolve(IMPULSE, w, mode="same"), [0, 0, 0, 0, 1, 2, 3, 4, 0, 0, 0])
    assert conv_plan((11,), (4,), mode="same").origin == (1,)
    assert conv_plan((11,), (4,), mode="same", flip=True).origin == (1,)


def test_impulse_2d_even_kernel_same():
    x = np.zeros((4, 4))
    x[1, 1] = 1.0
    w = np.array([[1.0, 2.0], [3.0, 4.0]])
    want_corr = np.zeros((4, 4))
    want_corr[0:2, 0:2] = [[4, 3], [2, 1]]  # flipped, w[0, 0] on the impulse
    np.testing.assert_array_equal(correlate(x, w, mode="same"), want_corr)
    want_conv = np.zeros((4, 4))
    want_conv[1:3, 1:3] = w  # the kernel itself, w[0, 0] on the impulse
    np.testing.assert_array_equal(convolve(x, w, mode="same"), want_conv)
    assert conv_plan((4, 4), (2, 2), mode="same").origin == (0, 0)


def test_impulse_2d_odd_kernel_same_is_centred():
    x = np.zeros((5, 5))
    x[2, 2] = 1.0
    w = np.arange(1.0, 10.0).reshape(3, 3)
    np.testing.assert_array_equal(correlate(x, w, mode="same")[1:4, 1:4], w[::-1, ::-1])
    np.testing.assert_array_equal(convolve(x, w, mode="same")[1:4, 1:4], w)
    assert conv_plan((5, 5), (3, 3), mode="same").origin == (1, 1)


def test_impulse_full_mode_returns_kernel_at_the_start():
    w = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    full = convolve(np.ones((1, 1)), w, mode="full")
    np.testing.assert_array_equal(full, w)
    np.testing.assert_array_equal(correlate(np.ones((1, 1)), w, mode="full"), w[::-1, ::-1])


# --- dtypes ---------------------------------------------------------------------------------


def test_uint8_input_is_not_wrapped():
    x = np.array([[200, 200], [200, 200]], dtype=np.uint8)
    out = correlate(x, np.ones((2, 2), dtype=np.uint8))
    assert out.dtype == np.float64
    assert out.tolist() == [[800.0]]
    assert convolve(x, np.full((1, 1), -1, dtype=np.int8)).tolist() == [[-200.0, -200.0], [-200.0, -200.0]]


def test_bool_and_int64_inputs_compute_in_float64():
    assert correlate(np.array([True, True, False]), [1, 1]).tolist() == [2.0, 1.0]
    big = np.array([2**40, 2**40], dtype=np.int64)
    out = correlate(big, np.array([2**20, 2**20], dtype=np.int64))
    assert out.dtype == np.float64 and out[0] == 2.0**61


@pytest.mark.parametrize("fn", [correlate, convolve, correlate_transpose])
def test_float32_stays_float32_everything_else_float64(fn):
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    w = np.ones((2, 2))  # float64 kernel does not promote a float32 input
    assert fn(x, w).dtype == np.float32
    assert fn(x.astype(np.float16), w).dtype == np.float64
    assert fn(x.astype(np.int32), w.astype(np.float32)).dtype == np.float64
    assert fn(x.astype(np.float64), w.astype(np.float32)).dtype == np.float64


def test_bias_per_channel_and_scalar():
    x = np.ones((3, 3, 2))
    out = correlate(x, np.ones((2, 2)), bias=[1.0, -1.0])
    np.testing.assert_array_equal(out[..., 0], 5.0)
    np.testing.assert_array_equal(out[..., 1], 3.0)
    assert correlate(np.ones((3, 3)), np.ones((2, 2)), bias=0.5).tolist() == [[4.5, 4.5], [4.5, 4.5]]
    t = correlate_transpose(np.ones((2, 2, 3)), np.ones((1, 1, 2, 3)), bias=[10.0, 20.0])
    np.testing.assert_array_equal(t[..., 0], 13.0)
    np.testing.assert_array_equal(t[..., 1], 23.0)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_transpose_auto_with_a_large_kernel_agrees_with_scatter(layout):
    # more than 49 taps at stride 1: "auto" goes through a full correlation, not the scatter
    rng = np.random.default_rng(6)
    nd = 1 if layout == "1-D" else 2
    ksize = (60,) if nd == 1 else (8, 9)
    _, w_shape, y_ch = _shapes(layout, None, ksize, 2, 3)
    y, w = rng.standard_normal((12, 11)[:nd] + y_ch), rng.standard_normal(w_shape)
    options = dict(padding=3 if nd == 1 else ((1, 2), (3, 0)), dilation=2)
    auto = correlate_transpose(y, w, method="auto", **options)
    np.testing.assert_allclose(auto, correlate_transpose(y, w, method="scatter", **options), atol=1e-9)


@pytest.mark.parametrize("method", METHODS)
def test_non_contiguous_inputs_give_the_same_result(method):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((20, 30, 3))
    bank, w = rng.standard_normal((3, 4, 3, 2)), rng.standard_normal((5, 5))
    view = x[::2, ::-1]
    want = correlate(view.copy(), bank, method=method)
    np.testing.assert_allclose(correlate(view, bank, method=method), want, rtol=1e-12, atol=1e-12)
    fortran = np.asfortranarray(x[..., 0])
    want = correlate(x[..., 0].copy(), w, stride=2, method=method)
    np.testing.assert_allclose(correlate(fortran, w, stride=2, method=method), want, rtol=1e-12, atol=1e-12)
