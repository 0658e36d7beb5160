"""``cnnconv predict`` and ``cnnconv evaluate`` on a model trained in the test."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from cnnconv.cli import cli
from cnnconv.io.plots import GAP
from test_cli_train import CLASSES, FAST, make_shapes
from model_damage import damage_future, damage_not_npz, damage_object_array, damage_truncate


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    root = tmp_path_factory.mktemp("predict")
    data = make_shapes(root / "shapes", seed=1)
    result = run("train", data, "--epochs", 15, *FAST, "-o", root / "m.npz")
    assert result.exit_code == 0, result.output
    return root / "m.npz", data


def test_predict_prints_the_top_classes_as_a_table(model):
    path, data = model
    images = [data / name / "000.png" for name in CLASSES]
    result = run("predict", path, *images)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert "#1" in lines[0] and "#3" in lines[0]
    for name, image in zip(CLASSES, images):
        row = next(line for line in lines if str(image) in line)
        assert row.split()[1] == name and row.count("%") == 3


def test_predict_json_gives_one_line_per_image_with_probabilities(model):
    path, data = model
    images = [data / name / f"{i:03d}.png" for name in CLASSES for i in range(10)]
    result = run("predict", path, *images, "--json", "--top-k", 2)
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["image"] for r in records] == [str(p) for p in images]
    assert all(len(r["top"]) == 2 and r["top"][0]["probability"] >= r["top"][1]["probability"] for r in records)
    assert all(0 <= r["probability"] <= 1 and r["class"] == r["top"][0]["class"] for r in records)
    correct = sum(r["class"] == p.parent.name for r, p in zip(records, images))
    assert correct >= 27
    # the network computes in float32: each probability is written as float32's shortest text
    # (0.64648724), not as the float64 it widens to (0.6464872360229492)
    probabilities = [t["probability"] for r in records for t in r["top"]]
    assert all(str(np.float32(v)) == repr(v) for v in probabilities if v not in (0.0, 1.0)), probabilities[:4]


def test_top_k_larger_than_the_classes_shows_them_all(model):
    path, data = model
    result = run("predict", path, data / "circle" / "001.png", "--json", "--top-k", 10)
    record = json.loads(result.stdout)
    assert sorted(t["class"] for t in record["top"]) == sorted(CLASSES)
    assert abs(sum(t["probability"] for t in record["top"]) - 1) < 1e-5


def test_images_are_prepared_like_the_training_images(model, tmp_path):
    """A colour image twice the size is converted to gray and resized: same class, a note."""
    path, data = model
    with Image.open(data / "square" / "003.png") as img:
        big = img.convert("RGB").resize((32, 32), Image.Resampling.NEAREST)
    big.save(tmp_path / "big.png")
    result = run("predict", path, tmp_path / "big.png", "--json")
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["class"] == "square" and record["notes"] == ["resized from 32x32 to the model's 16x16"]
    assert result.stderr == ""
    result = run("predict", path, tmp_path / "big.png")
    assert result.stderr == f"cnnconv: note: {tmp_path / 'big.png'}: resized from 32x32 to the model's 16x16\n"


def test_a_note_shows_the_file_name_as_typed(model, tmp_path):
    """Rich would turn ``:fire:`` into an emoji and drop ``[bold]``; the note names the file literally."""
    path, data = model
    odd = tmp_path / "a:fire:[bold]b.png"
    with Image.open(data / "square" / "003.png") as img:
        img.resize((32, 32), Image.Resampling.NEAREST).save(odd)
    result = run("predict", path, odd)
    assert result.exit_code == 0, result.output
    assert result.stderr == f"cnnconv: note: {odd}: resized from 32x32 to the model's 16x16\n"


def test_a_bad_image_is_reported_and_the_others_still_predicted(model, tmp_path):
    path, data = model
    (tmp_path / "text.png").write_text("not an image")
    result = run("predict", path, data / "circle" / "000.png", tmp_path / "text.png", tmp_path / "missing.png")
    assert result.exit_code == 1
    assert str(data / "circle" / "000.png") in result.stdout
    errors = result.stderr.strip().splitlines()
    assert len(errors) == 2 and all(e.startswith("cnnconv: error: ") for e in errors)
    assert "text.png" in errors[0] and "missing.png" in errors[1]
    result = run("predict", path, tmp_path / "text.png", "--json")
    assert result.exit_code == 1 and "error" in json.loads(result.stdout)


def test_feature_maps_are_written_for_every_convolution(model, tmp_path):
    path, data = model
    result = run("predict", path, data / "triangle" / "002.png", "--feature-maps", tmp_path / "maps")
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in (tmp_path / "maps").iterdir())
    # numbered as the shape table numbers the layers (conv5x16 is its row 4)
    assert names == ["002-layer01-conv5x8_p2.png", "002-layer04-conv5x16.png"]
    with Image.open(tmp_path / "maps" / names[0]) as img:
        # 8 maps of 16x16 enlarged 3 times in a 3x3 grid with GAP-pixel gutters, under a 22-pixel title
        assert img.format == "PNG" and img.height == 3 * 48 + 4 * GAP + 22 and img.width >= 3 * 48 + 4 * GAP
        title = np.asarray(img.convert("L"))[:22]
        assert (title < 100).sum() > 50  # the title's text is drawn


@pytest.mark.parametrize("damage", [damage_truncate, damage_not_npz, damage_object_array, damage_future],
                         ids=["truncated", "not-npz", "object-array", "future-version"])
@pytest.mark.parametrize("command", ["predict", "evaluate"])
def test_a_damaged_model_gives_one_line_and_exit_1(model, tmp_path, damage, command):
    path, data = model
    broken = tmp_path / "broken.npz"
    broken.write_bytes(path.read_bytes())
    damage(broken)
    target = data / "circle" / "000.png" if command == "predict" else data
    result = run(command, broken, target)
    assert result.exit_code == 1
    assert result.stderr.startswith("cnnconv: error: ") and len(result.stderr.strip().splitlines()) == 1
    assert "broken.npz" in result.stderr and "Traceback" not in result.output
    assert not (tmp_path / "pwned").exists()


def test_evaluate_reports_accuracy_precision_recall_and_the_confusion_matrix(model):
    path, data = model
    result = run("evaluate", path, data)
    assert result.exit_code == 0, result.output
    out = result.stdout
    first = out.splitlines()[0]
    assert first.startswith("accuracy ") and "/90 images in" in first
    assert float(first.split()[1].rstrip("%")) >= 90.0
    assert "precision" in out and "recall" in out and "confusion matrix" in out
    for name in CLASSES:
        assert sum(line.split()[0] == name for line in out.splitlines() if line.strip()) == 2


def test_evaluate_json_is_consistent(model):
    path, data = model
    report = json.loads(run("evaluate", path, data, "--json").stdout)
    cm = np.array(report["confusion_matrix"])
    assert cm.shape == (3, 3) and cm.sum() == report["images"] == 90
    assert report["accuracy"] == pytest.approx(np.trace(cm) / cm.sum())
    assert report["accuracy"] >= 0.9
    for k, entry in enumerate(report["classes"]):
        assert entry["class"] == CLASSES[k] and entry["support"] == cm[k].sum() == 30
        assert entry["recall"] == pytest.approx(cm[k, k] / cm[k].sum())


def test_evaluate_uses_the_test_folder_and_skips_corrupt_files(model, tmp_path):
    path, _ = model
    make_shapes(tmp_path / "train", per_class=2)
    make_shapes(tmp_path / "test", per_class=4, seed=5)
    (tmp_path / "test" / "circle" / "bad.png").write_bytes(b"")
    report = json.loads(run("evaluate", path, tmp_path, "--json").stdout)
    assert report["images"] == 12 and report["data"].endswith("test")
    assert [s["file"].endswith("bad.png") for s in report["skipped"]] == [True]


def test_evaluate_refuses_a_class_the_model_does_not_know(model, tmp_path):
    path, _ = model
    make_shapes(tmp_path / "data", per_class=1)
    (tmp_path / "data" / "circle").rename(tmp_path / "data" / "hexagon")
    result = run("evaluate", path, tmp_path / "data")
    assert result.exit_code == 1 and "'hexagon'" in result.stderr and "not a class of the model" in result.stderr


def test_help_pages_have_examples():
    for command in ("predict", "evaluate"):
        result = run(command, "--help")
        assert result.exit_code == 0 and "Examples:" in result.output


def test_feature_maps_of_images_with_the_same_name_do_not_overwrite_each_other(model, tmp_path):
    path, data = model
    result = run("predict", path, data / "circle" / "004.png", data / "square" / "004.png",
                 "--feature-maps", tmp_path / "maps")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "maps").iterdir()) == [
        "001-004-layer01-conv5x8_p2.png", "001-004-layer04-conv5x16.png",
        "002-004-layer01-conv5x8_p2.png", "002-004-layer04-conv5x16.png"]


def test_json_lines_keep_the_order_of_the_inputs(model, tmp_path):
    path, data = model
    (tmp_path / "bad.png").write_bytes(b"")
    images = [tmp_path / "bad.png", data / "circle" / "000.png", tmp_path / "bad.png"]
    result = run("predict", path, *images, "--json")
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["image"] for r in records] == [str(p) for p in images]
    assert ["error" in r for r in records] == [True, False, True] and result.exit_code == 1


def test_names_with_brackets_are_shown_verbatim(model, tmp_path):
    path, data = model
    odd = tmp_path / "[bold]odd[red].png"
    odd.write_bytes((data / "circle" / "000.png").read_bytes())
    result = run("predict", path, odd)
    assert result.exit_code == 0 and "[bold]odd[red].png" in result.stdout


def test_feature_map_files_are_reported_as_notes_and_in_json(model, tmp_path):
    path, data = model
    image = data / "triangle" / "002.png"
    result = run("predict", path, image, "--feature-maps", tmp_path / "maps")
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == [
        f"cnnconv: note: {image}: wrote {tmp_path / 'maps' / '002-layer01-conv5x8_p2.png'} (8 feature maps of layer 1, conv5x8:p2)",
        f"cnnconv: note: {image}: wrote {tmp_path / 'maps' / '002-layer04-conv5x16.png'} (16 feature maps of layer 4, conv5x16)",
    ]
    result = run("predict", path, image, "--feature-maps", tmp_path / "maps2", "--json")
    assert result.exit_code == 0 and result.stderr == ""
    (record,) = [json.loads(line) for line in result.stdout.splitlines()]
    assert record["feature_maps"] == [str(tmp_path / "maps2" / n) for n in ("002-layer01-conv5x8_p2.png", "002-layer04-conv5x16.png")]
