"""Pooling: seed examples, a naive loop reference, gradient checks and identities."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cnnconv.conv.padding import per_axis
from cnnconv.conv import correlate
from cnnconv.errors import CnnconvError
from cnnconv.pooling import (
    global_pool_backward,
    global_pool_forward,
    pool,
    pool2d_backward,
    pool2d_forward,
)

# 003_def129c27ac6a2b8.txt, "Max Pooling": a 5x5 feature map. The slide prints it twice; the
# second copy's last row is garbled ("1 1 2 Q 1"), the first copy ("1 1 2 9 4") is used. The
# extracted text keeps only two output values ("8", "9"); the full outputs below are derived by
# hand (3x3 windows, stride 1: the top-right window holds the 8, the bottom-right the 9).
SEED_003 = np.array(
    [
        [1, 3, 2, 2, 5],
        [5, 6, 7, 8, 1],
        [3, 2, 1, 0, 7],
        [1, 2, 3, 4, 9],
        [1, 1, 2, 9, 4],
    ],
    dtype=float,
)


def test_seed_003_max_pool_3x3_stride_1():
    assert pool(SEED_003, 3, stride=1).tolist() == [[7, 8, 8], [7, 8, 9], [3, 9, 9]]


def test_seed_003_max_pool_2x2_floor_and_ceil():
    assert pool(SEED_003, 2).tolist() == [[6, 8], [3, 4]]
    assert pool(SEED_003, 2, ceil_mode=True).tolist() == [[6, 8, 5], [3, 4, 9], [1, 9, 4]]


def test_seed_003_average_pool_2x2():
    # Same map, average pooling ("# Average Pooling" slide, values not in the text): by hand.
    assert pool(SEED_003, 2, op="avg").tolist() == [[3.75, 4.75], [2.0, 2.0]]


def test_seed_003_pooling_output_size_4x4x3():
    # 003: "Input feature map of 4*4*3, a max pool filter of 2*2, with stride 2*2" -> 2*2*3.
    assert pool(np.zeros((4, 4, 3)), 2, stride=2).shape == (2, 2, 3)


def test_seed_004_pool_size_2_halves_100x100():
    # 004: "if i/p image = 100 x 100 then if pool-size = 2 then my o/p image = 50 x 50".
    assert pool(np.zeros((100, 100)), 2).shape == (50, 50)


def test_seed_002_average_pool_is_the_mean_of_the_window():
    # 002: average pooling = (1/L) * sum over the window (a boxcar filter), L the window size.
    x = np.arange(36.0).reshape(6, 6)
    expected = x.reshape(2, 3, 2, 3).sum(axis=(1, 3)) / 9
    np.testing.assert_allclose(pool(x, 3, op="avg"), expected)


# ---- naive reference: one loop per output value, PyTorch's rules written out ----------------


def _ref_size(n, k, s, p, d, ceil):
    num = n + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil else 0)
    out = num // s + 1
    if ceil and (out - 1) * s >= n + p:
        out -= 1
    return out


def _ref_pool(x, k, s, p, d, op, ceil, cip):
    n, h, w, c = x.shape
    ho, wo = (_ref_size(x.shape[1 + a], k[a], s[a], p[a], d[a], ceil) for a in (0, 1))
    y = np.zeros((n, ho, wo, c))
    for b, i, j, ch in itertools.product(range(n), range(ho), range(wo), range(c)):
        values, padded_taps = [], 0
        for ti, tj in itertools.product(range(k[0]), range(k[1])):
            r, q = i * s[0] - p[0] + ti * d[0], j * s[1] - p[1] + tj * d[1]
            if 0 <= r < h and 0 <= q < w:
                values.append(x[b, r, q, ch])
            if -p[0] <= r < h + p[0] and -p[1] <= q < w + p[1]:
                padded_taps += 1
        if not values:
            return None  # a window of padding only: refused
        if op == "max":
            y[b, i, j, ch] = max(values)
        elif op == "min":
            y[b, i, j, ch] = min(values)
        else:
            y[b, i, j, ch] = sum(values) / (padded_taps if cip else len(values))
    return y


@st.composite
def pool_cases(draw):
    k = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    return dict(
        x=draw(st.integers(0, 2**32 - 1)),
        shape=(draw(st.integers(1, 2)), draw(st.integers(1, 7)), draw(st.integers(1, 7)), draw(st.integers(1, 2))),
        kernel_size=k,
        stride=(draw(st.integers(1, 5)), draw(st.integers(1, 5))),
        padding=(draw(st.integers(0, k[0] // 2)), draw(st.integers(0, k[1] // 2))),
        dilation=(draw(st.integers(1, 2)), draw(st.integers(1, 2))),
        op=draw(st.sampled_from(["max", "avg", "min"])),
        ceil_mode=draw(st.booleans()),
        count_include_pad=draw(st.booleans()),
    )


def _split(case):
    rng = np.random.default_rng(case["x"])
    x = rng.integers(-3, 4, case["shape"]).astype(float)  # small integers: many ties
    kwargs = {key: case[key] for key in ("stride", "padding", "dilation", "op", "ceil_mode", "count_include_pad")}
    return x, kwargs


@given(pool_cases())
def test_forward_matches_the_naive_loop(case):
    x, kw = _split(case)
    sizes = [_ref_size(x.shape[1 + a], case["kernel_size"][a], kw["stride"][a], kw["padding"][a], kw["dilation"][a], kw["ceil_mode"]) for a in (0, 1)]
    expected = None
    padding_fits = all(kw["padding"][a] <= x.shape[1 + a] for a in (0, 1))  # cnnconv's one extra rule
    if min(sizes) >= 1 and padding_fits:
        expected = _ref_pool(x, case["kernel_size"], kw["stride"], kw["padding"], kw["dilation"], kw["op"], kw["ceil_mode"], kw["count_include_pad"])
    if expected is None:
        with pytest.raises(CnnconvError):
            pool2d_forward(x, case["kernel_size"], **kw)
        return
    np.testing.assert_allclose(pool2d_forward(x, case["kernel_size"], **kw), expected, rtol=1e-12)


def _ref_max_backward(dy, x, k, s, p, d, op, ceil):
    """Route each output gradient to the first extreme of its window, row-major (PyTorch)."""
    dx = np.zeros_like(x)
    n, ho, wo, c = dy.shape
    for b, i, j, ch in itertools.product(range(n), range(ho), range(wo), range(c)):
        best = None
        for ti, tj in itertools.product(range(k[0]), range(k[1])):
            r, q = i * s[0] - p[0] + ti * d[0], j * s[1] - p[1] + tj * d[1]
            if 0 <= r < x.shape[1] and 0 <= q < x.shape[2]:
                v = x[b, r, q, ch]
                if best is None or (v > best[0] if op == "max" else v < best[0]):
                    best = (v, r, q)
        dx[b, best[1], best[2], ch] += dy[b, i, j, ch]
    return dx


@given(pool_cases())
def test_max_min_backward_routes_to_the_first_extreme(case):
    x, kw = _split(case)
    kw["op"] = "min" if kw["op"] == "min" else "max"
    try:
        y = pool2d_forward(x, case["kernel_size"], **kw)
    except CnnconvError:
        return
    dy = np.random.default_rng(1).standard_normal(y.shape)
    dx = pool2d_backward(dy, x, y, case["kernel_size"], **kw)
    expected = _ref_max_backward(dy, x, case["kernel_size"], kw["stride"], kw["padding"], kw["dilation"], kw["op"], kw["ceil_mode"])
    np.testing.assert_allclose(dx, expected, rtol=1e-12, atol=1e-12)


@given(pool_cases())
def test_blocks_of_rows_give_the_same_result(case):
    # Large inputs are pooled in blocks of output rows; force tiny blocks on small inputs.
    import cnnconv.pooling.forward as module

    x, kw = _split(case)
    try:
        whole = pool2d_forward(x, case["kernel_size"], **kw)
    except CnnconvError:
        return
    saved = module.BLOCK_BYTES
    module.BLOCK_BYTES = 1  # every block is one output row
    try:
        blocked = pool2d_forward(x, case["kernel_size"], **kw)
    finally:
        module.BLOCK_BYTES = saved
    np.testing.assert_array_equal(blocked, whole)


# ---- finite differences (float64) ----------------------------------------------------------


def _numeric_grad(f, x, dy, eps=1e-6):
    g = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        old = x[idx]
        x[idx] = old + eps
        up = np.sum(f(x) * dy)
        x[idx] = old - eps
        down = np.sum(f(x) * dy)
        x[idx] = old
        g[idx] = (up - down) / (2 * eps)
    return g


GRAD_CASES = [
    dict(kernel_size=2),
    dict(kernel_size=3, stride=2, padding=1),
    dict(kernel_size=(3, 2), stride=(1, 2), padding=(1, 0), ceil_mode=True),
    dict(kernel_size=3, stride=2, ceil_mode=True, count_include_pad=True, padding=1),
    dict(kernel_size=2, stride=3, dilation=(1, 2)),
    dict(kernel_size=4, stride=1),
]


@pytest.mark.parametrize("op", ["max", "avg", "min"])
@pytest.mark.parametrize("params", GRAD_CASES, ids=lambda p: str(sorted(p.items())))
def test_pool2d_backward_matches_finite_differences(op, params):
    rng = np.random.default_rng(3)
    # distinct values far apart, so no window is near a tie and max/min are differentiable
    x = rng.permutation(2 * 6 * 5 * 2).reshape(2, 6, 5, 2).astype(np.float64) * 0.1
    params = dict(params)
    k = params.pop("kernel_size")
    y = pool2d_forward(x, k, op=op, **params)
    dy = rng.standard_normal(y.shape)
    dx = pool2d_backward(dy, x, y, k, op=op, **params)
    numeric = _numeric_grad(lambda v: pool2d_forward(v, k, op=op, **params), x.copy(), dy)
    np.testing.assert_allclose(dx, numeric, atol=1e-7)


@pytest.mark.parametrize("op", ["max", "avg", "min"])
def test_global_pool_backward_matches_finite_differences(op):
    rng = np.random.default_rng(4)
    x = rng.permutation(2 * 3 * 4 * 3).reshape(2, 3, 4, 3).astype(np.float64) * 0.1
    dy = rng.standard_normal((2, 3))
    dx = global_pool_backward(dy, x, op)
    numeric = _numeric_grad(lambda v: global_pool_forward(v, op), x.copy(), dy)
    np.testing.assert_allclose(dx, numeric, atol=1e-7)


def test_global_pool_equals_a_window_as_large_as_the_image():
    x = np.random.default_rng(5).standard_normal((3, 4, 5, 2))
    for op in ("max", "avg", "min"):
        np.testing.assert_allclose(global_pool_forward(x, op), pool2d_forward(x, (4, 5), op=op)[:, 0, 0])


def test_global_max_backward_ties_go_to_the_first_pixel():
    x = np.ones((1, 2, 2, 1))
    assert global_pool_backward(np.array([[2.0]]), x, "max")[0, :, :, 0].tolist() == [[2, 0], [0, 0]]


# ---- ties, NaN, infinities -----------------------------------------------------------------


def test_max_backward_ties_go_to_the_first_value_once():
    x = np.ones((1, 3, 3, 1))
    y = pool2d_forward(x, 2, stride=1)
    dx = pool2d_backward(np.ones_like(y), x, y, 2, stride=1)
    # each of the 4 windows sends its 1 to its top-left cell; nothing is doubled
    assert dx[0, :, :, 0].tolist() == [[1, 1, 0], [1, 1, 0], [0, 0, 0]]
    assert dx.sum() == y.size


def test_real_minus_infinity_wins_over_the_padding():
    x = np.full((1, 2, 2, 1), -np.inf)
    y = pool2d_forward(x, 3, stride=1, padding=1)
    assert np.all(y == -np.inf)
    dx = pool2d_backward(np.ones_like(y), x, y, 3, stride=1, padding=1)
    assert dx.sum() == 4 and dx[0, 0, 0, 0] == 4


def test_nan_propagates_and_takes_the_gradient():
    x = np.array([[1.0, np.nan], [3.0, 0.0]]).reshape(1, 2, 2, 1)
    y = pool2d_forward(x, 2)
    assert np.isnan(y).all()
    assert pool2d_backward(np.ones_like(y), x, y, 2)[0, :, :, 0].tolist() == [[0, 1], [0, 0]]


# ---- identities ------------------------------------------------------------------------------


@given(pool_cases(), st.floats(-1e3, 1e3, allow_nan=False))
def test_avg_pool_of_a_constant_is_the_constant(case, value):
    x, kw = _split(case)
    kw.update(op="avg", count_include_pad=False)
    try:
        y = pool2d_forward(np.full(x.shape, value), case["kernel_size"], **kw)
    except CnnconvError:
        return
    np.testing.assert_allclose(y, value, rtol=1e-12)


@given(pool_cases())
def test_max_is_at_least_avg_is_at_least_min(case):
    x, kw = _split(case)
    kw["count_include_pad"] = False
    try:
        hi, mid, lo = (pool2d_forward(x, case["kernel_size"], **{**kw, "op": op}) for op in ("max", "avg", "min"))
    except CnnconvError:
        return
    assert np.all(hi >= mid - 1e-12) and np.all(mid >= lo - 1e-12)


def test_min_is_minus_max_of_minus():
    x = np.random.default_rng(6).standard_normal((2, 7, 6, 3))
    np.testing.assert_array_equal(
        pool2d_forward(x, 3, stride=2, padding=1, op="min"), -pool2d_forward(-x, 3, stride=2, padding=1)
    )


def test_avg_backward_sums_to_the_gradient_when_padding_is_not_counted():
    x = np.zeros((1, 5, 5, 1))
    y = pool2d_forward(x, 3, stride=2, padding=1, op="avg")
    assert pool2d_backward(np.ones_like(y), x, y, 3, stride=2, padding=1, op="avg").sum() == pytest.approx(y.size)


# ---- the single-image function ---------------------------------------------------------------


def test_pool_keeps_the_number_of_dimensions():
    assert pool(np.arange(10.0), 3).tolist() == [2.0, 5.0, 8.0]
    assert pool(np.zeros((6, 4)), 2).shape == (3, 2)
    assert pool(np.zeros((6, 4, 3)), (3, 2)).shape == (2, 2, 3)
    assert pool(np.arange(10.0), 3, padding=1, op="avg", count_include_pad=True).tolist() == [1 / 3, 3.0, 6.0, 17 / 3]


def test_pool_each_channel_on_its_own():
    x = np.random.default_rng(7).standard_normal((6, 6, 3))
    y = pool(x, 2, op="avg")
    for c in range(3):
        np.testing.assert_allclose(y[:, :, c], pool(x[:, :, c], 2, op="avg"))


def test_dtypes():
    x32 = np.random.default_rng(8).standard_normal((1, 4, 4, 2)).astype(np.float32)
    for op in ("max", "avg", "min"):
        y = pool2d_forward(x32, 2, op=op, padding=1, stride=1)
        assert y.dtype == np.float32
        assert pool2d_backward(np.ones_like(y), x32, y, 2, op=op, padding=1, stride=1).dtype == np.float32
    assert global_pool_forward(x32, "avg").dtype == np.float32
    assert pool(np.arange(16, dtype=np.uint8).reshape(4, 4), 2).dtype == np.float64


@pytest.mark.parametrize(
    "args, kwargs, message",
    [
        ((np.zeros((4, 4)), 0), {}, "kernel_size must be >= 1, got 0"),
        ((np.zeros((4, 4)), 2), {"stride": 0}, "stride must be >= 1, got 0"),
        ((np.zeros((4, 4)), 2), {"padding": 2}, "padding must be between 0 and kernel_size // 2 = 1, got 2"),
        ((np.zeros((4, 4)), 2), {"padding": -1}, "got -1"),
        ((np.zeros((4, 4)), 2), {"op": "median"}, "unknown pooling op 'median'; choose one of max, avg, min"),
        ((np.zeros((4, 4)), (2, 2, 2)), {}, "kernel_size must be one int or 2 ints"),
        ((np.zeros((4, 4)), 2.5), {}, "kernel_size must be whole numbers, got 2.5"),
        ((np.zeros((4, 4)), True), {}, "kernel_size must be whole numbers, got True"),
        ((np.zeros((4, 4)), (2, True)), {}, "kernel_size must be whole numbers, got (2, True)"),
        ((np.zeros((4, 4)), 2), {"stride": np.True_}, "stride must be whole numbers, got np.True_"),
        ((np.zeros((4, 4)), 2), {"padding": False}, "padding must be whole numbers, got False"),
        ((np.zeros((4, 4)), 2), {"dilation": np.array([1.0, 2.0])}, "dilation must be whole numbers"),
        ((np.zeros(5), (2, 3)), {}, "kernel_size must be one int, got (2, 3)"),
        ((np.zeros((2, 4)), 3), {}, "does not fit an input of 2x4: the output would be empty"),
        ((np.zeros((2, 2, 2, 2)), 2), {}, "got shape (2, 2, 2, 2)"),
        ((np.array(["a", "b"]), 1), {}, "must hold real numbers"),
        ((np.zeros((4, 1)), 2), {"padding": 1, "dilation": 2}, "window along the width reads only padding"),
        ((np.zeros((4, 4)), 10**9), {"padding": 5 * 10**8}, "padding 500000000 is larger than the input height 4"),
    ],
)
def test_bad_arguments_name_the_value(args, kwargs, message):
    with pytest.raises(CnnconvError) as err:
        pool(*args, **kwargs)
    assert message in str(err.value)


def test_window_settings_take_ints_as_convolution_does():
    """NumPy ints and 1-D int arrays count as ints; bools do not (True is no window size), as for correlate."""
    x = np.arange(36.0).reshape(6, 6)
    expected = pool(x, (3, 2), stride=(1, 2), dilation=(1, 2))
    got = pool(x, np.array([3, 2]), stride=[np.int64(1), np.int32(2)], dilation=np.array([1, 2], dtype=np.uint8))
    np.testing.assert_array_equal(got, expected)
    assert per_axis(np.int64(2), 2, "stride") == (2, 2)
    assert [type(v) for v in per_axis(np.array([1, 3]), 2, "stride")] == [int, int]  # plain ints for the shape arithmetic
    for value in (True, np.True_, (1, True)):
        with pytest.raises(CnnconvError, match="stride must be"):
            correlate(x, np.ones((2, 2)), stride=value)
        with pytest.raises(CnnconvError, match="stride must be whole numbers"):
            pool(x, 2, stride=value)
        with pytest.raises(CnnconvError, match="stride must be whole numbers"):
            pool2d_backward(np.ones((1, 3, 3, 1)), x[None, :, :, None], np.ones((1, 3, 3, 1)), 2, stride=value)


def test_backward_checks_the_gradient_shape():
    x = np.zeros((1, 4, 4, 1))
    with pytest.raises(CnnconvError, match=r"dy must have the pooled shape \(1, 2, 2, 1\), got \(1, 3, 3, 1\)"):
        pool2d_backward(np.zeros((1, 3, 3, 1)), x, np.zeros((1, 2, 2, 1)), 2)
    with pytest.raises(CnnconvError, match="dy must have shape"):
        global_pool_backward(np.zeros((2, 1)), x, "max")


def test_ceil_mode_window_larger_than_the_input_gives_one_output():
    # PyTorch: max_pool1d(torch.tensor([[[5., 1.]]]), 3, stride=2, ceil_mode=True) -> [[[5.]]]
    assert pool([5.0, 1.0], 3, stride=2, ceil_mode=True).tolist() == [5.0]
    assert pool([5.0], 2, ceil_mode=True, op="avg").tolist() == [5.0]
    with pytest.raises(CnnconvError, match="output would be empty"):
        pool([5.0], 2)


@pytest.mark.parametrize("op", ["max", "avg", "min"])
def test_ceil_mode_window_far_past_the_input_matches_the_naive_loop(op):
    rng = np.random.default_rng(7)
    x = rng.integers(-3, 4, (1, 6, 7, 2)).astype(float)
    # the last window of each axis reaches past the right padding (rows 2..8 of 6+1, columns 6..10 of 7+2)
    for k, kw in [((4, 5), dict(stride=(3, 4), padding=(1, 2), dilation=(2, 1))), ((9, 11), dict(stride=None, padding=(1, 2), dilation=1))]:
        kw.update(op=op, ceil_mode=True, count_include_pad=True)
        s, d = kw["stride"] or k, per_axis(kw["dilation"], 2, "dilation")
        y = pool2d_forward(x, k, **kw)
        np.testing.assert_allclose(y, _ref_pool(x, k, s, kw["padding"], d, op, True, True), rtol=1e-12)
        dy = rng.standard_normal(y.shape)
        dx = pool2d_backward(dy, x, y, k, **kw)
        if op != "avg":
            np.testing.assert_allclose(dx, _ref_max_backward(dy, x, k, s, kw["padding"], d, op, True))
        else:  # the adjoint: <pool(x), dy> == <x, dx>
            np.testing.assert_allclose(np.vdot(y, dy), np.vdot(x, dx))


@pytest.mark.parametrize("op", ["max", "avg"])
def test_a_huge_ceil_mode_window_allocates_about_the_input_not_the_window(op):
    import tracemalloc

    x = np.arange(64.0).reshape(1, 8, 8, 1)
    tracemalloc.start()
    try:
        y = pool2d_forward(x, 30000, ceil_mode=True, padding=4, op=op)
        dx = pool2d_backward(np.ones_like(y), x, y, 30000, ceil_mode=True, padding=4, op=op)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert y.shape == (1, 1, 1, 1) and y[0, 0, 0, 0] == (63.0 if op == "max" else 31.5)
    assert dx.sum() == 1.0
    assert peak < 1 << 20  # a materialised 30000x30000 window would be 7.2 GB


def test_a_window_of_a_billion_costs_the_input_not_the_kernel_size():
    x = np.arange(12.0).reshape(1, 3, 4, 1)
    big = 10**9
    assert pool2d_forward(x, big, ceil_mode=True)[0, 0, 0, 0] == 11.0
    # counted with the padding: the window clipped to the padded input, 5 x 6
    mean = pool2d_forward(x, big, ceil_mode=True, padding=1, op="avg", count_include_pad=True)
    assert mean[0, 0, 0, 0] == x.sum() / 30
    y = pool2d_forward(x, big, ceil_mode=True, op="min")
    dx = pool2d_backward(np.ones_like(y), x, y, big, ceil_mode=True, op="min")
    assert dx[0, :, :, 0].tolist() == [[1.0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]]
