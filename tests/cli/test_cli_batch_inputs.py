"""Directory inputs take only the files cnnconv reads (one note counts the rest), --recursive
mirrors the tree under --out-dir, and --json lines come in input order with --jobs N."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
from click.testing import CliRunner
from PIL import Image

from cnnconv.cli import cli

RNG = np.random.default_rng(2)


def _picture(path, size=8):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(RNG.integers(0, 256, (size, size)).astype(np.uint8)).save(path)


def test_a_folder_skips_files_cnnconv_does_not_read_with_one_note(tmp_path):
    photos = tmp_path / "photos"
    _picture(photos / "a.png")
    _picture(photos / "b.pgm")
    (photos / "readme.txt.bak").write_text("not an image")
    (photos / "notes.md").write_text("# notes")
    result = CliRunner().invoke(cli, ["filter", str(photos), "-k", "box3", "--out-dir", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a-box3.png", "b-box3.pgm"]
    notes = [line for line in result.output.splitlines() if "skipped" in line]
    assert len(notes) == 1 and "skipped 2 files" in notes[0]
    quiet = CliRunner().invoke(cli, ["filter", str(photos), "-k", "box3", "--out-dir", str(tmp_path / "o2"), "-q"])
    assert quiet.exit_code == 0 and "skipped" not in quiet.output


def test_recursive_mirrors_the_tree_under_out_dir_and_never_reads_its_own_outputs(tmp_path):
    photos = tmp_path / "photos"
    for rel in ("top.png", "2024/may/one.png", "2024/june/two.png", ".hidden/no.png"):
        _picture(photos / rel)
    out = photos / "blurred"  # inside the tree it walks
    args = ["filter", str(photos), "-k", "box3", "--recursive", "--out-dir", str(out)]
    for _ in range(2):  # the second run must not take the first run's outputs as inputs
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 0, result.output
    made = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert made == ["2024/june/two-box3.png", "2024/may/one-box3.png", "top-box3.png"]
    flat = CliRunner().invoke(cli, ["filter", str(photos), "-k", "box3", "--out-dir", str(tmp_path / "flat")])
    assert flat.exit_code == 0 and [p.name for p in (tmp_path / "flat").iterdir()] == ["top-box3.png"]


def test_json_lines_come_in_input_order_with_several_jobs(tmp_path):
    photos = tmp_path / "photos"
    # the first files are the largest, so with two workers the small ones finish first
    for i, size in enumerate([400, 300, 8, 8, 8, 8, 8, 8]):
        _picture(photos / f"p{i}.png", size)
    (photos / "p4.png").write_bytes(b"broken")  # a failure keeps its place too
    command = [sys.executable, "-m", "cnnconv", "filter", str(photos), "-k", "gaussian:sigma=3",
               "--out-dir", str(tmp_path / "out"), "--jobs", "2", "--json"]
    run = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert run.returncode == 1, run.stderr
    records = [json.loads(line) for line in run.stdout.splitlines()]
    assert [r["input"] for r in records] == [str(photos / f"p{i}.png") for i in range(8)]
    assert [r["ok"] for r in records] == [True] * 4 + [False] + [True] * 3
