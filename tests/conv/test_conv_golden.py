"""Golden values from the worked examples of the lecture notes in ../shared/seeds/ (beside the repository).

Where the slide text is garbled or wrong the true value is derived here from the slide's
own numbers, and the test says so.
"""

from __future__ import annotations

import numpy as np
import pytest

from cnnconv.conv import convolve, correlate, correlate_transpose
from cnnconv.conv.dispatch import METHODS


@pytest.mark.parametrize("method", METHODS)
def test_spaceship_weighted_average_000_001(method):
    # 000_500bed307a14206a.txt / 001_5ba68b6406075fe8.txt: s_t = sum_{a=0}^{6} x_{t-a} w_{-a},
    # w_{-6..0} = 0.01 0.01 0.02 0.02 0.04 0.4 0.5. Written with the kernel stored oldest tap
    # first, s_6.. is the valid correlation. By hand: s_6 = 1.9*.5 + 1.8*.4 + 1.7*.04 + 1.4*.02
    # + 1.2*.02 + 1.1*.01 + 1.0*.01 = 1.811. The slide's 1.80, 1.96, 2.11 are 1.811, 1.967, 2.112
    # truncated; its 2.16, 2.28, 2.42 do not follow from its own x and w (slide error): the
    # formula gives 2.269, 2.413, 2.569. (One slide also shows w_{-2} = 1, an extraction error
    # for 0.04 that would give s_6 = 3.4.)
    x = [1.00, 1.10, 1.20, 1.40, 1.70, 1.80, 1.90, 2.10, 2.20, 2.40, 2.50, 2.70]
    w = [0.01, 0.01, 0.02, 0.02, 0.04, 0.4, 0.5]
    s = correlate(x, w, method=method)
    np.testing.assert_allclose(s, [1.811, 1.967, 2.112, 2.269, 2.413, 2.569], rtol=0, atol=1e-12)
    assert s[3] != pytest.approx(2.16, abs=0.05)  # the slide's value is not what the formula gives
    # the same sums written as the slide's convolution formula (x_{t-a} w_{-a}): convolve with
    # the kernel indexed by a = 0..6, i.e. w reversed
    np.testing.assert_allclose(convolve(x, w[::-1], method=method), s, atol=1e-12)


def test_toy_2x2_kernel_symbols_001():
    # 001_5ba68b6406075fe8.txt: input a..l (3x4), kernel w x / y z, output aw+bx+ey+fz, ...
    # Encode each symbol as a distinct power of two so every product is identifiable.
    x = np.array([[1, 2, 4, 8], [16, 32, 64, 128], [256, 512, 1024, 2048]], dtype=np.int64)
    w = np.array([[1, 10], [100, 1000]])
    out = correlate(x, w)
    a, b, c, d, e, f, g, h, i, j, k, l_ = x.ravel()
    expected = [
        [a * 1 + b * 10 + e * 100 + f * 1000, b + c * 10 + f * 100 + g * 1000, c + d * 10 + g * 100 + h * 1000],
        [e + f * 10 + i * 100 + j * 1000, f + g * 10 + j * 100 + k * 1000, g + h * 10 + k * 100 + l_ * 1000],
    ]
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("method", METHODS)
def test_5x5_valid_004(method):
    # 004_60c40e770a0e0877.txt: the kernel shown as "Filter? 0 1 2 / 0 1 2 / 0 1 2" is garbled;
    # the true kernel is in the subscripts on the input's top-left 3x3 (0 1 2 / 2 2 0 / 0 1 2),
    # and with it the slide's output 12 12 17 / 10 17 19 / 9 6 14 is exact.
    a = np.array([[3, 3, 2, 1, 0], [0, 0, 1, 3, 1], [3, 1, 2, 2, 3], [2, 0, 0, 2, 2], [2, 0, 0, 0, 1]])
    w = np.array([[0, 1, 2], [2, 2, 0], [0, 1, 2]])
    expected = [[12, 12, 17], [10, 17, 19], [9, 6, 14]]
    np.testing.assert_allclose(correlate(a, w, method=method), expected, atol=1e-9)
    # the slide's convolve2d(A, np.fliplr(np.flipud(w)), mode='valid'): convolving with the
    # flipped kernel is correlating with the kernel
    np.testing.assert_allclose(convolve(a, np.fliplr(np.flipud(w)), mode="valid", method=method), expected, atol=1e-9)
    assert correlate(a, w, mode="same").shape == (5, 5)  # 004: same keeps N = 5
    assert correlate(a, w, mode="full").shape == (7, 7)  # 004: full gives N + K - 1 = 7


VERTICAL = np.array([[1, 0, -1]] * 3)


@pytest.mark.parametrize("method", METHODS)
def test_vertical_edge_6x6_003(method):
    # 003_def129c27ac6a2b8.txt, "Vertical Edge Detection": 6x6 image * 3x3 filter -> 4x4
    image = np.array(
        [[3, 0, 1, 2, 7, 4], [1, 5, 8, 9, 3, 1], [2, 7, 2, 5, 1, 3], [0, 1, 3, 1, 7, 8], [4, 2, 1, 6, 2, 8], [2, 4, 5, 2, 3, 9]]
    )
    expected = [[-5, -4, 0, 8], [-10, -2, 2, 3], [0, -2, -4, -7], [-3, -2, -3, -16]]
    np.testing.assert_allclose(correlate(image, VERTICAL, method=method), expected, atol=1e-9)


def test_light_dark_edges_003():
    # 003: "Light to Dark Edge" gives 0 30 30 0 rows; "Dark to Light" gives 0 -30 -30 0
    light_dark = np.array([[10, 10, 10, 0, 0, 0]] * 6)
    np.testing.assert_array_equal(correlate(light_dark, VERTICAL), [[0, 30, 30, 0]] * 4)
    np.testing.assert_array_equal(correlate(light_dark[:, ::-1], VERTICAL), [[0, -30, -30, 0]] * 4)
    # "Vertical and Horizontal Edges": the checkerboard with the horizontal filter
    board = np.array([[10, 10, 10, 0, 0, 0]] * 3 + [[0, 0, 0, 10, 10, 10]] * 3)
    horizontal = VERTICAL.T
    expected = [[0, 0, 0, 0], [30, 10, -10, -30], [30, 10, -10, -30], [0, 0, 0, 0]]
    np.testing.assert_array_equal(correlate(board, horizontal), expected)


@pytest.mark.parametrize("method", METHODS)
def test_7x7_stride_2_003(method):
    # 003, "Strided convolution": the 7x7 input survives in the text; the filter was lost in the
    # extraction. It is 3 4 4 / 1 0 2 / -1 0 3 (the Coursera example this slide copies). The
    # slide's output 91 100 83 / 69 91 127 / 44 72 74 has two errors: the top-right window
    # (rows 0-2, cols 4-6) gives 6*3+2*4+9*4 + 7*1+4*0+3*2 + 8*(-1)+9*0+7*3 = 88, not 83, and the
    # middle-right (rows 2-4, cols 4-6) gives 8*3+9*4+7*4 + 6*1+3*0+4*2 + 3*(-1)+4*0+6*3 = 117,
    # not 127. The seven other values match, which confirms the recovered filter.
    x = np.array(
        [
            [2, 3, 7, 4, 6, 2, 9],
            [6, 6, 9, 8, 7, 4, 3],
            [3, 4, 8, 3, 8, 9, 7],
            [7, 8, 3, 6, 6, 3, 4],
            [4, 2, 1, 8, 3, 4, 6],
            [3, 2, 4, 1, 9, 8, 3],
            [0, 1, 3, 9, 2, 1, 4],
        ]
    )
    w = np.array([[3, 4, 4], [1, 0, 2], [-1, 0, 3]])
    out = correlate(x, w, stride=2, method=method)
    np.testing.assert_allclose(out, [[91, 100, 88], [69, 91, 117], [44, 72, 74]], atol=1e-9)
    assert out.shape == (3, 3)  # 003: floor((n + 2p - f) / s) + 1 = (7 - 3) / 2 + 1


@pytest.mark.parametrize("method", ["scatter", *METHODS])
def test_transposed_2x2_stride_1_003(method):
    # 003, "Basic transposed convolution operation with stride of 1": input 0 1 / 2 3,
    # kernel 0 1 / 2 3 -> the sum of the four scattered copies, a 3x3 output
    # (the figure itself did not survive extraction; Y[i:i+h, j:j+w] += X[i, j] * K by hand)
    y = np.array([[0, 1], [2, 3]])
    out = correlate_transpose(y, y, method=method)
    np.testing.assert_allclose(out, [[0, 0, 1], [0, 4, 6], [4, 12, 9]], atol=1e-9)


@pytest.mark.parametrize("method", ["scatter", *METHODS])
def test_transposed_2x2_stride_2_003(method):
    # 003, "Transposed convolution with a 2*2 kernel computed for a 2*2 input tensor with
    # stride 2": the slide's output 0 0 0 1 / 0 0 2 3 / 0 2 0 3 / 4 6 6 9
    y = np.array([[0, 1], [2, 3]])
    out = correlate_transpose(y, y, stride=2, method=method)
    np.testing.assert_allclose(out, [[0, 0, 0, 1], [0, 0, 2, 3], [0, 2, 0, 3], [4, 6, 6, 9]], atol=1e-9)
    # 003: "padding 1: first and last rows and columns are removed"
    np.testing.assert_allclose(correlate_transpose(y, y, stride=2, padding=1, method=method), [[0, 2], [2, 0]], atol=1e-9)


def test_bank_with_bias_002():
    # 002_beccb8e0a0150132.txt eq. (10): Y_i = B_i + sum_j K_ij * Y_j. Two input maps, two
    # output maps, 1x1 kernels make the sum checkable by hand.
    x = np.stack([np.full((2, 2), 1.0), np.full((2, 2), 10.0)], axis=-1)  # Y_1 = 1, Y_2 = 10
    k = np.array([[1.0, 3.0], [2.0, 4.0]]).reshape(1, 1, 2, 2)  # K[j, i]
    out = correlate(x, k, bias=[0.5, -1.0])
    np.testing.assert_array_equal(out[..., 0], np.full((2, 2), 0.5 + 1 * 1 + 10 * 2))
    np.testing.assert_array_equal(out[..., 1], np.full((2, 2), -1.0 + 1 * 3 + 10 * 4))


def test_color_3d_filter_gives_2d_output_004():
    # 004: "Input H x W x 3, kernel K x K x 3, output (H-K+1) x (W-K+1), a 2D vector"
    x = np.arange(5 * 6 * 3, dtype=float).reshape(5, 6, 3)
    w = np.ones((2, 2, 3))
    out = correlate(x, w)
    assert out.shape == (4, 5)
    assert out[0, 0] == x[:2, :2].sum()
