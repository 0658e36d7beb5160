"""Tile by tile equals the whole image: the tile plan's windows (halo from the image, border
from the boundary rule's index map) and the tiled correlation and pooling, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnconv.conv import conv_plan, convolve, correlate
from cnnconv.conv.dispatch import METHODS
from cnnconv.conv.engines._rows import index_map
from cnnconv.conv.padding import pad_array
from cnnconv.errors import CnnconvError
from cnnconv.pooling import pool
from cnnconv.shape.tiles import RULES, axis_windows, source_index, tile_plan
from cnnconv.tiling import correlate_tiled, gather, pool_tiled

#: Engines whose every output is the same sum in the same order wherever it lies in the image
#: (for 2-D kernels). The others multiply blocks with BLAS, whose order of summation depends on
#: the operands' size, or transform the whole window (FFT): tiles agree with the whole image to
#: rounding, and bit for bit when every sum is exact (integer kernels on 8-bit samples).
EXACT = ("direct",)
BOUNDARIES = ("zero", "constant", "edge", "reflect", "mirror", "wrap")


@given(n=st.integers(1, 9), before=st.integers(0, 30), after=st.integers(0, 30), boundary=st.sampled_from(BOUNDARIES))
def test_source_index_is_numpy_pads_index_map(n, before, after, boundary):
    expected = index_map(n, before, after, boundary).tolist()
    got = [source_index(q, n, boundary) for q in range(-before, n + after)]
    assert got == [None if i < 0 else i for i in expected]


@given(n=st.integers(1, 12), k=st.integers(1, 5), s=st.integers(1, 3), d=st.integers(1, 3),
       before=st.integers(0, 14), after=st.integers(0, 14), tile=st.integers(1, 6),
       boundary=st.sampled_from(BOUNDARIES))
def test_axis_windows_cover_the_output_and_read_only_what_they_need(n, k, s, d, before, after, tile, boundary):
    span = d * (k - 1) + 1
    n_out = (n + before + after - span) // s + 1
    if n_out < 1:
        with pytest.raises(CnnconvError):
            axis_windows(n, k, s, d, (before, after), boundary, tile)
        return
    padded = [None if i < 0 else i for i in index_map(n, before, after, boundary).tolist()]
    windows = axis_windows(n, k, s, d, (before, after), boundary, tile)
    assert [w.out for w in windows] == [(o, min(o + tile, n_out)) for o in range(0, n_out, tile)]
    for w in windows:
        lo = w.out[0] * s  # in padded coordinates
        assert w.sources() == padded[lo : lo + w.length]
        assert w.length == (w.out[1] - w.out[0] - 1) * s + span
        needed = {i for i in w.sources() if i is not None}
        covered = {i for a, b in w.reads for i in range(a, b)}
        assert covered == needed  # nothing read that the window does not use
        before_, after_ = w.border
        assert before_ + after_ + w.inside[1] - w.inside[0] == w.length


def _geometry(draw, h, w, kh, kw):
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    if draw(st.booleans()):
        pads = tuple((draw(st.integers(0, 5)), draw(st.integers(0, 5))) for _ in range(2))
        return {"padding": pads, "stride": stride, "dilation": dilation}
    return {"mode": draw(st.sampled_from(["valid", "same", "full"])), "stride": stride, "dilation": dilation}


@st.composite
def conv_cases(draw):
    h, w = draw(st.integers(1, 14)), draw(st.integers(1, 14))
    channels = draw(st.sampled_from([(), (2,)]))
    layout = draw(st.sampled_from(["2-D", "2-D", "summed", "bank"])) if channels else "2-D"
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    kshape = {"2-D": (kh, kw), "summed": (kh, kw, 2), "bank": (kh, kw, 2, 3)}[layout]
    dtype = draw(st.sampled_from([np.float32, np.float64, np.uint8]))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    x = (rng.integers(0, 256, (h, w) + channels) if dtype == np.uint8 else rng.standard_normal((h, w) + channels))
    integer = dtype == np.uint8 and draw(st.booleans())  # exact sums: every engine but the FFT agrees bit for bit
    kernel = rng.integers(-3, 4, kshape).astype(float) if integer else rng.standard_normal(kshape)
    boundary = draw(st.sampled_from(BOUNDARIES))
    geometry = _geometry(draw, h, w, kh, kw)
    geometry.update(boundary=boundary, cval=draw(st.sampled_from([-1.5, 2.0])) if boundary == "constant" else 0.0,
                    method=draw(st.sampled_from(METHODS)))
    tile = (draw(st.integers(1, 7)), draw(st.integers(1, 7)))
    return x.astype(dtype), kernel, geometry, tile, draw(st.booleans())


@settings(max_examples=120)
@given(conv_cases())
def test_correlating_tile_by_tile_equals_the_whole_image(case):
    x, w, geometry, tile, flip = case
    whole = convolve if flip else correlate
    try:
        expected = whole(x, w, **geometry)
    except CnnconvError:
        with pytest.raises(CnnconvError):
            correlate_tiled(x, w, tile=tile, flip=flip, **geometry)
        return
    got = correlate_tiled(x, w, tile=tile, flip=flip, **geometry)
    assert got.dtype == expected.dtype
    plan = conv_plan(x.shape, w.shape, flip=flip, dtype=x.dtype, kernel=w, **geometry)
    exact_sums = x.dtype == np.uint8 and np.all(w == np.rint(w)) and plan.method != "fft"
    if exact_sums or (plan.method in EXACT and plan.layout in ("2-D", "per-channel")):
        np.testing.assert_array_equal(got, expected)
    else:  # a GEMM blocked by the operand's size, or an FFT: the same sums, rounded in another order
        tol = 1e-5 if got.dtype == np.float32 else 1e-12
        np.testing.assert_allclose(got, expected, rtol=tol, atol=tol * np.abs(w).sum() * max(1, np.abs(x).max()))


@st.composite
def pool_cases(draw):
    h, w = draw(st.integers(1, 14)), draw(st.integers(1, 14))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    opts = {
        "stride": draw(st.sampled_from([None, (draw(st.integers(1, 3)), draw(st.integers(1, 3)))])),
        "padding": (draw(st.integers(0, kh // 2)), draw(st.integers(0, kw // 2))),
        "dilation": (draw(st.integers(1, 2)), draw(st.integers(1, 2))),
        "op": draw(st.sampled_from(["max", "min", "avg"])),
        "ceil_mode": draw(st.booleans()),
        "count_include_pad": draw(st.booleans()),
    }
    channels = draw(st.sampled_from([(), (3,)]))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    x = np.random.default_rng(draw(st.integers(0, 2**16))).standard_normal((h, w) + channels).astype(dtype)
    return x, (kh, kw), opts, (draw(st.integers(1, 6)), draw(st.integers(1, 6)))


@settings(max_examples=120)
@given(pool_cases())
def test_pooling_tile_by_tile_equals_the_whole_image(case):
    x, size, opts, tile = case
    try:
        expected = pool(x, size, **opts)
    except CnnconvError:
        with pytest.raises(CnnconvError):
            pool_tiled(x, size, tile=tile, **opts)
        return
    got = pool_tiled(x, size, tile=tile, **opts)
    assert got.dtype == expected.dtype
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("boundary", BOUNDARIES)
def test_a_corner_window_is_the_padded_image_there(boundary):
    """A border wider than the image: a wrap or a reflection reads from the far side, in rows
    and columns at once."""
    x = np.arange(20.0).reshape(4, 5)
    plan = tile_plan(x.shape, (3, 3), pads=((6, 2), (7, 1)), boundary=boundary, tile=(2, 3))
    padded = pad_array(x, ((6, 2), (7, 1)), boundary, 3.0 if boundary == "constant" else 0.0)
    for t in plan:
        (r0, r1), (c0, c1) = t.rows.window, t.cols.window
        window = gather(x, t, 3.0 if boundary == "constant" else 0.0)
        np.testing.assert_array_equal(window, padded[r0 + 6 : r1 + 6, c0 + 7 : c1 + 7])


def test_the_equality_check_can_fail():
    """A tile plan whose halo is one row short gives a different result, and the check sees it."""
    x = np.random.default_rng(0).standard_normal((9, 9))
    w = np.ones((3, 3))
    short = tile_plan(x.shape, (2, 3), pads=((1, 1), (1, 1)), tile=4)  # planned for a 2-row kernel
    out = np.concatenate([correlate(gather(x, t), w[:2]) for t in short][:1])
    assert not np.array_equal(out, correlate(x, w, mode="same")[: out.shape[0], : out.shape[1]])


def test_rules_name_the_fill_of_pooling():
    assert RULES[-1] == "fill" and source_index(-1, 4, "fill") is None
    with pytest.raises(CnnconvError, match="unknown boundary"):
        source_index(-1, 4, "nearest")
