"""A hypothesis fuzz over the model file's schema: any value in any field, any weight dtype.

Whatever a hostile hand puts in the JSON description or the weight entries, ``load_model``
either loads a model whose fields have the types the schema promises, or raises
``InvalidModel`` with one line ``'<file>' is not a valid cnnconv model: <why>``. Nothing
else (a TypeError, a RecursionError, a huge allocation, NaN probabilities).
"""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnconv.io.model import META_KEY, InvalidModel, load_model, save_model
from cnnconv.nn.model import build_network, predict_proba

FIELDS = ["format", "format_version", "spec", "input_shape", "num_classes", "class_names", "channels", "mean",
          "std", "history", "training", "optimizer", "cnnconv_version"]

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)
#: Values near the valid ones, so the fuzz also reaches the checks after the first.
NEAR = {
    "input_shape": st.lists(st.integers(-2, 10**6), min_size=0, max_size=4),
    "num_classes": st.integers(-1, 5),
    "class_names": st.lists(st.sampled_from(["a", "b", "", "c"]), max_size=4),
    "mean": st.lists(st.floats(), max_size=3),
    "std": st.lists(st.floats(), max_size=3),
    "spec": st.sampled_from(["conv3x2,relu,pool2", "fc2", "fc1000000000", "conv0x1", "", "tconv2x2", "(relu"]),
    "channels": st.sampled_from(["gray", "rgb", "cmyk"]),
    "history": st.lists(st.fixed_dictionaries({"epoch": st.integers(-1, 3) | JSON, "loss": st.floats() | JSON})),
    "optimizer": st.fixed_dictionaries({"__dict__": JSON}) | st.fixed_dictionaries({"__list__": JSON})
    | st.fixed_dictionaries({"__array__": st.sampled_from(["optim/0", "optim/99", "w/0.conv.weight"]) | JSON}),
}
DTYPES = ["<f4", "<f8", "<f2", "<c8", "<i4", "|u1", "?", "<U3", "<M8[s]", [("a", "<f4")]]

_SAVED: dict[str, bytes] = {}


def _model() -> bytes:
    if "m" not in _SAVED:
        network = build_network("conv3x2,relu,pool2", (6, 6, 1), 2, seed=0)
        meta = dict(class_names=["a", "b"], channels="gray", mean=np.zeros(1, np.float32),
                    std=np.ones(1, np.float32), history=[{"epoch": 1, "loss": 0.5, "val_acc": None}],
                    optimizer_state={"step": np.array(1), "m": {"0.conv.weight": np.zeros((3, 3, 1, 2), np.float32)}},
                    training={"seed": 0})
        with tempfile.TemporaryDirectory() as d:
            save_model(Path(d) / "m.npz", network, meta)
            _SAVED["m"] = (Path(d) / "m.npz").read_bytes()
    return _SAVED["m"]


def _rewrite(path: Path, change_meta, change_entries) -> None:
    with np.load(path) as npz:
        entries = {k: npz[k] for k in npz.files}
    meta = json.loads(entries[META_KEY].tobytes())
    change_meta(meta)
    entries[META_KEY] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    change_entries(entries)
    np.savez(path, **entries)


def _outcome(path: Path):
    try:
        return load_model(path)
    except InvalidModel as exc:
        text = str(exc)
        assert "\n" not in text and text.startswith(f"{str(path)!r} is not a valid cnnconv model: "), text
        return None


@settings(max_examples=40)
@given(field=st.sampled_from(FIELDS), data=st.data())
def test_any_value_in_any_field(field, data):
    value = data.draw(NEAR[field] | JSON if field in NEAR else JSON)
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "m.npz"
        path.write_bytes(_model())
        _rewrite(path, lambda meta: meta.update({field: value}), lambda entries: None)
        loaded = _outcome(path)
    if loaded is not None:  # what loads is what the schema promises
        network, meta = loaded
        assert len(meta["class_names"]) == network.num_classes >= 2
        assert np.isfinite(meta["mean"]).all() and (meta["std"] > 0).all() and np.isfinite(meta["std"]).all()
        p = predict_proba(network, np.zeros((1, *network.input_shape), np.float32))
        assert np.isfinite(p).all()


@settings(max_examples=30)
@given(dtype=st.sampled_from(DTYPES), reshape=st.booleans(), missing=st.booleans(), nan=st.booleans())
def test_any_weight_entry(dtype, reshape, missing, nan):
    def change(entries):
        key = "w/0.conv.weight"
        if missing:
            del entries[key]
            return
        w = entries[key].astype(np.float64)
        if nan:
            w.flat[0] = math.nan
        w = w.reshape(-1) if reshape else w
        entries[key] = w.astype(dtype) if not (nan and np.dtype(dtype).kind in "iub") else w

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "m.npz"
        path.write_bytes(_model())
        _rewrite(path, lambda meta: None, change)
        loaded = _outcome(path)
    fine = np.dtype(dtype).kind == "f" and not (reshape or missing or nan)
    assert (loaded is not None) == fine, (dtype, reshape, missing, nan)
