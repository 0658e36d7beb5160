"""Model files: one ``.npz`` holding the weights and a JSON entry that describes them.

Layout of a cnnconv model file (format version 1):

* ``cnnconv.json`` -- a uint8 array of UTF-8 JSON: ``format`` (``"cnnconv-model"``),
  ``format_version``, ``cnnconv_version``, ``spec``, ``input_shape`` [H, W, C],
  ``num_classes``, ``class_names``, ``channels``, ``mean``/``std`` (the standardisation),
  ``history``, ``training`` (the options used) and ``optimizer`` (the skeleton of the
  optimiser state for ``--resume``; its arrays are stored under ``optim/...``);
* ``w/<name>`` -- one array per entry of ``Network.state()``;
* ``optim/<n>`` -- the arrays of the optimiser state.

Files are read with ``allow_pickle=False``: an object array is refused, never unpickled.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from cnnconv.errors import CnnconvError

FORMAT_NAME = "cnnconv-model"
FORMAT_VERSION = 1
META_KEY = "cnnconv.json"
WEIGHT_PREFIX = "w/"
OPTIM_PREFIX = "optim/"


def _pack(value: Any, arrays: dict[str, np.ndarray]) -> Any:
    """JSON skeleton of nested dicts/lists/scalars/arrays; arrays go to ``arrays``."""
    if isinstance(value, np.ndarray):
        key = f"{OPTIM_PREFIX}{len(arrays)}"
        arrays[key] = value
        return {"__array__": key}
    if isinstance(value, dict):
        return {"__dict__": [[_pack(k, arrays), _pack(v, arrays)] for k, v in value.items()]}
    if isinstance(value, (list, tuple)):
        return {"__list__": [_pack(v, arrays) for v in value], "tuple": isinstance(value, tuple)}
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise CnnconvError(f"cannot store a {type(value).__name__} in a model file")


def _unpack(value: Any, arrays) -> Any:
    if isinstance(value, dict):
        if "__array__" in value:
            return arrays(value["__array__"])
        if "__dict__" in value:
            return {_unpack(k, arrays): _unpack(v, arrays) for k, v in value["__dict__"]}
        if "__list__" in value:
            items = [_unpack(v, arrays) for v in value["__list__"]]
            return tuple(items) if value.get("tuple") else items
    return value


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def save_model(path: str | Path, network, meta: dict[str, Any]) -> None:
    """Write ``network`` and ``meta`` to ``path`` as one ``.npz``, atomically.

    ``meta`` holds at least ``class_names``, ``channels``, ``mean`` and ``std``; it may
    hold ``history`` (plain data), ``training`` (options) and ``optimizer_state``
    (nested dicts/lists of arrays and numbers, as the optimiser returns it).
    """
    from cnnconv import __version__
    from cnnconv.io.atomic import write_atomic

    arrays = {f"{WEIGHT_PREFIX}{name}": np.asarray(value) for name, value in network.state().items()}
    optim_arrays: dict[str, np.ndarray] = {}
    optimizer = _pack(meta.get("optimizer_state"), optim_arrays)
    header = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "cnnconv_version": __version__,
        "spec": network.spec,
        "input_shape": [int(n) for n in network.input_shape],
        "num_classes": int(network.num_classes),
        "class_names": [str(c) for c in meta["class_names"]],
        "channels": meta["channels"],
        "mean": [float(v) for v in np.ravel(meta["mean"])],
        "std": [float(v) for v in np.ravel(meta["std"])],
        "history": _jsonable(meta.get("history") or []),
        "training": _jsonable(meta.get("training") or {}),
        "optimizer": optimizer,
    }
    if len(header["class_names"]) != header["num_classes"]:
        raise CnnconvError(
            f"{len(header['class_names'])} class names for a network with {header['num_classes']} outputs"
        )
    text = json.dumps(header, allow_nan=True)
    arrays[META_KEY] = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    arrays.update(optim_arrays)
    write_atomic(path, lambda f: np.savez(f, **arrays))


def _open(path: Path):
    if not path.exists():
        raise CnnconvError(f"model file {str(path)!r} does not exist")
    if path.is_dir():
        raise CnnconvError(f"model file {str(path)!r} is a folder; give a .npz written by 'cnnconv train'")
    with path.open("rb") as f:
        magic = f.read(6)
    if magic == b"\x93NUMPY":
        raise CnnconvError(
            f"{str(path)!r} is a single .npy array, not a cnnconv model (an .npz written by 'cnnconv train')"
        )
    if not zipfile.is_zipfile(path):
        raise CnnconvError(
            f"{str(path)!r} is not a cnnconv model: not an .npz archive (empty, truncated or another kind of file)"
        )
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise CnnconvError(f"{str(path)!r} is not a readable .npz archive: {exc}") from None


def _read(npz, path: Path, key: str) -> np.ndarray:
    try:
        return npz[key]
    except ValueError as exc:
        if "allow_pickle" in str(exc) or "pickle" in str(exc).lower():
            raise CnnconvError(
                f"{str(path)!r} holds an object array {key!r}; refused (loading it would run "
                "pickled code): a cnnconv model holds numbers only"
            ) from None
        raise CnnconvError(f"{str(path)!r}: entry {key!r} is damaged: {exc}") from None
    except (OSError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        raise CnnconvError(f"{str(path)!r}: entry {key!r} is damaged or truncated: {exc}") from None
    except Exception as exc:  # zlib.error, struct.error from a corrupt member
        raise CnnconvError(f"{str(path)!r}: entry {key!r} is damaged or truncated: {exc}") from None


def read_meta(path: str | Path) -> tuple[dict[str, Any], dict[str, np.ndarray], Any]:
    """Read and check a model file without building the network.

    Returns ``(meta, weights, optimizer_state)``.
    """
    path = Path(path)
    with _open(path) as npz:
        keys = list(npz.files)
        if META_KEY not in keys:
            shown = ", ".join(keys[:5]) + (", ..." if len(keys) > 5 else "")
            raise CnnconvError(
                f"{str(path)!r} is an .npz but not a cnnconv model (no {META_KEY!r} entry; it holds: {shown or 'nothing'})"
            )
        raw = _read(npz, path, META_KEY)
        try:
            meta = json.loads(raw.astype(np.uint8).tobytes().decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise CnnconvError(f"{str(path)!r}: the {META_KEY!r} entry is not valid JSON ({exc})") from None
        _check_header(meta, path)
        weights = {k[len(WEIGHT_PREFIX):]: _read(npz, path, k) for k in keys if k.startswith(WEIGHT_PREFIX)}
        optim_cache: dict[str, np.ndarray] = {}

        def optim_array(key: str) -> np.ndarray:
            if key not in keys:
                raise CnnconvError(f"{str(path)!r}: the optimiser state entry {key!r} is missing")
            if key not in optim_cache:
                optim_cache[key] = _read(npz, path, key)
            return optim_cache[key]

        optimizer = _unpack(meta.get("optimizer"), optim_array)
    return meta, weights, optimizer


_REQUIRED = {
    "spec": str,
    "input_shape": list,
    "num_classes": int,
    "class_names": list,
    "channels": str,
    "mean": list,
    "std": list,
}


def _check_header(meta: Any, path: Path) -> None:
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
        raise CnnconvError(f"{str(path)!r} is an .npz but not a cnnconv model (its {META_KEY!r} has no format {FORMAT_NAME!r})")
    version = meta.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise CnnconvError(f"{str(path)!r}: unknown model format version {version!r} (this cnnconv reads version {FORMAT_VERSION})")
    if version > FORMAT_VERSION:
        raise CnnconvError(
            f"{str(path)!r} has model format version {version}, newer than this cnnconv reads "
            f"(up to {FORMAT_VERSION}; written by cnnconv {meta.get('cnnconv_version', '?')}): upgrade cnnconv"
        )
    for key, kind in _REQUIRED.items():
        if not isinstance(meta.get(key), kind):
            raise CnnconvError(f"{str(path)!r}: the model description lacks a valid {key!r} entry")
    if len(meta["class_names"]) != meta["num_classes"] or meta["channels"] not in ("gray", "rgb"):
        raise CnnconvError(f"{str(path)!r}: the model description is inconsistent (classes or channels)")


def load_model(path: str | Path):
    """Read a model file: returns ``(network, meta)``.

    ``meta`` is the JSON entry (with ``mean``/``std`` as float32 arrays) plus
    ``optimizer_state`` (for ``--resume``). Every way a file can be wrong -- not an
    npz, an npz from elsewhere, an object array, a newer format, missing or misshapen
    weights -- raises ``CnnconvError`` with the file name and what is wrong.
    """
    from cnnconv.shape.grammar import parse_layers
    from cnnconv.nn.model import build_network

    path = Path(path)
    meta, weights, optimizer = read_meta(path)
    try:
        layers = parse_layers(meta["spec"])
        network = build_network(layers, tuple(meta["input_shape"]), meta["num_classes"])
    except CnnconvError as exc:
        raise CnnconvError(f"{str(path)!r}: its layer spec {meta['spec']!r} does not build: {exc}") from None
    expected = network.state()
    missing = sorted(set(expected) - set(weights))
    if missing:
        raise CnnconvError(f"{str(path)!r} lacks the weights {', '.join(missing[:4])} of its network; the file is damaged")
    for name, value in expected.items():
        if weights[name].shape != value.shape or not np.isfinite(weights[name]).all():
            problem = "has shape " + str(weights[name].shape) if weights[name].shape != value.shape else "holds NaN or infinity"
            raise CnnconvError(f"{str(path)!r}: weight {name!r} {problem} (expected {value.shape}, finite)")
    network.load_state({name: weights[name].astype(value.dtype, copy=False) for name, value in expected.items()})
    meta["mean"] = np.asarray(meta["mean"], dtype=np.float32)
    meta["std"] = np.asarray(meta["std"], dtype=np.float32)
    meta["optimizer_state"] = optimizer
    meta["path"] = str(path)
    return network, meta

