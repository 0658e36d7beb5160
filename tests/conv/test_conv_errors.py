"""Every bad input raises CnnconvError with one line naming what was received and what is allowed."""

from __future__ import annotations

import numpy as np
import pytest

from cnnconv.conv import conv_plan, convolve, correlate, correlate_transpose
from cnnconv.errors import CnnconvError

X = np.arange(30.0).reshape(5, 6)
W = np.ones((3, 3))

CASES = [
    # (call, pieces the message must contain)
    (lambda: correlate(np.zeros((0, 4)), W), ["empty input", "(0, 4)"]),
    (lambda: correlate(X, np.zeros((3, 0))), ["empty kernel", "(3, 0)"]),
    (lambda: correlate(np.zeros(0), np.ones(0)), ["empty"]),
    (lambda: correlate(X, [[1.0, np.nan]]), ["kernel must be finite", "1 NaN/inf"]),
    (lambda: correlate(X, [[np.inf, -np.inf]]), ["kernel must be finite", "2 NaN/inf"]),
    (lambda: correlate(X, np.ones((6, 3))), ["kernel (6, 3)", "padded input is only (5, 6)", "mode='same'"]),
    (lambda: correlate(X, W, dilation=3), ["spans (7, 7)", "dilation (3, 3)", "(5, 6)"]),
    (lambda: correlate(X, W, stride=0), ["stride must be >= 1", "0"]),
    (lambda: correlate(X, W, stride=(1, -2)), ["stride must be >= 1", "(1, -2)"]),
    (lambda: correlate(X, W, stride=(1, 2, 3)), ["stride must be one int or 2 ints", "(1, 2, 3)"]),
    (lambda: correlate(X, W, stride=1.5), ["stride must be", "1.5"]),
    (lambda: correlate(X, W, stride=np.array(1.5)), ["stride must be", "1.5"]),
    (lambda: correlate(X, W, dilation=np.array(0)), ["dilation must be >= 1"]),
    (lambda: correlate(X, W, dilation=0), ["dilation must be >= 1", "0"]),
    (lambda: correlate(X, W, padding=-1), ["padding must be", ">= 0", "-1"]),
    (lambda: correlate(X, W, padding=((0, 1), (2, -1))), ["padding must be", "((0, 1), (2, -1))"]),
    (lambda: correlate(X, W, padding=(1, 2, 3)), ["padding must be one int, (ph, pw)", "(1, 2, 3)"]),
    (lambda: correlate(np.ones(5), [1.0], padding=(1, 2, 3)), ["(before, after)", "(1, 2, 3)"]),
    (lambda: correlate(X, W, padding="same"), ["padding must be", "'same'"]),
    (lambda: correlate(X, W, mode="valid", padding=1), ["either mode or padding", "mode='valid'", "padding=1"]),
    (lambda: correlate(X, W, mode="circular"), ["unknown mode 'circular'", "valid, same, full"]),
    (lambda: correlate(X, W, boundary="nearest"), ["unknown boundary 'nearest'", "zero, constant, edge, reflect, mirror, wrap"]),
    (lambda: correlate(X, W, boundary="constant:5"), ["unknown boundary 'constant:5'"]),
    (lambda: correlate(X, W, boundary="symmetric"), ["unknown boundary 'symmetric'", "is 'reflect' here"]),
    (lambda: correlate(X, W, boundary="BORDER_REFLECT_101"), ["unknown boundary"]),
    (lambda: correlate(X, W, boundary="reflect_101"), ["is 'mirror' here"]),
    (lambda: correlate(X, W, boundary="circular"), ["is 'wrap' here"]),
    (lambda: correlate(X, W, cval=2.0), ["cval=2.0", "boundary='constant'", "boundary='zero'"]),
    (lambda: correlate(X, W, boundary="constant", cval=np.nan), ["cval must be finite"]),
    (lambda: correlate(X, W, method="magic"), ["unknown method 'magic'", "auto"]),
    (lambda: correlate(X, np.ones((2, 2, 3))), ["kernel of shape (2, 2, 3)", "input of shape (5, 6)", "accepted:"]),
    (lambda: correlate(np.ones(5), W), ["kernel of shape (3, 3)", "input of shape (5,)", "x (n,) with w (k,)"]),
    (lambda: correlate(np.ones((4, 4, 3)), np.ones((2, 2, 2))), ["2 input channels", "(4, 4, 3) has 3"]),
    (lambda: correlate(np.ones((4, 4, 3)), np.ones((2, 2, 4, 5))), ["4 input channels", "has 3"]),
    (lambda: correlate(X + 1j, W), ["real numbers", "complex128"]),
    (lambda: correlate(np.array([["a"]]), W), ["real numbers", "<U1"]),
    (lambda: correlate(np.ones((4, 4, 2)), np.ones((2, 2, 2, 3)), bias=[1.0, 2.0]), ["bias", "(3,)", "(2,)"]),
    (lambda: correlate(X, W, bias=[1.0, 2.0]), ["bias must be a scalar", "no channel axis", "(2,)"]),
    (lambda: convolve(X, W, bias=np.nan), ["bias must be finite"]),
    (lambda: convolve(X, W, mode="same", boundary="reflected"), ["unknown boundary 'reflected'"]),
    (lambda: correlate_transpose(X, W, output_padding=1), ["output_padding", "max(stride, dilation) = 1", "1"]),
    (lambda: correlate_transpose(X, W, stride=2, output_padding=-1), ["output_padding must be >= 0", "-1"]),
    (lambda: correlate_transpose(np.ones((1, 1)), W, padding=2), ["padding (2, 2) removes the whole", "length 3"]),
    (lambda: correlate_transpose(np.ones((2, 2, 3)), np.ones((2, 2, 3, 4))), ["4 filters", "(2, 2, 3) has 3"]),
    (lambda: correlate_transpose(np.ones(3), W), ["input (3,)", "kernel (3, 3)", "accepted"]),
    (lambda: correlate_transpose(np.ones((0, 3)), W), ["input (0, 3)", "non-empty"]),
    (lambda: correlate_transpose(X, [[np.nan]]), ["kernel must be finite"]),
    (lambda: correlate_transpose(X, W, method="fast"), ["unknown method 'fast'", "scatter"]),
    (lambda: correlate_transpose(X, W, padding=-1), ["padding must be", "-1"]),
    (lambda: conv_plan((5, 5), (3, 3), stride=0), ["stride must be >= 1"]),
]


@pytest.mark.parametrize("call, pieces", CASES, ids=[f"case{i}" for i in range(len(CASES))])
def test_error_message_is_one_line_and_names_the_value(call, pieces):
    with pytest.raises(CnnconvError) as info:
        call()
    message = str(info.value)
    assert "\n" not in message
    for piece in pieces:
        assert piece in message, f"{piece!r} not in {message!r}"


def test_error_is_a_value_error():
    with pytest.raises(ValueError):
        correlate(X, W, stride=0)


def test_padding_larger_than_the_input_works_for_every_boundary():
    x = np.array([[1.0, 2.0]])
    for boundary in ("zero", "constant", "edge", "reflect", "mirror", "wrap"):
        out = correlate(x, np.ones((1, 1)), padding=((0, 0), (5, 5)), boundary=boundary)
        assert out.shape == (1, 12)
    assert correlate(x, [[1.0]], padding=((0, 0), (5, 0)), boundary="mirror").tolist() == [
        [2.0, 1.0, 2.0, 1.0, 2.0, 1.0, 2.0]
    ]
    assert correlate(x, [[1.0]], padding=((0, 0), (5, 0)), boundary="reflect").tolist() == [
        [1.0, 1.0, 2.0, 2.0, 1.0, 1.0, 2.0]
    ]


def test_a_zero_dimensional_int_array_is_one_value_for_every_axis():
    x = np.arange(25.0).reshape(5, 5)
    want = correlate(x, np.ones((2, 2)), stride=2, dilation=1)
    np.testing.assert_array_equal(correlate(x, np.ones((2, 2)), stride=np.array(2), dilation=np.int64(1)), want)
