"""Zarr stores on the command line: read as arrays, written whole or not at all, found in folders."""

import json
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from cnnconv.cli import cli

zarr = pytest.importorskip("zarr")


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def load(path):
    return np.asarray(zarr.open(str(path), mode="r")[...])


def make_store(path, array, chunks):
    store = zarr.open_array(store=str(path), mode="w", shape=array.shape, dtype=array.dtype, chunks=chunks)
    store[...] = array
    return array


@pytest.fixture
def rgb(tmp_path):
    rng = np.random.default_rng(3)
    x = make_store(tmp_path / "in.zarr", rng.integers(0, 256, (70, 90, 3), dtype=np.uint8), (32, 32, 3))
    np.save(tmp_path / "in.npy", x)
    return tmp_path


@pytest.mark.parametrize("command", [["filter", "-k", "sobel-x", "--stride", "2"], ["pool", "--size", "3"],
                                     ["filter", "-k", "box3", "--depth", "8"]])
def test_a_store_gives_the_numbers_the_same_array_as_npy_gives(rgb, command):
    a = run(*command, rgb / "in.zarr", "-o", rgb / "a.zarr", "-q")
    b = run(*command, rgb / "in.npy", "-o", rgb / "b.npy", "-q")
    assert a.exit_code == 0 and b.exit_code == 0, a.output + b.output
    expected = np.load(rgb / "b.npy")
    got = load(rgb / "a.zarr")
    assert got.dtype == expected.dtype
    np.testing.assert_array_equal(got, expected)


def test_the_record_names_the_store_format(rgb):
    result = run("filter", rgb / "in.zarr", "-k", "box3", "-o", rgb / "a.zarr", "--json")
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout.splitlines()[0])
    assert record["kind"] == "array" and record["outputs"][0]["format"] == "zarr"


def test_an_existing_store_is_replaced_whole(rgb):
    make_store(rgb / "a.zarr", np.ones((500, 500), np.float32), (100, 100))
    result = run("pool", rgb / "in.zarr", "--size", "2", "-o", rgb / "a.zarr", "-q")
    assert result.exit_code == 0, result.output
    assert load(rgb / "a.zarr").shape == (35, 45, 3)
    assert [p.name for p in rgb.iterdir() if p.name.startswith(".")] == []  # no temporary, no old store aside


def test_the_replacement_without_an_atomic_exchange_leaves_one_store(rgb, monkeypatch):
    from cnnconv.io import atomic

    monkeypatch.setattr(atomic, "_exchange", lambda a, b: False)
    make_store(rgb / "a.zarr", np.ones((5, 5), np.float32), (5, 5))
    result = run("filter", rgb / "in.zarr", "-k", "box3", "-o", rgb / "a.zarr", "-q")
    assert result.exit_code == 0, result.output
    assert load(rgb / "a.zarr").shape == (70, 90, 3)
    assert sorted(p.name for p in rgb.iterdir()) == ["a.zarr", "in.npy", "in.zarr"]


def test_a_directory_that_is_not_a_store_is_never_replaced(rgb):
    (rgb / "mine.zarr").mkdir()
    (rgb / "mine.zarr" / "notes.txt").write_text("keep me")
    result = run("filter", rgb / "in.zarr", "-k", "box3", "-o", rgb / "mine.zarr")
    assert result.exit_code == 1
    assert "mine.zarr: is a directory that is not a Zarr store, which is never replaced" in result.output
    assert (rgb / "mine.zarr" / "notes.txt").read_text() == "keep me"


def test_a_file_named_like_a_store_is_not_replaced(rgb):
    (rgb / "f.zarr").write_text("a file")
    result = run("filter", rgb / "in.zarr", "-k", "box3", "-o", rgb / "f.zarr")
    assert result.exit_code == 1
    assert "f.zarr: is a file, and a Zarr store is a directory" in result.output
    assert (rgb / "f.zarr").read_text() == "a file"


def test_a_store_cannot_go_to_stdout(rgb):
    result = run("filter", rgb / "in.zarr", "-k", "box3", "-o", "-")
    assert result.exit_code == 1
    assert "a Zarr store is a directory and cannot be written to stdout" in result.output


@pytest.mark.parametrize("make, message", [
    (lambda p: p.mkdir(), "not a Zarr store (a directory with zarr.json, .zarray or .zgroup at its top)"),
    (lambda p: None, "no such file; check the path"),
    (lambda p: make_store(p, np.ones((2, 2), np.complex64), (1, 2)), "only real numbers can be filtered"),
])
def test_what_is_not_a_usable_store_is_said_in_one_line(tmp_path, make, message):
    make(tmp_path / "bad.zarr")
    result = run("filter", tmp_path / "bad.zarr", "-k", "box3", "-o", tmp_path / "o.npy")
    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1


def test_a_group_gives_its_full_resolution_level(tmp_path):
    group = zarr.open_group(str(tmp_path / "pyramid.zarr"), mode="w")
    level = group.create_array("0", shape=(40, 30), dtype=np.uint16, chunks=(16, 16))
    level[...] = np.arange(1200, dtype=np.uint16).reshape(40, 30)
    group.create_array("1", shape=(20, 15), dtype=np.uint16, chunks=(16, 16))
    result = run("pool", tmp_path / "pyramid.zarr", "--size", "2", "-o", tmp_path / "o.npy", "-q")
    assert result.exit_code == 0, result.output
    assert np.load(tmp_path / "o.npy").shape == (20, 15)


def test_a_folder_takes_a_store_as_one_input_and_does_not_count_its_chunks(rgb):
    (rgb / "in.npy").unlink()
    result = run("filter", rgb, "-k", "box3", "--out-dir", rgb / "out", "-r", "-v")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (rgb / "out").iterdir()) == ["in-box3.zarr"]
    assert "skipped" not in result.output


def test_without_zarr_installed_the_message_names_the_extra(rgb, monkeypatch):
    monkeypatch.setitem(sys.modules, "zarr", None)
    result = run("filter", rgb / "in.npy", "-k", "box3", "-o", rgb / "o.zarr")
    assert result.exit_code == 1
    assert "writing a Zarr store needs zarr: pip install 'cnnconv[large]'" in result.output
    assert not (rgb / "o.zarr").exists()
