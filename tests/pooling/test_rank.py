"""Rank filters (median, max, min, mean over every window) against a plain loop, and through
``pool --op median --mode same``."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from cnnconv.cli import cli
from cnnconv.conv.padding import pad_array
from cnnconv.pooling import pool, window_filter


def _loop(x, k, op, boundary, cval=0.0):
    """The obvious same-size reference: pad by the rule (or NaN), sort each window, take rank n // 2."""
    kh, kw = k
    pads = (((kh - 1) // 2, kh // 2), ((kw - 1) // 2, kw // 2))
    padded = np.pad(x, pads, constant_values=np.nan) if boundary is None else pad_array(x, pads, boundary, cval)
    out = np.empty_like(x)
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            v = padded[i:i + kh, j:j + kw].ravel()
            v = np.sort(v[~np.isnan(v)])
            out[i, j] = {"median": v[len(v) // 2], "max": v[-1], "min": v[0], "avg": v.mean()}[op]
    return out


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 9), st.integers(1, 9), st.integers(1, 5), st.integers(1, 5),
       st.sampled_from(["median", "max", "min", "avg"]),
       st.sampled_from([None, "zero", "constant", "edge", "reflect", "mirror", "wrap"]), st.integers(0, 2**31))
def test_same_size_windows_match_the_loop(h, w, kh, kw, op, boundary, seed):
    if boundary == "mirror" and (kh > 2 * h - 1 or kw > 2 * w - 1):
        return  # mirror cannot pad more than the signal holds
    x = np.random.default_rng(seed).integers(0, 50, (h, w)).astype(float)
    cval = 7.0 if boundary == "constant" else 0.0
    try:
        expected = _loop(x, (kh, kw), op, boundary, cval)
    except ValueError:
        return  # numpy cannot pad this (wrap/reflect wider than the input): not a case to compare
    np.testing.assert_allclose(window_filter(x, (kh, kw), op, boundary=boundary, cval=cval), expected)


def test_the_median_of_an_even_count_is_the_upper_middle_value_and_stays_an_input_value():
    assert window_filter([4.0, 1.0, 3.0, 2.0], 4, padding=0, stride=4).tolist() == [3.0]
    x = np.array([[10, 20], [30, 40]], np.uint8)
    y = window_filter(x, 2, boundary="edge")
    assert set(np.unique(y)) <= {10.0, 20.0, 30.0, 40.0}


def test_max_and_min_windows_equal_pooling_where_both_apply():
    x = np.random.default_rng(1).random((9, 11, 2))
    for op in ("max", "min", "avg"):
        np.testing.assert_allclose(window_filter(x, 3, op, stride=2, padding=1, ceil_mode=True),
                                   pool(x, 3, stride=2, padding=1, op=op, ceil_mode=True))


def test_pool_median_mode_same_is_a_median_filter_on_the_command_line(tmp_path):
    rng = np.random.default_rng(4)
    x = rng.integers(0, 256, (12, 10, 3)).astype(np.uint8)
    x[5, 5] = 255  # salt
    Image.fromarray(x).save(tmp_path / "noisy.png")
    result = CliRunner().invoke(cli, ["pool", str(tmp_path / "noisy.png"), "--op", "median", "--size", "3",
                                      "--mode", "same", "--boundary", "reflect", "-o", str(tmp_path / "m.png")])
    assert result.exit_code == 0, result.output
    out = np.asarray(Image.open(tmp_path / "m.png"))
    assert out.shape == x.shape and out.dtype == np.uint8
    expected = np.stack([_loop(x[..., c].astype(float), (3, 3), "median", "reflect") for c in range(3)], axis=2)
    np.testing.assert_array_equal(out, expected.astype(np.uint8))
    assert (tmp_path / "m.png").exists()


@pytest.mark.parametrize("op", ["min", "max"])
def test_erosion_and_dilation_keep_an_rgba_images_alpha_as_a_channel(tmp_path, op):
    x = np.zeros((7, 7, 4), np.uint8)
    x[2:5, 2:5] = 255
    Image.fromarray(x).save(tmp_path / "sq.png")
    result = CliRunner().invoke(cli, ["pool", str(tmp_path / "sq.png"), "--op", op, "--size", "3", "--mode", "same",
                                      "--boundary", "edge", "-o", str(tmp_path / "o.png")])
    assert result.exit_code == 0, result.output
    out = np.asarray(Image.open(tmp_path / "o.png"))
    assert int((out[..., 3] == 255).sum()) == (1 if op == "min" else 25)
