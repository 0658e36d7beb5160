"""The README's "See it happen" commands give the lecture notes' numbers, and their pictures are committed.

The golden values are those of 000_500bed307a14206a.txt (the spaceship), 004_60c40e770a0e0877.txt
(the 5x5 input with a 3x3 filter, valid/same/full) and 003_def129c27ac6a2b8.txt (the vertical edge
detector, the 7x7 stride-2 example, max pooling, the 2x2 transposed convolutions).
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from cnnconv.cli import cli
from cnnconv.conv import correlate

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("make_pictures", ROOT / "docs" / "animate" / "make.py")
make = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make)

VALID = [[12, 12, 17], [10, 17, 19], [9, 6, 14]]
A5 = [[3, 3, 2, 1, 0], [0, 0, 1, 3, 1], [3, 1, 2, 2, 3], [2, 0, 0, 2, 2], [2, 0, 0, 0, 1]]
W3 = [[0, 1, 2], [2, 2, 0], [0, 1, 2]]


def spaceship(out):
    # the formula's numbers; the slide's 2.16, 2.28, 2.42 do not follow from its own weights
    assert [round(v, 3) for v in out] == [1.811, 1.967, 2.112, 2.269, 2.413, 2.569]
    assert not {2.16, 2.28, 2.42} & {round(v, 2) for v in out}


def same(out):
    assert np.array_equal(out, correlate(A5, W3, mode="same")) and out[1:4, 1:4].tolist() == VALID


def full(out):
    assert np.array_equal(out, correlate(A5, W3, mode="full")) and out.shape == (7, 7)
    assert out[2:5, 2:5].tolist() == VALID


GOLDEN = {
    "spaceship.png": spaceship,
    "valid.png": VALID,
    "same.png": same,
    "full.png": full,
    "vertical-edge.png": [[-5, -4, 0, 8], [-10, -2, 2, 3], [0, -2, -4, -7], [-3, -2, -3, -16]],
    "stride-2.gif": [[91, 100, 88], [69, 91, 117], [44, 72, 74]],
    "maxpool.png": [[7, 8, 8], [7, 8, 9], [3, 9, 9]],
    "tconv-s1.png": [[0, 0, 1], [0, 4, 6], [4, 12, 9]],
    "tconv-s2.png": [[0, 0, 0, 1], [0, 0, 2, 3], [0, 2, 0, 3], [4, 6, 6, 9]],
}
COMMANDS = make.readme_commands()


def test_every_example_of_the_notes_is_in_the_readme():
    assert sorted(Path(make.output_of(args)).name for args in COMMANDS) == sorted(GOLDEN)


@pytest.mark.parametrize("args", COMMANDS, ids=[Path(make.output_of(a)).name for a in COMMANDS])
def test_readme_command_gives_the_notes_numbers(args):
    target = make.output_of(args)
    i = args.index(target)
    json_args = args[: i - 1] + args[i + 1 :] + ["--json"]  # the same command, its frames as data
    result = CliRunner().invoke(cli, ["animate", *json_args])
    assert result.exit_code == 0, result.output
    trace = json.loads(result.stdout)["trace"]
    out = np.array(trace["output"])
    golden = GOLDEN[Path(target).name]
    if callable(golden):
        golden(out)
    else:
        assert out.tolist() == golden
    values = [f["value"] for f in trace["frames"] if "value" in f and f["kind"] != "crop"]
    if trace["operation"] != "transpose":  # one frame per output cell, each the output's value
        assert values == out.ravel().tolist()
    picture = ROOT / target
    assert picture.is_file(), f"{target} is missing: run python docs/animate/make.py"
    with Image.open(picture) as img:
        assert img.format in ("PNG", "GIF")
        if img.format == "GIF":
            assert img.n_frames == len(trace["frames"])


def test_the_pictures_stay_small():
    total = sum(p.stat().st_size for p in (ROOT / "docs" / "animate").iterdir() if p.suffix in (".png", ".gif"))
    assert 0 < total < 400_000
