"""Engines that pad as they read (banded; separable without horizontal stride): the rows they
are handed equal the padded array's, and their results equal the loop reference on every
boundary, padding (also wider than the input), vertical stride, dilation and channel count."""

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from cnnconv.conv.padding import BOUNDARIES, pad_array
from cnnconv.conv import correlate
from cnnconv.conv.engines._rows import PaddedRows
from reference import correlate_reference


@settings(max_examples=60)
@given(
    shape=st.tuples(st.integers(1, 9), st.integers(1, 9)),
    channels=st.sampled_from([(), (2,)]),
    pads=st.tuples(*[st.integers(0, 12)] * 4),
    boundary=st.sampled_from(list(BOUNDARIES)),
    rows=st.tuples(st.integers(0, 40), st.integers(1, 40)),
    seed=st.integers(0, 2**32 - 1),
)
def test_padded_rows_equal_slices_of_the_padded_array(shape, channels, pads, boundary, rows, seed):
    x = np.random.default_rng(seed).standard_normal(shape + channels)
    t, b, left, r = pads
    cval = 2.5 if boundary == "constant" else 0.0
    whole = pad_array(x, ((t, b), (left, r)), boundary, cval)
    src = PaddedRows(x, ((t, b), (left, r)), boundary, cval)
    assert src.shape == whole.shape
    a = min(rows[0], whole.shape[0] - 1)
    z = min(a + rows[1], whole.shape[0])
    buf = np.full((z - a, int(np.prod(whole.shape[1:]))), np.nan)
    got = src.rows(a, z, buf)
    np.testing.assert_array_equal(got, whole[a:z].reshape(z - a, -1))
    band = src[a:z]  # what run_in_bands hands each thread
    np.testing.assert_array_equal(band.rows(0, z - a, buf), got)


@pytest.mark.parametrize("method", ["banded", "separable"])
@settings(max_examples=60)
@given(
    shape=st.tuples(st.integers(1, 40), st.integers(1, 14)),
    channels=st.sampled_from([(), (3,)]),
    k=st.tuples(st.integers(1, 7), st.integers(1, 7)),
    padding=st.tuples(st.tuples(st.integers(0, 8), st.integers(0, 8)), st.tuples(st.integers(0, 8), st.integers(0, 8))),
    boundary=st.sampled_from(list(BOUNDARIES)),
    sh=st.integers(1, 3),
    dilation=st.tuples(st.integers(1, 2), st.integers(1, 3)),
    seed=st.integers(0, 2**32 - 1),
)
def test_engines_that_pad_as_they_read_match_the_loops(method, shape, channels, k, padding, boundary, sh, dilation, seed):
    """Zero fill reads the input rows only (strips wholly in the padding give zeros); every
    other fill assembles its rows; the separable engine gets rank-1 kernels."""
    spans = [d * (n - 1) + 1 for n, d in zip(k, dilation)]
    assume(all(n + b + a >= e for n, (b, a), e in zip(shape, padding, spans)))
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape + channels)
    w = rng.standard_normal(k) if method == "banded" else np.outer(rng.standard_normal(k[0]), rng.standard_normal(k[1]))
    cval = -1.5 if boundary == "constant" else 0.0
    got = correlate(x, w, padding=padding, stride=(sh, 1), dilation=dilation,
                    boundary=boundary, cval=cval, method=method)  # fmt: skip
    want = correlate_reference(x, w, padding, (sh, 1), dilation, boundary, cval)
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("method", ["banded", "separable"])
def test_a_strided_out_array_receives_the_result(method):
    """The engines write strips through flat views of ``out``; a strided ``out`` still gets it."""
    from cnnconv.conv import engines

    rng = np.random.default_rng(8)
    x = rng.standard_normal((40, 30, 2))  # with channels, (Ho, Wo, C) -> (Ho, Wo*C) must not copy
    u, v = rng.standard_normal(3), rng.standard_normal(5)
    w = np.outer(u, v)
    out = np.full((2, 26, 38), np.nan).T  # (38, 26, 2), not C-contiguous
    src = PaddedRows(x)
    got = engines.correlate_banded(src, w, out=out) if method == "banded" else engines.correlate_separable(src, u, v, out=out)
    assert got is out
    np.testing.assert_allclose(out, correlate_reference(x, w, ((0, 0), (0, 0))), rtol=1e-10, atol=1e-12)
