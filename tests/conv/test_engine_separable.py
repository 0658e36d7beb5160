"""The separable engine without horizontal stride: both passes as matrix products over groups
of row strips (test_methods.py runs it on every contract case, test_pad_as_read.py on every
boundary and padding)."""

import numpy as np
import pytest

from cnnconv.conv.engines import separable
from cnnconv.conv.engines._rows import PaddedRows
from reference import correlate_reference


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
