"""``cnnconv export``: a trained zoo network (lenet5) exported and run in onnxruntime gives
``cnnconv predict``'s classes and probabilities on the raw images; usage errors and the extra."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import onnxruntime as ort  # the test extra has onnx and onnxruntime
import pytest
from click.testing import CliRunner
from PIL import Image

from cnnconv.cli import cli
from tiny_images import CLASSES, make_stripes


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """LeNet-5 from the zoo, trained for one epoch on stripes (32x32 gray, three classes)."""
    root = tmp_path_factory.mktemp("export")
    data = make_stripes(root / "stripes", per_class=8)
    model = root / "lenet.npz"
    result = run("train", data, "--layers", "lenet5", "--epochs", "1", "--batch-size", "8", "-o", model, "--json")
    assert result.exit_code == 0, result.output
    return data, model


def _predict(model, images):
    result = run("predict", model, *images, "--top-k", len(CLASSES), "--json")
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.output.splitlines()]


def test_exported_lenet5_gives_the_classes_and_probabilities_of_predict(trained, tmp_path):
    data, model = trained
    out = tmp_path / "lenet.onnx"
    result = run("export", model, "-o", out)
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"wrote {out}: input 'image' uint8 Nx32x32x1 (NHWC, samples 0..255")
    images = sorted(data.rglob("*.png"))[::3]
    raw = np.stack([np.asarray(Image.open(p).convert("L"))[..., None] for p in images])
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    probs = session.run(["probabilities"], {"image": raw})[0]
    names = json.loads(session.get_modelmeta().custom_metadata_map["class_names"])
    assert names == sorted(CLASSES)
    for record, p in zip(_predict(model, images), probs):
        assert record["class"] == names[int(p.argmax())]
        for entry in record["top"]:
            assert abs(entry["probability"] - float(p[names.index(entry["class"])])) <= 1e-5


def test_float_input_json_and_the_default_output_name(trained, tmp_path):
    _, model = trained
    copy = tmp_path / "m.npz"
    copy.write_bytes(model.read_bytes())
    result = run("export", copy, "--input-type", "float", "--json")
    assert result.exit_code == 0, result.output
    record = json.loads(result.output)
    assert record["output"] == str(tmp_path / "m.onnx") and (tmp_path / "m.onnx").is_file()
    assert record["input_type"] == "float" and record["input_shape"] == ["N", 32, 32, 1]
    assert record["layout"] == "NHWC" and record["outputs"] == ["logits", "probabilities"]


def test_check_compares_onnxruntime_with_cnnconv(trained, tmp_path):
    _, model = trained
    result = run("export", model, "-o", tmp_path / "m.onnx", "--check")
    assert result.exit_code == 0, result.output
    assert "check: 8 random images, top-1 equal, largest probability difference" in result.output


def test_the_model_file_is_never_overwritten(trained):
    _, model = trained
    before = model.read_bytes()
    result = run("export", model, "-o", model)
    assert result.exit_code == 1 and "is this input file" in result.output
    assert model.read_bytes() == before


def test_a_file_that_is_not_a_model_is_one_line(tmp_path):
    bad = tmp_path / "x.npz"
    bad.write_bytes(b"not a zip")
    result = run("export", bad, "-o", tmp_path / "x.onnx")
    assert result.exit_code == 1
    assert result.output.startswith("cnnconv: error: ") and "is not a valid cnnconv model" in result.output
    assert not (tmp_path / "x.onnx").exists()


def test_without_onnx_the_message_names_the_extra_and_exits_2(trained, tmp_path):
    _, model = trained
    code = (
        "import sys\n"
        "sys.modules['onnx'] = None\n"  # import onnx now raises ImportError, as when it is not installed
        "from cnnconv.cli import main\n"
        f"main(['export', {str(model)!r}, '-o', {str(tmp_path / 'm.onnx')!r}])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 2, out.stderr
    assert out.stderr.strip() == ("cnnconv: error: ONNX export needs the optional package onnx; install it with "
                                  "pip install 'cnnconv[onnx]'")
    assert not (tmp_path / "m.onnx").exists()


def test_check_without_onnxruntime_exits_2(trained, tmp_path):
    _, model = trained
    code = (
        "import sys\n"
        "sys.modules['onnxruntime'] = None\n"
        "from cnnconv.cli import main\n"
        f"main(['export', {str(model)!r}, '-o', {str(tmp_path / 'm.onnx')!r}, '--check'])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 2 and "--check needs onnxruntime" in out.stderr
    assert not (tmp_path / "m.onnx").exists()


def test_resnet20_trained_through_the_cli_exports_with_the_classes_and_probabilities_of_predict(tmp_path):
    # the zoo's resnet20 (batch norm with running statistics, residual adds, projection shortcuts)
    # on 8x8 gray stripes: one epoch of a few images trains in seconds and leaves 2x2 maps at gap
    data = make_stripes(tmp_path / "stripes", per_class=4, size=8)
    model, out = tmp_path / "r20.npz", tmp_path / "r20.onnx"
    result = run("train", data, "-l", "resnet20", "--epochs", "1", "--batch-size", "4", "-o", model, "--json")
    assert result.exit_code == 0, result.output
    result = run("export", model, "-o", out)
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"wrote {out}: input 'image' uint8 Nx8x8x1 (NHWC")
    images = sorted(data.rglob("*.png"))
    raw = np.stack([np.asarray(Image.open(p).convert("L"))[..., None] for p in images])
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    probs = session.run(["probabilities"], {"image": raw})[0]
    names = json.loads(session.get_modelmeta().custom_metadata_map["class_names"])
    records = _predict(model, images)
    assert len(records) == len(images) == len(probs)
    for record, p in zip(records, probs):
        assert record["class"] == names[int(p.argmax())]
        assert len(record["top"]) == len(CLASSES)
        for entry in record["top"]:
            assert abs(entry["probability"] - float(p[names.index(entry["class"])])) <= 1e-5
