"""The separable engine without horizontal stride: both passes as matrix products over groups
of row strips, padding as it reads (test_methods.py runs it on every contract case too)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnconv.conv import correlate
from cnnconv.engines import separable
from cnnconv.engines._rows import PaddedRows
from reference import correlate_reference


@settings(max_examples=60)
@given(
    shape=st.tuples(st.integers(1, 40), st.integers(1, 14)),
    channels=st.sampled_from([(), (3,)]),
    k=st.tuples(st.integers(1, 7), st.integers(1, 7)),
    padding=st.tuples(st.tuples(st.integers(0, 6), st.integers(0, 6)), st.tuples(st.integers(0, 6), st.integers(0, 6))),
    boundary=st.sampled_from(["zero", "constant", "edge", "reflect", "mirror", "wrap"]),
    sh=st.integers(1, 3),
    dilation=st.tuples(st.integers(1, 2), st.integers(1, 3)),
    seed=st.integers(0, 2**32 - 1),
)
def test_rank1_kernels_through_the_gemm_passes_match_the_loops(shape, channels, k, padding, boundary, sh, dilation, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape + channels)
    w = np.outer(rng.standard_normal(k[0]), rng.standard_normal(k[1]))
    cval = 0.75 if boundary == "constant" else 0.0
    spans = [d * (n - 1) + 1 for n, d in zip(k, dilation)]
    if any(n + b + a < e for n, (b, a), e in zip(shape, padding, spans)):
        return
    got = correlate(x, w, padding=padding, stride=(sh, 1), dilation=dilation,
                    boundary=boundary, cval=cval, method="separable")  # fmt: skip
    want = correlate_reference(x, w, padding, (sh, 1), dilation, boundary, cval)
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_several_groups_and_a_short_last_strip(dtype, monkeypatch):
    """Small group budget: many groups, each reusing the buffers of a larger previous one."""
    monkeypatch.setattr(separable, "GEMM_GROUP_BYTES", (1, 1))
    rng = np.random.default_rng(4)
    x = rng.standard_normal((53, 37)).astype(dtype)
    u, v = rng.standard_normal(5).astype(dtype), rng.standard_normal(9).astype(dtype)
    got = separable.correlate_separable(PaddedRows(x, ((2, 2), (4, 4))), u, v)
    want = correlate_reference(x, np.outer(u, v), ((2, 2), (4, 4)))
    np.testing.assert_allclose(got, want, rtol=1e-4 if dtype == np.float32 else 1e-10, atol=1e-4)


def test_an_infinite_input_value_stays_near_its_place(monkeypatch):
    """Zero weights times inf give NaN inside a strip and block (documented); the zeroed slack
    keeps the previous group's values out of a shorter last group."""
    monkeypatch.setattr(separable, "GEMM_GROUP_BYTES", (4096, 4096))  # one 8-row strip a group
    x = np.ones((203, 64), np.float32)  # the last strip has 3 rows
    x[198, 5] = np.inf
    g = np.array([1.0, 4.0, 6.0, 4.0, 1.0], np.float32) / 16
    with np.errstate(invalid="ignore"):
        got = separable.correlate_separable(PaddedRows(x, ((2, 2), (2, 2))), g, g)
    assert not np.isfinite(got[198, 5])
    assert np.all(np.isfinite(got[:190]))
    # The last strip, away from the inf's blocks (16 values of the flat rows, which are 68 wide
    # with their padding, so a block can hold the end of one row and the start of the next).
    np.testing.assert_allclose(got[200, 30:56], 1.0, rtol=1e-6)
    np.testing.assert_allclose(got[201, 30:56], 15 / 16, rtol=1e-6)  # zero padding below
    np.testing.assert_allclose(got[202, 30:62], 11 / 16, rtol=1e-6)  # its end reads the slack
