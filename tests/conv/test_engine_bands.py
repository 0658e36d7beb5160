"""Row bands on several threads (cnnconv.conv.engines._split) give the one-band result.

Every engine, every contract layout, stride and dilation: the banded result is compared with
the same engine run in one piece (bit for bit where each output is computed by the same
operations in the same order, within the engines' tested tolerance where a GEMM's or FFT's
blocking depends on the strip), and with the float64 reference of tests/test_methods.py.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_methods import assert_close, operands, runs_fft

from cnnconv.conv import dispatch as methods, engines
from cnnconv.conv.engines import _split
from cnnconv.conv.engines._blas import _openblas_thread_functions
from cnnconv.conv.engines._layout import out_shape

#: Engines whose every output is the same sequence of elementwise operations in any band.
EXACT = ("direct",)


def banded(xp, w, stride, dilation, method, bands):
    """The engine that ``method`` runs, on ``bands`` row bands through run_in_bands."""
    name, _ = methods.explain_method(xp.shape, w.shape, xp.dtype, stride, dilation, method, kernel=w)
    if name == "separable":
        u, v = methods._rank1(w)
        engine, args = engines.correlate_separable, (u, v, stride, dilation)
    else:
        engine, args = getattr(engines, f"correlate_{name}"), (w, stride, dilation)
    out = np.empty(out_shape(xp.shape, w.shape, stride, dilation), dtype=xp.dtype)
    extent_h = dilation[0] * (w.shape[0] - 1) + 1
    run = lambda xr, orows: engine(xr, *args, out=orows)  # noqa: E731
    return name, _split.run_in_bands(run, xp, out, stride[0], extent_h, bands)


@pytest.mark.parametrize("method", methods.METHODS)
@settings(max_examples=30)
@given(ops=operands(), bands=st.integers(2, 4))
def test_bands_equal_one_piece_for_every_engine_layout_stride_and_dilation(method, ops, bands):
    xp, w, stride, dilation = ops
    whole = methods._correlate_in_bands(xp, w, stride, dilation, method, min_outputs=np.inf)
    name, got = banded(xp, w, stride, dilation, method, bands)
    if name in EXACT:
        np.testing.assert_array_equal(got, whole)
    fft = runs_fft(method, xp, w, stride, dilation)
    assert_close(got, xp, w, stride, dilation, normwise=fft)


@pytest.mark.parametrize("method", methods.METHODS)
@settings(max_examples=15)
@given(ops=operands(rank1=True))
def test_rank1_kernels_in_bands(method, ops):
    xp, w, stride, dilation = ops
    name, got = banded(xp, w, stride, dilation, method, 2)
    if name in EXACT:
        np.testing.assert_array_equal(got, methods._correlate_in_bands(xp, w, stride, dilation, method, np.inf))
    assert_close(got, xp, w, stride, dilation, normwise=runs_fft(method, xp, w, stride, dilation))


@pytest.mark.parametrize("method", methods.METHODS[1:])
@pytest.mark.parametrize("shape, wshape", [((301, 200), (7, 5)), ((150, 96, 3), (5, 5)), ((90, 70, 3), (3, 3, 3, 16))])
def test_correlate_valid_splits_above_the_threshold(method, shape, wshape, monkeypatch):
    """Through correlate_valid itself, with the threshold forced low and two CPUs assumed."""
    monkeypatch.setattr(_split, "usable_cpus", lambda: 2)
    rng = np.random.default_rng(5)
    xp = rng.standard_normal(shape).astype(np.float32)
    w = rng.standard_normal(wshape).astype(np.float32)
    calls, real = [], _split.run_in_bands
    monkeypatch.setattr(_split, "run_in_bands", lambda *a: calls.append(a[-1]) or real(*a))
    for stride, dilation in [((1, 1), (1, 1)), ((2, 3), (2, 1)), ((3, 1), (1, 3))]:
        calls.clear()
        got = methods._correlate_in_bands(xp, w, stride, dilation, method, min_outputs=1)
        assert calls == [2]
        whole = methods._correlate_in_bands(xp, w, stride, dilation, method, min_outputs=np.inf)
        if method in EXACT:
            np.testing.assert_array_equal(got, whole)
        np.testing.assert_allclose(got, whole, rtol=1e-4, atol=1e-4 * np.abs(whole).max())


def test_band_count_threshold_and_cpus(monkeypatch):
    monkeypatch.setattr(_split, "usable_cpus", lambda: 2)
    assert _split.band_count(4096, 4096 * 4096, 1 << 20) == 2
    assert _split.band_count(100, (1 << 20) - 1, 1 << 20) == 1
    assert _split.band_count(1, 10**9, 1) == 1  # one output row cannot be split
    monkeypatch.setattr(_split, "usable_cpus", lambda: 1)
    assert _split.band_count(4096, 4096 * 4096, 1) == 1
    monkeypatch.setattr(_split, "usable_cpus", lambda: 64)
    assert _split.band_count(4096, 4096 * 4096, 1) == _split.MAX_BANDS


def test_which_engines_split_by_default(monkeypatch):
    """Large results split; small ones only for the FFT; separable passes only from 2048²."""
    monkeypatch.setattr(_split, "usable_cpus", lambda: 2)
    calls, real = [], _split.run_in_bands
    monkeypatch.setattr(_split, "run_in_bands", lambda *a: calls.append(a[-1]) or real(*a))
    x = np.zeros((1100, 1030), np.float32)
    for method, w in [("direct", np.ones((3, 3))), ("toeplitz", np.ones((5, 4))), ("fft", np.ones((15, 15))),
                      ("separable", np.ones((5, 5)))]:
        calls.clear()
        methods.correlate_valid(x, w.astype(np.float32), method=method)
        assert calls == ([] if method == "separable" else [2]), method
        calls.clear()
        methods.correlate_valid(np.zeros((2060, 2060), np.float32), w.astype(np.float32), method=method)
        assert calls == [2], method
        calls.clear()
        methods.correlate_valid(x[:600, :600], w.astype(np.float32), method=method)
        assert calls == ([2] if method == "fft" else []), method


def test_more_bands_than_rows_and_errors_from_any_band():
    x = np.arange(12.0).reshape(6, 2)
    out = np.full((3, 2), np.nan)

    def run(xr, orows):
        orows[:] = xr[::2][: len(orows)] + xr[1::2][: len(orows)]

    _split.run_in_bands(run, x, out, 2, 2, 5)
    np.testing.assert_array_equal(out, x[0::2] + x[1::2])

    def fail_late(xr, orows):
        if orows.base is not None and xr[0, 0] > 0:
            raise ValueError("band failed")
        orows[:] = 0

    with pytest.raises(ValueError, match="band failed"):
        _split.run_in_bands(fail_late, x, out, 2, 2, 3)


def test_blas_thread_count_is_restored_after_bands():
    funcs = _openblas_thread_functions()
    if funcs is None:
        pytest.skip("numpy is not linked to OpenBLAS here")
    get, _ = funcs
    before = get()
    rng = np.random.default_rng(0)
    xp = rng.standard_normal((120, 90)).astype(np.float32)
    w = rng.standard_normal((5, 5)).astype(np.float32)
    _, got = banded(xp, w, (1, 1), (1, 1), "toeplitz", 2)
    assert get() == before
    assert_close(got, xp, w, (1, 1), (1, 1))
