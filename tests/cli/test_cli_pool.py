"""``cnnconv pool`` end to end: PyTorch's output sizes, exact max/min, rounded avg, alpha, batches."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from click.testing import CliRunner
from PIL import Image

from cnnconv.cli import cli

RNG = np.random.default_rng(5)


def run(*args, input=None):
    return CliRunner().invoke(cli, ["pool", *map(str, args)], input=input)


def save(path, array):
    Image.fromarray(array).save(path)
    return path


def reference_pool(x, k, s, op):
    """Obvious loop: windows k x k every s pixels, no padding, floor mode."""
    ho, wo = (x.shape[0] - k) // s + 1, (x.shape[1] - k) // s + 1
    f = {"max": np.max, "min": np.min, "avg": np.mean}[op]
    return np.array([[f(x[i * s:i * s + k, j * s:j * s + k], axis=(0, 1)) for j in range(wo)] for i in range(ho)])


@pytest.mark.parametrize("op", ["max", "min", "avg"])
@pytest.mark.parametrize("shape", [(9, 7), (9, 7, 3)])
def test_pool_matches_a_loop_reference(tmp_path, op, shape):
    x = RNG.integers(0, 256, shape).astype(np.uint8)
    src = save(tmp_path / "x.png", x)
    result = run(src, "--size", "3", "--stride", "2", "--op", op, "-o", tmp_path / "o.png")
    assert result.exit_code == 0, result.output
    expected = reference_pool(x.astype(float), 3, 2, op)
    out = np.asarray(Image.open(tmp_path / "o.png"))
    np.testing.assert_array_equal(out, np.rint(expected) if op == "avg" else expected)


def test_max_keeps_sixteen_bit_values_exactly(tmp_path):
    x = RNG.integers(0, 65536, (6, 6)).astype(np.uint16)
    src = tmp_path / "d.png"
    Image.frombytes("I;16", (6, 6), x.tobytes()).save(src)
    assert run(src, "--size", "2", "-o", tmp_path / "o.png").exit_code == 0
    out = Image.open(tmp_path / "o.png")
    assert out.mode == "I;16"
    np.testing.assert_array_equal(np.asarray(out), x.reshape(3, 2, 3, 2).max(axis=(1, 3)))


@pytest.mark.parametrize(
    "options, shape",
    [
        ([], (3, 3)),  # floor((7 - 2) / 2) + 1
        (["--ceil"], (4, 4)),  # ceil((7 - 2) / 2) + 1
        (["--stride", "1"], (6, 6)),
        (["--padding", "1"], (4, 4)),
        (["--size", "3,1", "--stride", "1"], (5, 7)),
    ],
)
def test_output_size_follows_pytorch(tmp_path, options, shape):
    src = save(tmp_path / "x.png", np.zeros((7, 7), np.uint8))
    args = ["--size", "2", *options] if "--size" not in options else options
    result = run(src, *args, "-o", tmp_path / "o.npy")
    assert result.exit_code == 0, result.output
    assert np.load(tmp_path / "o.npy").shape == shape


def test_padding_never_wins_a_max_and_count_pad_decides_the_average(tmp_path):
    src = save(tmp_path / "x.png", np.full((2, 2), 200, np.uint8))
    assert run(src, "--size", "2", "--padding", "1", "--op", "min", "-o", tmp_path / "m.npy").exit_code == 0
    assert (np.load(tmp_path / "m.npy") == 200).all()
    assert run(src, "--size", "2", "--padding", "1", "--op", "avg", "-o", tmp_path / "a.npy").exit_code == 0
    assert (np.load(tmp_path / "a.npy") == 200).all()
    assert run(src, "--size", "2", "--padding", "1", "--op", "avg", "--count-pad", "-o", tmp_path / "c.npy").exit_code == 0
    assert np.load(tmp_path / "c.npy")[0, 0] == 50


def test_average_weights_colour_by_alpha(tmp_path):
    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[0, 0] = (255, 0, 0, 255)
    rgba[0, 1] = (0, 255, 0, 0)  # invisible green
    rgba[1] = (0, 0, 0, 0)
    src = save(tmp_path / "a.png", rgba)
    assert run(src, "--size", "2", "--op", "avg", "-o", tmp_path / "o.png").exit_code == 0
    assert np.asarray(Image.open(tmp_path / "o.png")).tolist() == [[[255, 0, 0, 64]]]


def test_one_dimensional_numbers(tmp_path):
    (tmp_path / "s.csv").write_text("1,5,2,0,3\n")
    assert run(tmp_path / "s.csv", "--size", "2", "--ceil", "--op", "avg", "-o", tmp_path / "o.csv").exit_code == 0
    assert (tmp_path / "o.csv").read_text() == "3,1,3\n"


@pytest.mark.parametrize(
    "args, message",
    [
        (["--size", "0"], "--size"),
        (["--size", "2", "--padding", "1,1,1,1"], "pads both sides alike"),
        (["--size", "2", "--op", "mode"], "mode"),
        (["--size", "3", "--mode", "same", "--stride", "2"], "--mode same is stride 1"),
        (["--size", "3", "--boundary", "edge"], "add --mode same"),
        (["--size", "3", "--op", "max", "--count-pad"], "--count-pad is for --op avg"),
        (["--size", "2", "--jobs", "0"], "--jobs"),
        (["--size", "2", "--max-pixels", "-5"], "pixel count"),
    ],
)
def test_usage_errors_exit_2(tmp_path, args, message):
    src = save(tmp_path / "x.png", np.zeros((4, 4), np.uint8))
    result = run(src, *args, "-o", tmp_path / "o.png")
    assert result.exit_code == 2 and message in result.stderr, result.output


def test_padding_larger_than_half_the_window_is_a_usage_error(tmp_path):
    src = save(tmp_path / "x.png", np.zeros((4, 4), np.uint8))
    result = run(src, "--size", "2", "--padding", "2", "-o", tmp_path / "o.png")
    assert result.exit_code == 2 and "--padding" in result.stderr and "at most 1" in result.stderr


def test_batch_with_jobs_json_and_a_corrupt_file(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(3):
        save(folder / f"p{i}.png", RNG.integers(0, 256, (6, 6, 3)).astype(np.uint8))
    (folder / "bad.jpg").write_bytes(b"\xff\xd8\xff garbage")
    result = run(folder, "--size", "2", "--out-dir", tmp_path / "out", "--jobs", "2", "--json")
    assert result.exit_code == 1
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert sorted(r["ok"] for r in records) == [False, True, True, True]
    assert sorted(os.listdir(tmp_path / "out")) == ["p0-max2.png", "p1-max2.png", "p2-max2.png"]
    assert "bad.jpg" in result.stderr


def test_stdin_to_stdout_with_the_installed_command():
    buffer = io.BytesIO()
    Image.fromarray(np.arange(16, dtype=np.uint8).reshape(4, 4)).save(buffer, "PNG")
    done = subprocess.run([sys.executable, "-m", "cnnconv", "pool", "-", "--size", "2", "-o", "-"],
                          input=buffer.getvalue(), capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert np.asarray(Image.open(io.BytesIO(done.stdout))).tolist() == [[5, 7], [13, 15]]


def test_help_has_examples():
    result = CliRunner().invoke(cli, ["pool", "--help"])
    assert result.exit_code == 0 and "Examples:" in result.output and "--count-pad" in result.output


# --- the option parsers shared by filter and pool -------------------------------------------

def test_option_parsers_read_what_the_help_promises():
    from cnnconv.cli._options import BoundaryType, MaxPixelsType, PaddingType, PairType

    assert PairType().convert("2x3", None, None) == (2, 3)
    assert PaddingType().convert("1", None, None) == 1
    assert PaddingType().convert("1,2", None, None) == (1, 2)
    assert BoundaryType().convert("mirror", None, None) == ("mirror", 0.0)
    assert MaxPixelsType().convert("none", None, None) == 0
    assert MaxPixelsType().convert("2e8", None, None) == 200_000_000


@settings(max_examples=60)
@given(st.text(max_size=24))
def test_option_parsers_give_a_value_or_bad_parameter(text):
    import click

    from cnnconv.cli._options import BoundaryType, FiniteFloat, MaxPixelsType, PaddingType, PairType

    for kind in (PairType(), PaddingType(), BoundaryType(), FiniteFloat(), MaxPixelsType()):
        try:
            kind.convert(text, None, None)
        except click.BadParameter as exc:
            assert "\n" not in exc.format_message()
