"""Model files: save -> load gives the same network; every damaged file gets a clear error."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from cnnconv.errors import CnnconvError
from cnnconv.io.model import FORMAT_VERSION, META_KEY, load_model, read_meta, save_model
from cnnconv.nn.model import build_network, predict_proba
from model_damage import (  # noqa: E402  (tests/ is on the path: conftest.py lives there)
    damage_truncate, damage_not_npz, damage_empty, damage_npy, damage_foreign_npz, damage_object_array, damage_future, damage_version_type, damage_format_name, damage_missing_weight, damage_nan_weight, damage_bad_json, damage_bad_spec, damage_no_classes,
)

SPEC = "conv3x4:p1,relu,pool2,fc6,relu"


def small_network(seed=0):
    return build_network(SPEC, (8, 8, 1), 3, seed=seed)


def meta(**extra):
    base = dict(class_names=["circle", "square", "triangle"], channels="gray",
                mean=np.array([0.25], np.float32), std=np.array([0.5], np.float32),
                history=[{"epoch": 1, "loss": 0.9, "train_acc": 0.5, "val_acc": None}])
    base.update(extra)
    return base


@pytest.fixture
def saved(tmp_path):
    net = small_network()
    path = tmp_path / "model.npz"
    optimizer_state = {"t": 3, "m": {"0.conv.weight": np.arange(4.0)}, "kind": "adam", "pair": (1, 2.5)}
    save_model(path, net, meta(optimizer_state=optimizer_state, training={"lr": 0.001}))
    return net, path


def test_save_then_load_gives_identical_predictions(saved):
    net, path = saved
    loaded, info = load_model(path)
    x = np.random.default_rng(0).normal(size=(5, 8, 8, 1)).astype(np.float32)
    assert np.array_equal(predict_proba(net, x), predict_proba(loaded, x))
    for (name, a), (other, b) in zip(net.parameters(), loaded.parameters()):
        assert name == other and a.dtype == b.dtype and np.array_equal(a, b)
    assert loaded.spec == net.spec and loaded.input_shape == (8, 8, 1) and loaded.num_classes == 3


def test_the_description_and_optimiser_state_survive(saved):
    _, path = saved
    _, info = load_model(path)
    assert info["class_names"] == ["circle", "square", "triangle"] and info["channels"] == "gray"
    assert info["mean"].tolist() == [0.25] and info["std"].tolist() == [0.5]
    assert info["history"][0]["val_acc"] is None and info["training"] == {"lr": 0.001}
    state = info["optimizer_state"]
    assert state["t"] == 3 and state["kind"] == "adam" and state["pair"] == (1, 2.5)
    assert np.array_equal(state["m"]["0.conv.weight"], np.arange(4.0))
    assert info["format_version"] == FORMAT_VERSION


def test_saving_leaves_no_temporary_files_and_replaces_the_old_model(saved):
    net, path = saved
    save_model(path, small_network(seed=1), meta())
    assert sorted(p.name for p in path.parent.iterdir()) == ["model.npz"]
    loaded, _ = load_model(path)
    assert not np.array_equal(loaded.state()["0.conv.weight"], net.state()["0.conv.weight"])


def test_class_names_must_match_the_outputs(tmp_path):
    with pytest.raises(CnnconvError, match="2 class names"):
        save_model(tmp_path / "m.npz", small_network(), meta(class_names=["a", "b"]))


@pytest.mark.parametrize(
    "damage, message",
    [
        (damage_truncate, "not an .npz archive|damaged or truncated"),
        (damage_not_npz, "not an .npz archive"),
        (damage_empty, "not an .npz archive"),
        (damage_npy, "single .npy array"),
        (damage_foreign_npz, "another program .no 'cnnconv.json' entry; it holds: weights, labels"),
        (damage_object_array, "entry 'w/0.conv.weight' is an object array; refused"),
        (damage_future, f"format version {FORMAT_VERSION + 1}, newer .*upgrade cnnconv"),
        (damage_version_type, "unknown model format version 'one'"),
        (damage_format_name, "no format 'cnnconv-model'"),
        (damage_missing_weight, "lacks the weights 0.conv.bias"),
        (damage_nan_weight, "NaN or infinity"),
        (damage_bad_json, "not valid JSON"),
        (damage_bad_spec, "does not build"),
        (damage_no_classes, "'class_names'"),
    ],
    ids=lambda v: v.__name__.removeprefix("damage_") if callable(v) else "",
)
def test_a_damaged_model_file_gets_a_clear_error(saved, damage, message):
    _, path = saved
    damage(path)
    with pytest.raises(CnnconvError, match=message) as info:
        load_model(path)
    assert "\n" not in str(info.value) and f"{str(path)!r} is not a valid cnnconv model: " in str(info.value)
    assert not (path.parent / "pwned").exists()


def test_the_object_array_trap_does_fire_when_unpickled(saved):
    # proof that the trap above is real: allow_pickle=True would run it
    _, path = saved
    damage_object_array(path)
    with np.load(path, allow_pickle=True) as npz:
        npz["w/0.conv.weight"]
    assert (path.parent / "pwned").exists()


def test_a_truncated_member_is_reported(saved):
    # A zip whose central directory survives but whose member data is cut.
    _, path = saved
    with zipfile.ZipFile(path) as z:
        members = {name: z.read(name) for name in z.namelist()}
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as z:
        for name, data in members.items():
            z.writestr(name, data[: len(data) // 2] if name.startswith("w/0.conv.weight") else data)
    with pytest.raises(CnnconvError, match="w/0.conv.weight"):
        load_model(path)


@pytest.mark.parametrize("make", [lambda p: None, lambda p: p.mkdir()], ids=["missing", "folder"])
def test_missing_or_folder_paths_are_errors(tmp_path, make):
    make(tmp_path / "m.npz")
    with pytest.raises(CnnconvError, match="does not exist|is a folder"):
        read_meta(tmp_path / "m.npz")
