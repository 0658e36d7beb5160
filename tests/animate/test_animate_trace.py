"""Traces against the core: every frame's numbers are the core's, for the lecture notes' examples
and for random geometries; the taps read what the boundary rule put in the padding."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnconv.animate import trace_correlate, trace_pool, trace_transpose
from cnnconv.conv import convolve, correlate, correlate_transpose
from cnnconv.conv.padding import pad_array
from cnnconv.errors import CnnconvError
from cnnconv.pooling import pool

# 000_500bed307a14206a.txt: the spaceship positions and the weights w_-6 .. w_0
SHIP_X = [1.00, 1.10, 1.20, 1.40, 1.70, 1.80, 1.90, 2.10, 2.20, 2.40, 2.50, 2.70]
SHIP_W = [0.01, 0.01, 0.02, 0.02, 0.04, 0.4, 0.5]
# 004_60c40e770a0e0877.txt: the 5x5 input and the 3x3 filter (its subscripts)
A5 = [[3, 3, 2, 1, 0], [0, 0, 1, 3, 1], [3, 1, 2, 2, 3], [2, 0, 0, 2, 2], [2, 0, 0, 0, 1]]
W3 = [[0, 1, 2], [2, 2, 0], [0, 1, 2]]
# 003_def129c27ac6a2b8.txt: the 6x6 image of the vertical edge detector, the 7x7 stride-2 example
EDGE6 = [[3, 0, 1, 2, 7, 4], [1, 5, 8, 9, 3, 1], [2, 7, 2, 5, 1, 3],
         [0, 1, 3, 1, 7, 8], [4, 2, 1, 6, 2, 8], [2, 4, 5, 2, 3, 9]]  # fmt: skip
X7 = [[2, 3, 7, 4, 6, 2, 9], [6, 6, 9, 8, 7, 4, 3], [3, 4, 8, 3, 8, 9, 7], [7, 8, 3, 6, 6, 3, 4],
      [4, 2, 1, 8, 3, 4, 6], [3, 2, 4, 1, 9, 8, 3], [0, 1, 3, 9, 2, 1, 4]]  # fmt: skip
K7 = [[3, 4, 4], [1, 0, 2], [-1, 0, 3]]
POOL5 = [[1, 3, 2, 2, 5], [5, 6, 7, 8, 1], [3, 2, 1, 0, 7], [1, 2, 3, 4, 9], [1, 1, 2, 9, 4]]
T2 = [[0, 1], [2, 3]]


def check_windows(trace, expected):
    """Every frame: the core's value, the sum of its products, and the products of what it read."""
    assert len(trace.frames) == expected.size
    for frame in trace.frames:
        assert frame.value == expected[frame.output_index]
        assert math.isclose(frame.total, frame.value, rel_tol=1e-12, abs_tol=1e-12)
        for tap in frame.taps:
            assert tap.product == tap.value * tap.weight
    assert np.array_equal(np.array(trace.output), expected)


def test_spaceship_gives_the_formulas_numbers_not_the_slides():
    # 000_500bed307a14206a.txt: s_t = sum_a x_{t-a} w_{-a}. By hand, s_6 = 0.01·1.0 + 0.01·1.1 +
    # 0.02·1.2 + 0.02·1.4 + 0.04·1.7 + 0.4·1.8 + 0.5·1.9 = 0.01+0.011+0.024+0.028+0.068+0.72+0.95
    # = 1.811. The slide's 1.80, 1.96, 2.11 are these rounded down; its 2.16, 2.28, 2.42 are not
    # what its own numbers give (2.269, 2.413, 2.569).
    trace = trace_correlate(SHIP_X, SHIP_W)
    check_windows(trace, correlate(SHIP_X, SHIP_W))
    assert [round(f.value, 3) for f in trace.frames] == [1.811, 1.967, 2.112, 2.269, 2.413, 2.569]
    assert trace.frames[0].expression == "1·0.01 + 1.1·0.01 + 1.2·0.02 + 1.4·0.02 + 1.7·0.04 + 1.8·0.4 + 1.9·0.5 = 1.811"
    assert all(round(f.value, 2) not in (2.16, 2.28, 2.42) for f in trace.frames)


def test_mode_example_valid_same_full():
    # 004_60c40e770a0e0877.txt: valid gives 12 12 17 / 10 17 19 / 9 6 14; same keeps N = 5, full N+K-1 = 7
    valid = trace_correlate(A5, W3, mode="valid")
    check_windows(valid, correlate(A5, W3, mode="valid"))
    assert valid.output == ((12, 12, 17), (10, 17, 19), (9, 6, 14))
    same, full = trace_correlate(A5, W3, mode="same"), trace_correlate(A5, W3, mode="full")
    check_windows(same, correlate(A5, W3, mode="same"))
    check_windows(full, correlate(A5, W3, mode="full"))
    assert np.array(same.output).shape == (5, 5) and np.array(full.output).shape == (7, 7)
    assert np.array_equal(np.array(same.output)[1:4, 1:4], np.array(valid.output))
    assert np.array_equal(np.array(full.output)[2:5, 2:5], np.array(valid.output))
    assert full.padding == ((2, 2), (2, 2)) and full.formula[0].endswith("= 7")
    corner = full.frames[0]
    assert sum(t.padding for t in corner.taps) == 8 and all(t.input_index is None for t in corner.taps if t.padding)


def test_vertical_edge_detector():
    # 003_def129c27ac6a2b8.txt: the 6x6 image with [1 0 -1] rows gives -5 -4 0 8 / ... / -3 -2 -3 -16
    kernel = [[1, 0, -1]] * 3
    trace = trace_correlate(EDGE6, kernel)
    check_windows(trace, correlate(EDGE6, kernel))
    assert trace.output == ((-5, -4, 0, 8), (-10, -2, 2, 3), (0, -2, -4, -7), (-3, -2, -3, -16))


def test_stride_two_example():
    # 003_def129c27ac6a2b8.txt: 91 100 88 / 69 91 117 / 44 72 74. The slide's 83 and 127 are
    # misprints; by hand the top-right window is 6·3 + 2·4 + 9·4 + 7·1 + 4·0 + 3·2 + 8·(-1) + 9·0
    # + 7·3 = 88 and the middle-right one 8·3 + 9·4 + 7·4 + 6·1 + 3·0 + 4·2 + 3·(-1) + 4·0 + 6·3 = 117.
    trace = trace_correlate(X7, K7, stride=2)
    check_windows(trace, correlate(X7, K7, stride=2))
    assert trace.output == ((91, 100, 88), (69, 91, 117), (44, 72, 74))
    assert trace.frames[0].expression.startswith("2·3 + 3·4 + 7·4 + ") and trace.frames[0].expression.endswith("= 91")
    assert [f.window for f in trace.frames[:3]] == [(0, 0), (0, 2), (0, 4)]
    assert trace.formula[0].endswith("/ 2) + 1 = 3") and trace.unread == (0, 0)


def test_max_pooling_example():
    # 003_def129c27ac6a2b8.txt: 3x3 windows over the 5x5 map; the slide shows two of them, 8 and 9
    trace = trace_pool(POOL5, 3, stride=1)
    expected = pool(POOL5, 3, stride=1)
    assert trace.output == ((7, 8, 8), (7, 8, 9), (3, 9, 9))
    for frame in trace.frames:
        assert frame.value == expected[frame.output_index]
        winner = next(t for t in frame.taps if t.cell == frame.winner)
        assert winner.value == frame.value
        earlier = [t.value for t in frame.taps[: frame.taps.index(winner)]]
        assert all(v < frame.value for v in earlier)  # the first maximum in row-major order
    assert trace.frames[1].winner == (1, 3)  # the 8


@pytest.mark.parametrize("stride, expected", [
    (1, [[0, 0, 1], [0, 4, 6], [4, 12, 9]]),
    (2, [[0, 0, 0, 1], [0, 0, 2, 3], [0, 2, 0, 3], [4, 6, 6, 9]]),
])  # fmt: skip
def test_transposed_examples(stride, expected):
    # 003_def129c27ac6a2b8.txt: the 2x2 input and kernel [[0, 1], [2, 3]] at stride 1 and 2
    trace = trace_transpose(T2, T2, stride=stride)
    assert trace.output == tuple(map(tuple, expected))
    assert np.array_equal(np.array(trace.frames[-1].partial), correlate_transpose(T2, T2, stride=stride))
    assert [f.offset for f in trace.frames] == [(0, 0), (0, stride), (stride, 0), (stride, stride)]
    assert [t.product for t in trace.frames[3].stamp] == [0, 3, 6, 9]  # 3 times the kernel


def test_transposed_crop_frame_gives_the_core_result():
    trace = trace_transpose(T2, T2, stride=2, padding=1, output_padding=1)
    core = correlate_transpose(T2, T2, stride=2, padding=1, output_padding=1)
    crop = trace.frames[-1]
    assert crop.kind == "crop" and np.array_equal(np.array(crop.value), core)
    full = np.array(trace.frames[-2].partial)
    assert full.shape == (5, 5) and np.array_equal(full[1:-1, 1:-1], core)


def test_convolve_flips_the_kernel_and_marks_the_origin():
    trace = trace_correlate([1, 2, 3, 4], [1, 10], flip=True, mode="same")
    check_windows(trace, convolve([1, 2, 3, 4], [1, 10], mode="same"))
    assert trace.applied_kernel == (10.0, 1.0) and trace.frames[0].taps[0].kernel_index == (1,)
    assert trace.padding == ((1, 0),) and trace.origin == (0,) and trace.origin_tap == (1,)
    assert trace.frames[0].anchor == (1,)  # the kernel's origin lies over input pixel 0


@pytest.mark.parametrize("boundary", ["edge", "reflect", "mirror", "wrap", "constant"])
def test_padding_cells_show_what_the_boundary_rule_puts_there(boundary):
    x = np.arange(12.0).reshape(3, 4)
    cval = 5.0 if boundary == "constant" else 0.0
    trace = trace_correlate(x, np.ones((3, 3)), mode="same", boundary=boundary, cval=cval)
    check_windows(trace, correlate(x, np.ones((3, 3)), mode="same", boundary=boundary, cval=cval))
    padded = pad_array(x, ((1, 1), (1, 1)), boundary, cval)
    assert np.array_equal(np.array(trace.canvas), padded)
    for frame in trace.frames:
        for tap in frame.taps:
            if tap.input_index is not None:
                assert tap.value == x[tap.input_index]
            else:
                assert boundary == "constant" and tap.value == cval


def test_trace_data_is_strict_json():
    for trace in (trace_correlate(A5, W3, mode="same"), trace_pool(POOL5, 2, ceil_mode=True, padding=1),
                  trace_transpose(T2, T2, stride=2, padding=1)):  # fmt: skip
        data = trace.as_dict()
        assert json.loads(json.dumps(data, allow_nan=False)) == data


def test_ceil_mode_partial_window_and_unread():
    trace = trace_pool([[1, 2, 3, 4, 5]] * 5, 2, ceil_mode=True)
    last = trace.frames[-1]
    assert any(t.outside for t in last.taps) and last.value == 5
    floor = trace_pool([[1, 2, 3, 4, 5]] * 5, 2)
    assert floor.unread == (1, 1) and trace.unread == (0, 0)
    assert "ceil((5 + 2·0 - 1·(2-1) - 1) / 2) + 1 = 3" in trace.formula[1]
    assert trace_correlate(np.zeros((8, 8)), np.ones((3, 3)), stride=2).unread == (1, 1)


@pytest.mark.parametrize("bad, match", [
    (lambda: trace_correlate(np.zeros((2, 2, 3)), np.ones((3, 3))), "one-channel"),
    (lambda: trace_correlate([1.0, np.nan], [1.0]), "NaN"),
    (lambda: trace_correlate([1.0, 2.0], np.ones((2, 2))), "1-D input needs a 1-D kernel"),
    (lambda: trace_correlate([1.0, 2.0], [1.0, 1.0, 1.0]), "output would be empty"),
    (lambda: trace_pool([[1.0]], 3, padding=2), "padding"),
    (lambda: trace_transpose([1.0], [1.0], output_padding=2), "output_padding"),
])  # fmt: skip
def test_bad_input_is_a_cnnconv_error(bad, match):
    with pytest.raises(CnnconvError, match=match):
        bad()


@st.composite
def geometries(draw):
    nd = draw(st.sampled_from([1, 2]))
    shape = tuple(draw(st.integers(1, 6)) for _ in range(nd))
    kshape = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    x = draw(st.lists(st.integers(-9, 9), min_size=math.prod(shape), max_size=math.prod(shape)))
    w = draw(st.lists(st.integers(-3, 3), min_size=math.prod(kshape), max_size=math.prod(kshape)))
    options = dict(
        stride=draw(st.integers(1, 3)), dilation=draw(st.integers(1, 2)),
        boundary=draw(st.sampled_from(["zero", "edge", "reflect", "mirror", "wrap"])),
    )  # fmt: skip
    if draw(st.booleans()):
        options["mode"] = draw(st.sampled_from(["valid", "same", "full"]))
    else:
        options["padding"] = draw(st.integers(0, 2))
    return np.array(x, float).reshape(shape), np.array(w, float).reshape(kshape), draw(st.booleans()), options


@settings(max_examples=40)
@given(geometries())
def test_every_frame_is_the_cores_number(case):
    x, w, flip, options = case
    try:
        expected = (convolve if flip else correlate)(x, w, **options)
    except CnnconvError:
        with pytest.raises(CnnconvError):
            trace_correlate(x, w, flip=flip, **options)
        return
    trace = trace_correlate(x, w, flip=flip, **options)
    check_windows(trace, expected)
    for frame in trace.frames:  # a slow obvious reference: the window read off the padded array
        cells = [t.cell for t in frame.taps]
        assert len(set(cells)) == len(cells)
        for tap in frame.taps:
            assert tap.value == np.array(trace.canvas)[tap.cell]
            if tap.input_index is not None:
                assert tap.value == x[tap.input_index]


@settings(max_examples=30)
@given(st.integers(1, 7), st.integers(1, 7), st.integers(1, 3), st.integers(1, 3), st.integers(0, 1),
       st.sampled_from(["max", "avg", "min"]), st.booleans(), st.booleans(), st.integers(0, 10**6))
def test_every_pool_frame_is_the_cores_number(h, w, k, s, p, op, ceil_mode, count_pad, seed):
    x = np.random.default_rng(seed).integers(-5, 5, size=(h, w)).astype(float)
    kwargs = dict(stride=s, padding=min(p, k // 2), op=op, ceil_mode=ceil_mode, count_include_pad=count_pad)
    try:
        expected = pool(x, k, **kwargs)
    except CnnconvError:
        return
    trace = trace_pool(x, k, **kwargs)
    assert len(trace.frames) == expected.size
    for frame in trace.frames:
        assert frame.value == expected[frame.output_index]
        real = [t.value for t in frame.taps if t.value is not None]
        if op == "avg":
            assert math.isclose(frame.total / frame.count, frame.value, rel_tol=1e-12, abs_tol=1e-12)
        else:
            assert frame.value == (max if op == "max" else min)(real)


@settings(max_examples=30)
@given(st.integers(1, 3), st.integers(1, 3), st.integers(1, 3), st.integers(1, 3), st.integers(1, 3),
       st.integers(0, 1), st.integers(0, 10**6))
def test_every_stamp_adds_up_to_the_cores_transpose(h, w, k, s, d, p, seed):
    rng = np.random.default_rng(seed)
    y, kern = rng.integers(-3, 4, size=(h, w)).astype(float), rng.integers(-3, 4, size=(k, k)).astype(float)
    try:
        expected = correlate_transpose(y, kern, stride=s, dilation=d, padding=p)
    except CnnconvError:
        return
    trace = trace_transpose(y, kern, stride=s, dilation=d, padding=p)
    full = np.array([f for f in trace.frames if f.kind == "stamp"][-1].partial)
    assert np.allclose(full[p : p + expected.shape[0], p : p + expected.shape[1]], expected, rtol=0, atol=1e-12)
    assert np.array_equal(np.array(trace.output), expected)
