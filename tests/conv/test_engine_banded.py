"""The banded engine (one banded GEMM per row strip, kernel columns summed by shifted adds).

Its own cases on top of the generic ones in test_methods.py (which run every method on every
contract case): several strips with a short last one, vertical stride and dilation, kernels
with all-zero columns (skipped), channels, ``out=``, and the cases it hands to other engines.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnconv.conv import dispatch as methods
from cnnconv.conv.engines import banded
from test_methods import assert_close


@st.composite
def banded_operands(draw):
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    kh, kw = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    sh, dh, dw = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 2))
    # Up to ~40 output rows: several strips of MIN_ROWS..MAX_ROWS and a short last one.
    h = dh * (kh - 1) + 1 + draw(st.integers(0, 40))
    wd = dw * (kw - 1) + 1 + draw(st.integers(0, 15))
    channels = draw(st.sampled_from([None, 1, 3]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    xp = rng.standard_normal((h, wd) if channels is None else (h, wd, channels)).astype(dtype)
    w = rng.standard_normal((kh, kw)).astype(dtype)
    zero_cols = draw(st.lists(st.integers(0, kw - 1), max_size=kw))
    w[:, zero_cols] = 0
    return xp, w, (sh, 1), (dh, dw)


@settings(max_examples=80)
@given(ops=banded_operands())
def test_banded_matches_the_loop_reference(ops):
    xp, w, stride, dilation = ops
    assert banded.can_run(w.shape, stride)
    got = banded.correlate_banded(xp, w, stride, dilation)
    assert_close(got, xp, w, stride, dilation)


def test_writes_into_out_and_skips_zero_columns():
    rng = np.random.default_rng(5)
    xp = rng.standard_normal((50, 33)).astype(np.float32)
    sobel_x = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], np.float32)
    out = np.full((48, 31), np.nan, np.float32)
    assert banded.correlate_banded(xp, sobel_x, out=out) is out
    assert_close(out, xp, sobel_x, (1, 1), (1, 1))
    assert not banded.correlate_banded(xp, np.zeros((3, 3), np.float32)).any()


def test_one_column_kernel_and_one_row_image():
    x = np.arange(12.0).reshape(1, 12)
    np.testing.assert_array_equal(banded.correlate_banded(x, np.array([[2.0]])), 2 * x)
    col = np.arange(30.0).reshape(10, 3)
    got = banded.correlate_banded(col, np.array([[1.0], [-1.0]]))
    np.testing.assert_array_equal(got, np.full((9, 3), -3.0))


def test_strip_heights_stay_within_bounds():
    assert banded.strip_height(1, 1) == banded.MAX_ROWS
    assert banded.strip_height(31, 10**9) == banded.MIN_ROWS
    heights = [banded.strip_height(7, n * 4) for n in (64, 512, 4096, 16384)]
    assert heights == sorted(heights, reverse=True)


def test_column_bands_place_each_kernel_column_on_its_diagonal():
    w = np.arange(1.0, 7.0).reshape(3, 2)  # [[1, 2], [3, 4], [5, 6]]
    b = banded.column_bands(w, [0, 1], 2, 2, 1)  # 2 rows per strip, vertical stride 2
    assert b.shape == (4, 5)
    assert b[0].tolist() == [1, 3, 5, 0, 0] and b[1].tolist() == [0, 0, 1, 3, 5]
    assert b[2].tolist() == [2, 4, 6, 0, 0] and b[3].tolist() == [0, 0, 2, 4, 6]


@pytest.mark.parametrize(
    "x_shape, w_shape, stride",
    [((20, 20), (3, 3), (1, 2)), ((20, 20, 2), (3, 3, 2), (1, 1)), ((20, 20, 2), (3, 3, 2, 4), (1, 1))],
)
def test_cases_it_cannot_run_fall_back_and_say_so(x_shape, w_shape, stride):
    name, why = methods.explain_method(x_shape, w_shape, np.float32, stride, method="banded")
    assert name != "banded" and "falls back to" in why and "banded needs" in why
    rng = np.random.default_rng(2)
    xp, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
    got = methods.correlate_valid(xp, w, stride, (1, 1), method="banded")
    assert_close(got, xp, w, stride, (1, 1))


