"""Hypothesis property tests: cnnconv.conv.correlation against the naive loops of tests/reference.py."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from reference import convolve_reference, correlate_reference, mode_pads, pad_reference, transpose_reference

from cnnconv.conv.padding import pad_array
from cnnconv.conv import conv_plan, convolve, correlate, correlate_transpose
from cnnconv.errors import CnnconvError
from cnnconv.conv.dispatch import METHODS

BOUNDARIES = ("zero", "constant", "edge", "reflect", "mirror", "wrap")
LAYOUTS = ("1-D", "2-D", "per-channel", "summed", "bank")


@st.composite
def problems(draw):
    """A random correlation problem: arrays, options, and the explicit pads they mean."""
    layout = draw(st.sampled_from(LAYOUTS))
    nd = 1 if layout == "1-D" else 2
    spatial = tuple(draw(st.integers(1, 9)) for _ in range(nd))
    ksize = tuple(draw(st.integers(1, 4)) for _ in range(nd))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(nd))
    c, n = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    x_shape = spatial + ((c,) if layout in ("per-channel", "summed", "bank") else ())
    w_shape = ksize + {"summed": (c,), "bank": (c, n)}.get(layout, ())
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
    kind = draw(st.sampled_from(("valid", "same", "full", "int", "per-side")))
    options = {"stride": stride if draw(st.booleans()) else stride[0], "dilation": dilation}
    if nd == 1 or len(set(stride)) > 1:
        options["stride"] = stride
    if kind in ("valid", "same", "full"):
        options["mode"] = kind
    elif kind == "int":
        options["padding"] = draw(st.integers(0, 4))
    else:
        sides = tuple((draw(st.integers(0, 12)), draw(st.integers(0, 12))) for _ in range(nd))
        options["padding"] = sides[0] if nd == 1 else sides
    boundary = draw(st.sampled_from(BOUNDARIES))
    options["boundary"] = boundary
    if boundary == "constant":
        options["cval"] = draw(st.floats(-3, 3))
    bias = None
    if layout == "bank" and draw(st.booleans()):
        bias = rng.standard_normal(n)
    return x, w, options, bias


def _explicit_pads(x, w, options, mirror):
    nd = 1 if x.ndim == 1 else 2
    stride = options["stride"]
    stride = (stride,) * nd if isinstance(stride, int) else stride
    if "mode" in options:
        return mode_pads(options["mode"], x.shape[:nd], w.shape[:nd], stride, options["dilation"], mirror), stride
    p = options["padding"]
    if isinstance(p, int):
        return ((p, p),) * nd, stride
    return ((p,) if nd == 1 else p), stride


def _check(fn, reference, problem, method, mirror):
    x, w, options, bias = problem
    pads, stride = _explicit_pads(x, w, options, mirror)
    nd = len(stride)
    spans = [d * (k - 1) + 1 for k, d in zip(w.shape[:nd], options["dilation"])]
    padded = [n + b + a for n, (b, a) in zip(x.shape[:nd], pads)]
    if any(p < e for p, e in zip(padded, spans)):
        with pytest.raises(CnnconvError, match="padded input"):
            fn(x, w, method=method, bias=bias, **options)
        return
    got = fn(x, w, method=method, bias=bias, **options)
    want = reference(x, w, pads, stride, options["dilation"], options["boundary"], options.get("cval", 0.0))
    if bias is not None:
        want = want + bias
    assert got.dtype == np.float64
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)
    plan = conv_plan(x.shape, w.shape, flip=mirror, method=method, **options)
    assert plan.output_shape == got.shape
    assert plan.padding == tuple(pads)


@pytest.mark.parametrize("method", METHODS)
@given(problem=problems())
def test_correlate_matches_naive_loops(method, problem):
    _check(correlate, correlate_reference, problem, method, mirror=False)


@pytest.mark.parametrize("method", METHODS)
@given(problem=problems())
def test_convolve_matches_naive_loops(method, problem):
    _check(convolve, convolve_reference, problem, method, mirror=True)


@pytest.mark.parametrize("method", METHODS)
@given(problem=problems())
def test_float32_input_stays_float32_and_close(method, problem):
    x, w, options, bias = problem
    try:
        want = correlate(x, w, method=method, bias=bias, **options)
    except CnnconvError:
        return
    got = correlate(x.astype(np.float32), w, method=method, bias=bias, **options)
    assert got.dtype == np.float32
    scale = np.abs(x).max() * np.abs(w).sum() + (0 if bias is None else np.abs(bias).max()) + 3
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5 * scale)


@st.composite
def transpose_problems(draw):
    layout = draw(st.sampled_from(LAYOUTS))
    nd = 1 if layout == "1-D" else 2
    spatial = tuple(draw(st.integers(1, 5)) for _ in range(nd))
    ksize = tuple(draw(st.integers(1, 4)) for _ in range(nd))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(nd))
    output_padding = tuple(draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation))
    pads = tuple((draw(st.integers(0, 2)), draw(st.integers(0, 2))) for _ in range(nd))
    c, n = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    y_shape = spatial + {"per-channel": (c,), "bank": (n,)}.get(layout, ())
    w_shape = ksize + {"summed": (c,), "bank": (c, n)}.get(layout, ())
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    return rng.standard_normal(y_shape), rng.standard_normal(w_shape), stride, dilation, output_padding, pads


@pytest.mark.parametrize("method", ["scatter", *METHODS])
@given(problem=transpose_problems())
def test_transpose_matches_naive_scatter(method, problem):
    y, w, stride, dilation, output_padding, pads = problem
    padding = pads[0] if y.ndim == 1 and w.ndim == 1 else pads
    want = transpose_reference(y, w, pads, stride, dilation, output_padding)
    if min(want.shape[: len(stride)]) < 1:
        with pytest.raises(CnnconvError, match="padding"):
            correlate_transpose(y, w, stride=stride, padding=padding, dilation=dilation,
                                output_padding=output_padding, method=method)
        return
    got = correlate_transpose(y, w, stride=stride, padding=padding, dilation=dilation,
                              output_padding=output_padding, method=method)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)


@given(
    n=st.integers(1, 6),
    before=st.integers(0, 20),
    after=st.integers(0, 20),
    boundary=st.sampled_from(BOUNDARIES),
    cval=st.floats(-2, 2),
)
def test_padding_wider_than_input_follows_the_boundary_definitions(n, before, after, boundary, cval):
    # numpy.pad repeats reflections when the padding is wider than the input; check that this
    # is the periodic extension the boundary names promise (source_index in tests/reference.py)
    x = np.arange(1.0, n + 1)
    cval = cval if boundary == "constant" else 0.0
    got = pad_array(x, ((before, after),), boundary, cval)
    np.testing.assert_array_equal(got, pad_reference(x, ((before, after),), boundary, cval))
