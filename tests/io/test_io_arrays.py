"""cnnconv.io.arrays: .npy and text tables in and out, and one clear error per bad file."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnconv.errors import CnnconvError
from cnnconv.io.arrays import encode_array, is_npy, read_array


def test_spaceship_positions_one_per_line_read_as_a_1d_signal(tmp_path):
    # seed 000: positions of a spaceship measured at discrete times, one value per line
    path = tmp_path / "positions.txt"
    path.write_text("# x_t\n1.0\n2.0\n\n3.5\n5\n")
    x, info = read_array(path)
    assert x.tolist() == [1.0, 2.0, 3.5, 5.0] and info.layout == "column" and info.format == "txt"
    assert encode_array(x, "txt", layout=info.layout) == b"1\n2\n3.5\n5\n"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("1,2,3\n", [1.0, 2.0, 3.0]),
        ("1 2\t3", [1.0, 2.0, 3.0]),
        ("1;2;3\r\n", [1.0, 2.0, 3.0]),
        ("\ufeff1, 2\r\n3, 4\r\n", [[1.0, 2.0], [3.0, 4.0]]),
        ("1e-3 -2.5 # tail comment\n", [0.001, -2.5]),
    ],
    ids=["commas", "tabs", "semicolons-crlf", "bom-crlf-table", "comment"],
)
def test_text_separators_bom_and_line_endings(text, expected):
    assert read_array(text.encode("utf-8"))[0].tolist() == expected


@pytest.mark.parametrize(
    "text, message",
    [
        ("1 2\n3 x\n", "line 2: 'x' is not a number"),
        ("1 2\n3\n", "line 2 has 1 value, line 1 has 2"),
        ("1 nan\n", "line 1: 'nan' is not a finite number"),
        ("inf\n", "not a finite number"),
        ("# only a comment\n\n", "no numbers found"),
        ("", "empty"),
    ],
)
def test_bad_text_names_the_line(text, message):
    with pytest.raises(CnnconvError, match=message):
        read_array(text.encode(), name="t.csv", fmt="csv")


def test_non_utf8_text_is_refused():
    with pytest.raises(CnnconvError, match="not UTF-8"):
        read_array(b"\xff\xfe1\x00", fmt="txt")


def test_npy_round_trip_keeps_shape_and_values(tmp_path):
    x = np.random.default_rng(1).normal(size=(4, 5, 3))
    data = encode_array(x, "npy")
    assert is_npy(data)
    back, info = read_array(data)
    np.testing.assert_array_equal(back, x)
    assert info.format == "npy" and info.shape == (4, 5, 3)


@pytest.mark.parametrize(
    "array, message",
    [
        (np.array(["a", "b"]), "only real numbers"),
        (np.array([1 + 2j]), "only real numbers"),
        (np.zeros((2, 2, 2, 2)), "1-D, 2-D or 3-D"),
        (np.zeros((0,)), "non-empty"),
        (np.array([1.0, np.nan]), "1 NaN or infinite"),
    ],
)
def test_bad_npy_contents(array, message):
    buffer = io.BytesIO()
    np.save(buffer, array)
    with pytest.raises(CnnconvError, match=message):
        read_array(buffer.getvalue(), name="a.npy")


def test_object_npy_is_never_unpickled():
    buffer = io.BytesIO()
    np.save(buffer, np.array([{"x": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(CnnconvError, match="never unpickled"):
        read_array(buffer.getvalue())


def test_truncated_npy(tmp_path):
    buffer = io.BytesIO()
    np.save(buffer, np.arange(100.0))
    path = tmp_path / "cut.npy"
    path.write_bytes(buffer.getvalue()[:90])
    with pytest.raises(CnnconvError, match="cut.npy: not a valid .npy"):
        read_array(path)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(CnnconvError, match="no such file"):
        read_array(tmp_path / "none.csv")
    with pytest.raises(CnnconvError, match="is a directory"):
        read_array(tmp_path)


def test_encode_text_layouts_and_refusals():
    assert encode_array(np.array([1.0, 0.1, -2.0]), "csv") == b"1,0.1,-2\n"
    assert encode_array(np.array([[1.0, 2.0], [3.0, 4.25]]), "txt") == b"1 2\n3 4.25\n"
    with pytest.raises(CnnconvError, match="write .npy"):
        encode_array(np.zeros((2, 2, 2)), "csv")


@settings(max_examples=60)
@given(st.lists(st.lists(st.floats(allow_nan=False, allow_infinity=False, width=64), min_size=2, max_size=4),
                min_size=2, max_size=4).filter(lambda rows: len({len(r) for r in rows}) == 1))
def test_text_round_trip_is_exact(rows):
    x = np.array(rows)
    back, _ = read_array(encode_array(x, "csv"), fmt="csv")
    np.testing.assert_array_equal(back, x)


@settings(max_examples=60)
@given(st.text(max_size=80))
def test_random_text_gives_numbers_or_cnnconv_error(text):
    try:
        x, _ = read_array(text.encode("utf-8"), fmt="txt")
    except CnnconvError:
        return
    assert x.ndim in (1, 2) and np.all(np.isfinite(x))


def test_a_directory_or_a_device_is_refused_by_name(tmp_path):
    (tmp_path / "d.npy").mkdir()
    with pytest.raises(CnnconvError, match=r"^d\.npy: is a directory, not an array file$"):
        read_array(tmp_path / "d.npy", name="d.npy")
    if Path("/dev/zero").exists():  # read whole, it would fill memory
        with pytest.raises(CnnconvError, match=r"^/dev/zero: is a device, not an array file"):
            read_array("/dev/zero", fmt="npy")
