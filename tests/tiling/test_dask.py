"""cnnconv.dask equals the NumPy core on the same data: random geometry, uneven chunks."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

da = pytest.importorskip("dask.array")

import cnnconv.dask as cd  # noqa: E402
from cnnconv.conv import convolve, correlate  # noqa: E402
from cnnconv.errors import CnnconvError  # noqa: E402
from cnnconv.pooling import pool  # noqa: E402


@pytest.fixture(autouse=True)
def one_thread():
    """The tasks run in the test's thread: the same results, without a thread pool per tiny graph."""
    import dask

    with dask.config.set(scheduler="synchronous"):
        yield


@st.composite
def chunked(draw):
    h, w = draw(st.integers(2, 16)), draw(st.integers(2, 16))
    x = np.random.default_rng(draw(st.integers(0, 999))).standard_normal((h, w) + draw(st.sampled_from([(), (2,)])))
    chunks = (draw(st.integers(1, h)), draw(st.integers(1, w))) + x.shape[2:]
    return x, da.from_array(x, chunks=chunks)


@settings(max_examples=30)
@given(chunked(), st.integers(1, 4), st.integers(1, 4), st.integers(1, 3), st.integers(1, 2),
       st.sampled_from(["valid", "same", "full"]), st.sampled_from(["zero", "constant", "edge", "reflect", "mirror", "wrap"]),
       st.booleans())
def test_dask_equals_numpy(data, kh, kw, s, d, mode, boundary, flip):
    x, xd = data
    w = np.random.default_rng(1).standard_normal((kh, kw))
    opts = dict(mode=mode, stride=s, dilation=d, boundary=boundary, cval=2.0 if boundary == "constant" else 0.0,
                method="direct")
    whole, lazy = (convolve, cd.convolve) if flip else (correlate, cd.correlate)
    try:
        expected = whole(x, w, **opts)
    except CnnconvError:
        return
    np.testing.assert_array_equal(lazy(xd, w, **opts).compute(), expected)


pairs = st.one_of(st.integers(1, 3), st.tuples(st.integers(1, 3), st.integers(1, 3)))
paddings = st.one_of(st.integers(0, 3), st.tuples(st.integers(0, 2), st.integers(0, 2)),
                     st.tuples(st.tuples(st.integers(0, 3), st.integers(0, 3)),
                               st.tuples(st.integers(0, 3), st.integers(0, 3))))


@settings(max_examples=40)
@given(chunked(), st.integers(1, 4), st.integers(1, 4), pairs, pairs, paddings,
       st.sampled_from(["zero", "constant", "edge", "reflect", "mirror", "wrap"]), st.booleans())
def test_dask_equals_numpy_with_explicit_padding(data, kh, kw, stride, dilation, padding, boundary, flip):
    """Explicit padding (P, (PH, PW), ((top, bottom), (left, right))) and per-axis stride and dilation."""
    x, xd = data
    w = np.random.default_rng(2).standard_normal((kh, kw))
    opts = dict(padding=padding, stride=stride, dilation=dilation, boundary=boundary,
                cval=-1.5 if boundary == "constant" else 0.0, method="direct")
    whole, lazy = (convolve, cd.convolve) if flip else (correlate, cd.correlate)
    try:
        expected = whole(x, w, **opts)
    except CnnconvError:
        with pytest.raises(CnnconvError):
            lazy(xd, w, **opts)
        return
    np.testing.assert_array_equal(lazy(xd, w, **opts).compute(), expected)


@settings(max_examples=40)
@given(chunked(), st.integers(1, 4), st.integers(1, 3), st.sampled_from(["max", "avg", "min"]), st.booleans(),
       st.integers(1, 2), st.booleans())
def test_dask_pool_equals_numpy(data, k, s, op, ceil_mode, dilation, count_include_pad):
    x, xd = data
    opts = dict(stride=s, padding=k // 2, op=op, ceil_mode=ceil_mode, dilation=dilation,
                count_include_pad=count_include_pad)
    try:
        expected = pool(x, k, **opts)
    except CnnconvError:
        return
    np.testing.assert_array_equal(cd.pool(xd, k, **opts).compute(), expected)


def test_without_dask_the_entry_names_the_extra(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "dask", None)
    monkeypatch.setitem(sys.modules, "dask.array", None)
    with pytest.raises(CnnconvError, match=r"pip install 'cnnconv\[dask\]'"):
        cd.correlate(np.ones((4, 4)), np.ones((3, 3)))


def test_each_task_reads_only_its_window():
    """A 3x3 filter over 4x4 chunks: no task depends on more than the chunks its halo touches."""
    x = da.from_array(np.arange(144.0).reshape(12, 12), chunks=4)
    y = cd.correlate(x, np.ones((3, 3)), mode="same")
    np.testing.assert_array_equal(y.compute(), correlate(np.arange(144.0).reshape(12, 12), np.ones((3, 3)), mode="same"))
    assert y.numblocks == (3, 3)


@pytest.mark.parametrize("stride", [1, 2, 3])
def test_chunks_in_multiples_of_the_stride_give_one_output_chunk_each(stride):
    """Output tiles aligned to the input's chunks: as many blocks out as in, each its chunk's outputs."""
    x = np.random.default_rng(3).standard_normal((36, 24, 2))
    xd = da.from_array(x, chunks=(6 * stride, 4 * stride, 2))
    opts = dict(mode="same", stride=stride, boundary="reflect", method="direct")
    y = cd.correlate(xd, np.ones((3, 3)), **opts)
    assert y.numblocks[:2] == xd.numblocks[:2]
    assert y.chunks[0][0] == 6 and y.chunks[1][0] == 4
    np.testing.assert_array_equal(y.compute(), correlate(x, np.ones((3, 3)), **opts))
    p = cd.pool(xd, stride, op="max")
    assert p.numblocks[:2] == xd.numblocks[:2]
    np.testing.assert_array_equal(p.compute(), pool(x, stride, op="max"))


def test_a_bad_geometry_is_refused_before_any_task():
    xd = da.from_array(np.ones((4, 4)), chunks=2)
    with pytest.raises(CnnconvError, match="stride"):
        cd.correlate(xd, np.ones((3, 3)), stride=0)
    with pytest.raises(CnnconvError):
        cd.correlate(xd, np.ones((9, 9)), mode="valid")
