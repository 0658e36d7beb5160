"""Closed standard streams and a reader that goes away, in real processes.

Each test runs ``python -m cnnconv`` with a stream really closed (the child's descriptor
is closed before exec) or its stdout really a pipe whose reader closes it after one line.
The rule (cnnconv.cli._streams): a closed stream is one error line, exit 1; a reader gone
stops a command whose product is the text with exit 0, and a command whose product is
files goes on and writes them.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ENV = dict(os.environ, PYTHONIOENCODING="utf-8", COLUMNS="120")


def _png(path: Path, size=(8, 8), seed=0) -> None:
    values = np.random.default_rng(seed).integers(0, 256, (size[1], size[0]), dtype=np.uint8)
    Image.fromarray(values).save(path)


def _closing(fd: int):
    return lambda: os.close(fd)


def run_closed(tmp_path, fd: int, *args):
    return subprocess.run([sys.executable, "-m", "cnnconv", *args], cwd=tmp_path, env=ENV, capture_output=fd != 1,
                          stderr=subprocess.PIPE if fd == 1 else None, text=True, timeout=120,
                          preexec_fn=_closing(fd))


@pytest.mark.parametrize(("fd", "args", "message"), [
    (0, ["filter", "-", "-k", "box3", "-o", "x.png"], "cnnconv: error: <stdin>: standard input is closed"),
    (1, ["filter", "in.png", "-k", "box3", "-o", "-"], "cnnconv: error: standard output is closed"),
    (1, ["kernels"], "cnnconv: error: standard output is closed"),
    (1, ["shape", "-i", "8x8", "-l", "relu"], "cnnconv: error: standard output is closed"),
])
def test_a_closed_stream_is_one_error_line(tmp_path, fd, args, message):
    _png(tmp_path / "in.png")
    proc = run_closed(tmp_path, fd, *args)
    lines = proc.stderr.splitlines()
    assert proc.returncode == 1, proc.stderr
    assert len(lines) == 1 and lines[0].startswith(message), proc.stderr
    assert not (tmp_path / "x.png").exists()


def test_a_closed_stdout_never_becomes_an_output_file(tmp_path):
    """With fd 1 closed, the first file opened would get it; the output must hold only the image."""
    _png(tmp_path / "in.png")
    proc = run_closed(tmp_path, 1, "filter", "in.png", "-k", "box3", "-o", "out.png", "-v")
    assert proc.returncode == 0, proc.stderr
    Image.open(tmp_path / "out.png").verify()


def test_closed_stderr_does_not_change_the_exit_code(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "cnnconv", "filter", "missing.png", "-k", "box3", "-o", "x.png"],
                          cwd=tmp_path, env=ENV, stdout=subprocess.PIPE, timeout=120, preexec_fn=_closing(2))
    assert proc.returncode == 1


def first_line_then_close(tmp_path, *args):
    """Run cnnconv with stdout a pipe whose reader takes one line and closes it (``| head -1``)."""
    proc = subprocess.Popen([sys.executable, "-m", "cnnconv", *args], cwd=tmp_path, env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        first = proc.stdout.readline()
        proc.stdout.close()
        err = proc.stderr.read().decode()
        code = proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    return first, code, err


@pytest.mark.parametrize("args", [
    ["kernels"],
    ["shape", "-i", "32x32x3", "-l", "(relu)*3000"],
    ["kernels", "--json"],
])
def test_text_products_stop_quietly_when_the_reader_goes(tmp_path, args):
    first, code, err = first_line_then_close(tmp_path, *args)
    assert first and code == 0 and err == "", err


def test_a_batch_goes_on_to_the_end_when_the_reader_goes(tmp_path):
    folder = tmp_path / "dir"
    folder.mkdir()
    for i in range(40):
        _png(folder / f"{i:02d}.png", size=(64, 64), seed=i)
    first, code, err = first_line_then_close(tmp_path, "filter", "dir", "--json", "-k", "box3", "--out-dir", "out")
    assert first.startswith(b'{"input"') and code == 0, err
    assert len(list((tmp_path / "out").iterdir())) == 40
    assert err == ""


def _train_data(tmp_path: Path) -> None:
    for c in "ab":
        (tmp_path / "data" / c).mkdir(parents=True)
        for i in range(8):
            _png(tmp_path / "data" / c / f"{i}.png", seed=i + (c == "b") * 100)


def test_training_saves_its_model_when_the_reader_goes(tmp_path):
    _train_data(tmp_path)
    first, code, err = first_line_then_close(
        tmp_path, "train", "data", "--epochs", "3", "--batch-size", "4", "--layers", "conv3x4,relu,pool2", "-o", "m.npz")
    assert first and code == 0, err
    from cnnconv.io.model import load_model

    network, meta = load_model(tmp_path / "m.npz")
    assert len(meta["history"]) == 3


def test_predict_stops_quietly_when_the_reader_goes(tmp_path):
    _train_data(tmp_path)
    subprocess.run([sys.executable, "-m", "cnnconv", "train", "data", "--epochs", "1", "--batch-size", "4",
                    "--layers", "conv3x4,relu,pool2", "-o", "m.npz"], cwd=tmp_path, env=ENV, check=True,
                   capture_output=True, timeout=120)
    images = [str(p.relative_to(tmp_path)) for p in sorted((tmp_path / "data").rglob("*.png"))] * 200
    first, code, err = first_line_then_close(tmp_path, "predict", "m.npz", *images, "--json")
    assert first.startswith(b'{"image"') and code == 0 and err == "", err
