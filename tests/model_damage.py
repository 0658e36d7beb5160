"""Ways to damage a saved model file, shared by the model-file and the predict/evaluate tests."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from cnnconv.io.model import FORMAT_VERSION, META_KEY


def rewrite(path: Path, change) -> None:
    """Rewrite a model file with its JSON description changed by ``change(dict)``."""
    with np.load(path) as npz:
        arrays = {k: npz[k] for k in npz.files}
    header = json.loads(arrays[META_KEY].tobytes())
    change(header)
    arrays[META_KEY] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    np.savez(path, **arrays)


class Trap:
    """Unpickling this would create a file: the test proves it never happens."""

    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (Path.touch, (Path(self.target),))


def damage_truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def damage_not_npz(path):
    path.write_text("just some text, not a model\n")


def damage_empty(path):
    path.write_bytes(b"")


def damage_npy(path):
    with path.open("wb") as f:
        np.save(f, np.zeros(3))


def damage_foreign_npz(path):
    np.savez(path, weights=np.zeros(3), labels=np.arange(2))


def damage_object_array(path):
    with np.load(path) as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays["w/0.conv.weight"] = np.array([Trap(path.parent / "pwned")], dtype=object)
    np.savez(path, **arrays)


def damage_future(path):
    rewrite(path, lambda h: h.update(format_version=FORMAT_VERSION + 1))


def damage_version_type(path):
    rewrite(path, lambda h: h.update(format_version="one"))


def damage_format_name(path):
    rewrite(path, lambda h: h.update(format="something-else"))


def damage_missing_weight(path):
    with np.load(path) as npz:
        arrays = {k: npz[k] for k in npz.files if k != "w/0.conv.bias"}
    np.savez(path, **arrays)


def damage_nan_weight(path):
    with np.load(path) as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays["w/0.conv.bias"] = np.full_like(arrays["w/0.conv.bias"], np.nan)
    np.savez(path, **arrays)


def damage_bad_json(path):
    with np.load(path) as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays[META_KEY] = np.frombuffer(b"{not json", dtype=np.uint8)
    np.savez(path, **arrays)


def damage_bad_spec(path):
    rewrite(path, lambda h: h.update(spec="conv0x4"))


def damage_no_classes(path):
    rewrite(path, lambda h: h.pop("class_names"))
