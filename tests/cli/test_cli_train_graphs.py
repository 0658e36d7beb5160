"""``cnnconv train`` / ``predict`` / ``evaluate`` on graph networks (residual blocks, batch norm,
concatenations, the zoo's resnet20), and the specs train refuses before it builds anything."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from cnnconv.cli import cli
from cnnconv.io.model import load_model, read_meta
from test_cli_train import CLASSES, make_shapes

RESIDUAL = "conv3x8:p1:nobias,bn,relu,add(conv3x8:p1:nobias,bn,relu,conv3x8:p1:nobias,bn|),relu,pool2,cat(conv1x4|),gap"


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    return make_shapes(tmp_path_factory.mktemp("data") / "shapes", per_class=24)


@pytest.fixture(scope="module")
def residual(shapes, tmp_path_factory):
    model = tmp_path_factory.mktemp("graph") / "res.npz"
    result = run("train", shapes, "--layers", RESIDUAL, "--epochs", 12, "--batch-size", 16, "--lr", 0.01,
                 "-o", model, "--json")
    return result, model


def test_a_residual_network_with_batch_norm_learns_the_shapes(residual):
    result, model = residual
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["spec"] == RESIDUAL + ",fc3" and doc["classes"] == list(CLASSES)
    assert doc["history"][-1]["train_acc"] > doc["history"][0]["train_acc"]
    assert max(h["val_acc"] for h in doc["history"]) >= 0.75, doc["history"]
    meta = read_meta(model)[0]
    assert meta["format_version"] == 2 and len(meta["buffers"]) == 6  # three bn layers


def test_predict_and_evaluate_use_the_running_statistics(residual, shapes):
    _, model = residual
    images = sorted((shapes / "square").glob("*.png"))[:4]
    predicted = run("predict", model, *images, "--json")
    assert predicted.exit_code == 0, predicted.output
    records = [json.loads(line) for line in predicted.stdout.splitlines()]
    assert [r["image"] for r in records] == [str(p) for p in images]
    # one image at a time gives what the batch gives: inference never uses batch statistics
    alone = json.loads(run("predict", model, images[0], "--json").stdout)
    assert alone["top"][0]["probability"] == pytest.approx(records[0]["top"][0]["probability"], abs=1e-6)
    evaluated = run("evaluate", model, shapes, "--json")
    assert evaluated.exit_code == 0, evaluated.output
    doc = json.loads(evaluated.stdout)
    assert doc["images"] == 3 * 24 and doc["accuracy"] >= 0.7
    net, _ = load_model(model)
    assert any(m.buffers for m in net.modules)


def test_feature_maps_of_a_graph_model(residual, shapes, tmp_path):
    _, model = residual
    image = sorted((shapes / "circle").glob("*.png"))[0]
    result = run("predict", model, image, "--feature-maps", tmp_path / "maps", "--json")
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.stdout)["feature_maps"]) == 4  # the four convolutions


def test_resuming_a_graph_model_continues_it(residual, shapes, tmp_path):
    _, model = residual
    again = run("train", shapes, "--layers", RESIDUAL, "--resume", model, "--epochs", 1, "--batch-size", 16,
                "-o", tmp_path / "more.npz", "--json")
    assert again.exit_code == 0, again.output
    assert len(json.loads(again.stdout)["history"]) == 13


def test_resnet20_from_the_zoo_trains_on_a_folder(shapes, tmp_path):
    model = tmp_path / "r20.npz"
    result = run("train", shapes, "-l", "resnet20", "--epochs", 1, "--batch-size", 16, "-o", model, "--json")
    assert result.exit_code == 0, result.output
    net, meta = load_model(model)
    assert meta["spec"].endswith(",gap,fc3") and net.num_classes == 3
    # resnet20's 272,474 parameters (3 colour channels, fc10), on gray images (one 3x3x16 slice of
    # the first kernel: 288 fewer) with fc3 (64*3 + 3 = 195 instead of 650)
    assert net.num_parameters() == 272_474 - 288 - 650 + 195
    assert run("evaluate", model, shapes, "--json").exit_code == 0


@pytest.mark.parametrize("spec,message", [
    ("unet", "layer 43 upsamples and nothing after it pools or flattens: the network predicts a class per pixel"),
    ("conv3x8,pool2,up2:bilinear,conv1x3", "layer 3 upsamples and nothing after it pools or flattens"),
])
def test_a_per_pixel_network_is_refused_before_any_image_is_decoded(tmp_path, spec, message):
    data = tmp_path / "data"
    for name in ("a", "b"):
        (data / name).mkdir(parents=True)
        (data / name / "broken.png").write_bytes(b"not a png")  # decoding would warn: it never happens
    result = run("train", data, "--layers", spec, "-o", tmp_path / "m.npz")
    assert result.exit_code == 2, result.output
    assert f"cnnconv: error: --layers: layer spec:" in result.output and message in result.output
    assert "broken.png" not in result.output and "Traceback" not in result.output
    assert not (tmp_path / "m.npz").exists()


def test_branches_that_cannot_be_joined_are_a_usage_error(shapes, tmp_path):
    result = run("train", shapes, "--layers", "add(conv3x4|),gap", "-o", tmp_path / "m.npz")
    assert result.exit_code == 2, result.output
    assert "cannot add 16×16×1 (the input) and 14×14×4 (row 1)" in result.output
