"""The registry of input kinds: every command that takes files from a folder takes the same ones."""

from __future__ import annotations

import os

import numpy as np
from click.testing import CliRunner
from PIL import Image

from cnnconv.cli import cli
from cnnconv.io.dataset import find_layout, load_dataset
from cnnconv.io.formats import (ARRAY_SUFFIXES, IMAGE_FORMATS, IMAGE_SUFFIXES, READABLE_SUFFIXES, input_files,
                                input_kind)
from cnnconv.io.images import format_for

RNG = np.random.default_rng(11)


def _picture(path, mode="L"):
    shape = (6, 7) if mode == "L" else (6, 7, 3)
    Image.fromarray(RNG.integers(0, 256, shape).astype(np.uint8), mode).save(path)
    return path


def test_every_image_suffix_names_a_writer_format_and_kinds_do_not_overlap():
    assert {format_for("x" + s) for s in IMAGE_SUFFIXES} == set(IMAGE_FORMATS.values())
    assert not IMAGE_SUFFIXES & set(ARRAY_SUFFIXES)
    assert READABLE_SUFFIXES == IMAGE_SUFFIXES | set(ARRAY_SUFFIXES)
    assert {".ppm", ".pgm", ".png", ".tif"} <= IMAGE_SUFFIXES
    assert [input_kind(f"a{s.upper()}") for s in (".PPM", ".Npy", ".md", "")] == ["image", "array", None, None]


def test_input_files_skips_hidden_files_and_folders_and_recurses_only_when_asked(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / ".cache").mkdir()
    for name in ("a.pgm", "sub/b.PNG", ".cache/c.png", ".d.png", "e.csv", "f.md"):
        (tmp_path / name).write_bytes(b"")
    assert [p.name for p in input_files(tmp_path)] == ["a.pgm", "e.csv"]
    assert [p.relative_to(tmp_path).as_posix() for p in input_files(tmp_path, ("image",), recursive=True)] == [
        "a.pgm", "sub/b.PNG"]


def test_filter_of_a_folder_takes_ppm_pgm_and_arrays_and_nothing_else(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    _picture(folder / "colour.ppm", "RGB")
    _picture(folder / "gray.pgm")
    np.save(folder / "signal.npy", RNG.random((5, 5)))
    (folder / "table.csv").write_text("1,2,3\n4,5,6\n")
    (folder / "notes.md").write_text("not an input")
    (folder / ".hidden.png").write_bytes(b"not read")
    result = CliRunner().invoke(cli, ["filter", str(folder), "-k", "box3", "--out-dir", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert sorted(os.listdir(tmp_path / "out")) == [
        "colour-box3.ppm", "gray-box3.pgm", "signal-box3.npy", "table-box3.csv"]


def test_a_data_set_reads_the_same_image_kinds_as_filter(tmp_path):
    for cls, suffix, mode in (("cats", ".ppm", "RGB"), ("dogs", ".pgm", "L")):
        (tmp_path / cls).mkdir()
        for i in range(3):
            _picture(tmp_path / cls / f"{i}{suffix}", mode)
        np.save(tmp_path / cls / "not-an-image.npy", np.zeros(3))
    train, _, _ = find_layout(tmp_path)
    assert {name: sorted(p.suffix for p in files) for name, files in train.items()} == {
        "cats": [".ppm"] * 3, "dogs": [".pgm"] * 3}
    data = load_dataset(tmp_path, channels="gray", size=(6, 7), val_split=0.34, seed=0)
    assert len(data.x_train) + len(data.x_val) == 6 and not data.skipped
