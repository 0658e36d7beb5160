"""Permission denied, on read and on write, in real processes (cnnconv.io.oserrors).

Root reads and writes whatever the mode bits say, so as root each command runs under
``setpriv`` with CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH dropped: it stays root (and can
reach ``tmp_path``) but a file of mode 000 is as closed to it as to anyone. As another
user the command runs as it is. Every test checks the exit code and the exact line, and
that the rest of a batch is done.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ENV = dict(os.environ, PYTHONIOENCODING="utf-8", COLUMNS="200")
DENIED = "permission denied; check the permissions (ls -l) or choose another path"
TRAIN = ["--epochs", "1", "--batch-size", "4", "--layers", "conv3x4,relu,pool2"]
_DROP = ["setpriv", "--inh-caps=-dac_override,-dac_read_search", "--bounding-set=-dac_override,-dac_read_search"]


def _png(path: Path, value: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    values = (np.arange(64).reshape(8, 8) * 3 + value) % 256
    Image.fromarray(values.astype(np.uint8)).save(path)
    return path


def _dataset(root: Path) -> Path:
    for k, name in enumerate("ab"):
        for i in range(4):
            _png(root / name / f"{i}.png", 30 + 170 * k + 5 * i)
    return root


@pytest.fixture(scope="module")
def bound(tmp_path_factory) -> list[str]:
    """The prefix that runs a command bound by the mode bits; skips if there is none here."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: cannot drop CAP_DAC_OVERRIDE to see permission denied")
    locked = tmp_path_factory.mktemp("probe") / "locked"
    locked.write_text("x")
    locked.chmod(0)
    probe = subprocess.run([*_DROP, sys.executable, "-c", f"open({str(locked)!r})"], capture_output=True, text=True)
    if "PermissionError" not in probe.stderr:
        pytest.skip(f"setpriv cannot drop CAP_DAC_OVERRIDE here: {probe.stderr.strip()[-200:]}")
    return _DROP


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("model")
    _dataset(folder / "data")
    proc = subprocess.run([sys.executable, "-m", "cnnconv", "train", "data", "-o", "m.npz", *TRAIN], cwd=folder,
                          env=ENV, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return folder / "m.npz"


def cnnconv(bound: list[str], tmp_path: Path, *args: str):
    proc = subprocess.run([*bound, sys.executable, "-m", "cnnconv", *args], cwd=tmp_path, env=ENV,
                          capture_output=True, text=True, timeout=120)
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr, proc.stderr
    return proc.returncode, proc.stderr.splitlines()


def errors(lines: list[str]) -> list[str]:
    return [line.removeprefix("cnnconv: error: ") for line in lines if line.startswith("cnnconv: error: ")]


def locked(path: Path) -> Path:
    path.chmod(0)
    return path


def test_an_unreadable_input_fails_alone_in_a_batch(bound, tmp_path):
    _png(tmp_path / "ok.png")
    locked(_png(tmp_path / "shut.png"))
    code, lines = cnnconv(bound, tmp_path, "filter", "shut.png", "ok.png", "-k", "box3", "--out-dir", "out")
    assert code == 1, lines
    assert errors(lines) == [f"shut.png: cannot read: {DENIED}"]
    assert lines[-1] == "cnnconv: 1 of 2 inputs failed"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["ok-box3.png"]


def test_an_unreadable_input_folder_fails_alone(bound, tmp_path):
    _png(tmp_path / "ok.png")
    _png(tmp_path / "shut" / "x.png")
    locked(tmp_path / "shut")
    code, lines = cnnconv(bound, tmp_path, "filter", "shut", "ok.png", "-k", "box3", "--out-dir", "out")
    assert code == 1, lines
    assert errors(lines) == [f"shut: {DENIED}"]
    assert (tmp_path / "out" / "ok-box3.png").exists()


def test_an_unreadable_sub_folder_is_reported_not_skipped(bound, tmp_path):
    _png(tmp_path / "in" / "a" / "x.png")
    _png(tmp_path / "in" / "b" / "y.png")
    locked(tmp_path / "in" / "b")
    code, lines = cnnconv(bound, tmp_path, "filter", "in", "-r", "-k", "box3", "--out-dir", "out")
    assert code == 1, lines
    assert errors(lines) == [f"in/b: {DENIED}"]
    assert (tmp_path / "out" / "a" / "x-box3.png").exists()


def test_an_unwritable_output_folder(bound, tmp_path):
    _png(tmp_path / "in.png")
    (tmp_path / "ro").mkdir()
    (tmp_path / "ro").chmod(0o555)
    code, lines = cnnconv(bound, tmp_path, "filter", "in.png", "-k", "box3", "-o", "ro/x.png")
    assert code == 1, lines
    assert errors(lines) == [f"in.png: ro/x.png: cannot write here: {DENIED}"]
    assert list((tmp_path / "ro").iterdir()) == []


def test_an_out_dir_that_cannot_be_created(bound, tmp_path):
    _png(tmp_path / "in.png")
    (tmp_path / "ro").mkdir()
    (tmp_path / "ro").chmod(0o555)
    code, lines = cnnconv(bound, tmp_path, "filter", "in.png", "-k", "box3", "--out-dir", "ro/sub")
    assert code == 2, lines
    assert errors(lines) == [f"--out-dir ro/sub: cannot create it: {DENIED} (see 'cnnconv filter --help')"]


@pytest.mark.parametrize("command", [
    ["predict", "m.npz", "in.png"],
    ["evaluate", "m.npz", "data"],
    ["export", "m.npz", "-o", "m.onnx"],
    ["train", "data", "--resume", "m.npz", "-o", "m2.npz", "--epochs", "1"],
])
def test_an_unreadable_model_file(bound, tmp_path, model, command):
    _png(tmp_path / "in.png")
    _dataset(tmp_path / "data")
    shutil.copy(model, tmp_path / "m.npz")
    locked(tmp_path / "m.npz")
    code, lines = cnnconv(bound, tmp_path, *command)
    assert code == 1, lines
    assert errors(lines) == [f"model file 'm.npz': {DENIED}"]
    assert not (tmp_path / "m2.npz").exists() and not (tmp_path / "m.onnx").exists()


def test_an_unreadable_image_fails_alone_in_predict(bound, tmp_path, model):
    _png(tmp_path / "ok.png")
    locked(_png(tmp_path / "shut.png"))
    code, lines = cnnconv(bound, tmp_path, "predict", str(model), "shut.png", "ok.png")
    assert code == 1, lines
    assert errors(lines) == [f"shut.png: cannot read: {DENIED}"]


@pytest.mark.parametrize("command", [["train", "data", "-o", "m.npz", *TRAIN], ["evaluate", "MODEL", "data"]])
def test_an_unreadable_data_folder(bound, tmp_path, model, command):
    locked(_dataset(tmp_path / "data"))
    code, lines = cnnconv(bound, tmp_path, *[str(model) if a == "MODEL" else a for a in command])
    assert code == 1, lines
    assert errors(lines) == [f"data folder 'data' cannot be read: {DENIED}"]
    assert not (tmp_path / "m.npz").exists()


@pytest.mark.parametrize("command", [["train", "data", "-o", "m.npz", *TRAIN], ["evaluate", "MODEL", "data"]])
def test_an_unreadable_class_folder_is_not_one_without_images(bound, tmp_path, model, command):
    _dataset(tmp_path / "data")
    locked(tmp_path / "data" / "a")
    code, lines = cnnconv(bound, tmp_path, *[str(model) if a == "MODEL" else a for a in command])
    assert code == 1, lines
    assert errors(lines) == [f"class folder 'data/a' cannot be read: {DENIED}"]
    assert not (tmp_path / "m.npz").exists()


def test_an_unreadable_image_is_skipped_in_training(bound, tmp_path):
    _dataset(tmp_path / "data")
    _png(tmp_path / "data" / "a" / "4.png", 50)
    locked(tmp_path / "data" / "a" / "4.png")
    code, lines = cnnconv(bound, tmp_path, "train", "data", "-o", "m.npz", *TRAIN)
    assert code == 0, lines
    assert f"cnnconv: warning: skipped data/a/4.png: cannot read: {DENIED}" in lines
    assert (tmp_path / "m.npz").exists()


def test_unwritable_plots_are_found_before_training(bound, tmp_path):
    _dataset(tmp_path / "data")
    (tmp_path / "ro").mkdir()
    (tmp_path / "ro").chmod(0o555)
    code, lines = cnnconv(bound, tmp_path, "train", "data", "-o", "m.npz", "--plots", "ro/plots", *TRAIN)
    assert code == 1, lines
    assert errors(lines) == ["--plots ro/plots: cannot create a folder in ro (permission denied); "
                             "check the permissions (ls -l) or choose another --plots folder"]
    assert not (tmp_path / "m.npz").exists()


@pytest.mark.parametrize(("command", "param"), [(["filter", "in.png", "-k", "k.txt", "-o", "out.png"], "--kernel"),
                                                (["kernels", "k.txt"], "KERNEL")])
def test_an_unreadable_kernel_file(bound, tmp_path, command, param):
    _png(tmp_path / "in.png")
    (tmp_path / "k.txt").write_text("1 2 1\n")
    locked(tmp_path / "k.txt")
    code, lines = cnnconv(bound, tmp_path, *command)
    assert code == 2, lines
    assert errors(lines) == [f"Invalid value for {param}: cannot read kernel file k.txt: {DENIED} "
                             f"(see 'cnnconv {command[0]} --help')"]
    assert not (tmp_path / "out.png").exists()
