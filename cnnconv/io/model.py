"""Model files: one ``.npz`` holding the weights and a JSON entry that describes them.

Layout of a cnnconv model file (format version 2):

* ``cnnconv.json`` -- a uint8 array of UTF-8 JSON: ``format`` (``"cnnconv-model"``),
  ``format_version``, ``cnnconv_version``, ``spec`` (the whole network, class layer
  included: a chain or a graph with ``add``/``cat``/taps, never a zoo name),
  ``input_shape`` [H, W, C], ``num_classes``, ``class_names``, ``channels``, ``mean``/``std``
  (the standardisation), ``buffers`` (the names of the ``buf/`` entries), ``history``,
  ``training`` (the options used) and ``optimizer`` (the skeleton of the optimiser state for
  ``--resume``; its arrays are stored under ``optim/...``);
* ``w/<name>`` -- one array per trainable parameter (``Network.parameters()``);
* ``buf/<name>`` -- one array per buffer (``Network.buffers()``: bn's running mean and variance);
* ``optim/<n>`` -- the arrays of the optimiser state.

Version 1 (chains only, before graphs and batch norm) is version 2 without ``buffers`` and
``buf/`` entries; such files still load: a chain's spec and parameter names are unchanged.

Files are read with ``allow_pickle=False``: an object array is refused, never unpickled.
"""

from __future__ import annotations

import json
import math
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from cnnconv.errors import CnnconvError
from cnnconv.io.formats import DEFAULT_MAX_PIXELS

FORMAT_NAME = "cnnconv-model"
FORMAT_VERSION = 2
META_KEY = "cnnconv.json"
WEIGHT_PREFIX = "w/"
BUFFER_PREFIX = "buf/"
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

    arrays = {f"{WEIGHT_PREFIX}{name}": np.asarray(value) for name, value in network.parameters()}
    buffers = network.buffers() if hasattr(network, "buffers") else []
    arrays.update({f"{BUFFER_PREFIX}{name}": np.asarray(value) for name, value in buffers})
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
        "buffers": [name for name, _ in buffers],
        "history": _jsonable(meta.get("history") or []),
        "training": _jsonable(meta.get("training") or {}),
        "optimizer": optimizer,
    }
    if len(header["class_names"]) != header["num_classes"]:
        raise CnnconvError(
            f"{len(header['class_names'])} class names for a network with {header['num_classes']} outputs"
        )
    from cnnconv.io.numbers import dumps

    text = dumps(header)  # strict JSON: a non-finite number is null, with why
    arrays[META_KEY] = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    arrays.update(optim_arrays)
    write_atomic(path, lambda f: np.savez(f, **arrays))


class InvalidModel(CnnconvError):
    """A file that is not a valid cnnconv model; the message says why, naming the file."""

    def __init__(self, path: Path, why: str):
        super().__init__(f"{str(path)!r} is not a valid cnnconv model: {why}")


#: The JSON description is a few kilobytes; more than this is not one written by cnnconv.
MAX_META_BYTES = 16 << 20
#: Nesting of the JSON description (the optimiser skeleton is the deepest part: ~4 levels).
MAX_NESTING = 32
#: Values in the JSON description (lists, dict entries, scalars) at most.
MAX_META_VALUES = 1_000_000
#: Bytes a model may ask for: its weights (and optimiser state), or one image's activations.
MAX_MODEL_BYTES = 4 << 30
#: Pixels of the model's input, as for any decoded image.
MAX_INPUT_PIXELS = DEFAULT_MAX_PIXELS
_HISTORY_NUMBERS = ("loss", "train_acc", "val_acc", "val_loss", "seconds", "images_per_s")


def _open(path: Path) -> zipfile.ZipFile:
    from cnnconv.io.oserrors import describe

    try:
        if not path.exists():
            raise CnnconvError(f"model file {str(path)!r} does not exist")
        if path.is_dir():
            raise CnnconvError(f"model file {str(path)!r} is a folder; give a .npz written by 'cnnconv train'")
        with path.open("rb") as f:
            magic = f.read(6)
        if magic == b"\x93NUMPY":
            raise InvalidModel(path, "it is a single .npy array (a model is the .npz 'cnnconv train' writes)")
        return zipfile.ZipFile(path)
    except CnnconvError:
        raise
    except (zipfile.BadZipFile, EOFError, ValueError, NotImplementedError):
        raise InvalidModel(path, "not an .npz archive (empty, truncated or another kind of file)") from None
    except OSError as exc:
        raise CnnconvError(f"model file {str(path)!r}: {describe(exc)}") from None


def _entry(zf: zipfile.ZipFile, path: Path, key: str, *, kinds: str, shape=None, limit: int = MAX_MODEL_BYTES):
    """Read entry ``key`` (an .npy in the archive) after checking its header, before any data.

    ``kinds`` are the dtype kinds allowed (``"f"`` real floats, ``"u"`` for the JSON bytes);
    ``shape`` the shape it must have; the data may be at most ``limit`` bytes, and must be as
    long as its header says.
    """
    info = zf.getinfo(key + ".npy")
    try:
        with zf.open(info) as f:
            version = np.lib.format.read_magic(f)
            if version not in ((1, 0), (2, 0), (3, 0)):
                raise ValueError(f"unknown .npy version {version}")
            read_header = {(1, 0): np.lib.format.read_array_header_1_0}.get(version, np.lib.format.read_array_header_2_0)
            found, fortran, dtype = read_header(f, max_header_size=10_000)
            offset = f.tell()
            if dtype.hasobject:
                raise InvalidModel(path, f"entry {key!r} is an object array; refused, never unpickled "
                                         "(a model holds numbers only)")
            if dtype.kind not in kinds or dtype.fields is not None or dtype.subdtype is not None:
                raise InvalidModel(path, f"entry {key!r} holds {dtype} values, not "
                                         f"{'real floating-point numbers' if kinds == 'f' else 'bytes'}")
            if shape is not None and tuple(found) != tuple(shape):
                raise InvalidModel(path, f"entry {key!r} has shape {tuple(found)}, its network needs {tuple(shape)}")
            nbytes = math.prod(found) * dtype.itemsize
            if nbytes > limit:
                raise InvalidModel(path, f"entry {key!r} claims {nbytes} bytes, more than the {limit} a model may hold")
            if info.file_size != offset + nbytes:
                raise InvalidModel(path, f"entry {key!r} holds {info.file_size - offset} bytes of data but its "
                                         f"header says {nbytes}; the file is damaged")
            data = f.read(nbytes)
    except CnnconvError:
        raise
    except (OSError, EOFError, ValueError, SyntaxError, TypeError, zipfile.BadZipFile, zlib.error) as exc:
        raise InvalidModel(path, f"entry {key!r} is damaged or truncated ({exc})") from None
    if len(data) != nbytes:
        raise InvalidModel(path, f"entry {key!r} is truncated")
    array = np.frombuffer(data, dtype=dtype).reshape(found, order="F" if fortran else "C")
    if dtype.kind == "f" and not np.isfinite(array).all():
        raise InvalidModel(path, f"entry {key!r} holds NaN or infinity")
    return array


def _meta_text(zf: zipfile.ZipFile, path: Path) -> Any:
    raw = _entry(zf, path, META_KEY, kinds="u", limit=MAX_META_BYTES)
    if raw.ndim != 1 or raw.dtype.itemsize != 1:
        raise InvalidModel(path, f"the {META_KEY!r} entry is not a 1-D array of bytes")
    try:
        text = raw.tobytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidModel(path, f"the {META_KEY!r} entry is not UTF-8 ({exc.reason} at byte {exc.start})") from None
    depth = _nesting(text)
    if depth > MAX_NESTING:
        raise InvalidModel(path, f"the {META_KEY!r} entry is nested {depth} deep (at most {MAX_NESTING})")
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise InvalidModel(path, f"the {META_KEY!r} entry is not valid JSON ({exc})") from None


def _nesting(text: str) -> int:
    """How deep ``[`` and ``{`` nest in JSON text (outside strings), without parsing it."""
    import re

    depth = deepest = 0
    for token in re.finditer(r'"(?:[^"\\]|\\.)*"|[\[{]|[\]}]', text):
        char = token.group()
        if char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_header(meta: Any, path: str | Path) -> None:
    """Check the JSON description of a model file against the schema; raise :class:`InvalidModel`.

    Types, ranges and consistency: the format and its version, a layer spec that parses,
    an input shape (H, W, C) of positive integers that fits the pixel limit with C = 1
    for gray and 3 for rgb, at least 2 unique class names (one per output), C finite
    means and C finite positive standard deviations, a history of epoch records, a
    training dict and an optimiser skeleton of the forms :func:`save_model` writes.
    """
    path = Path(path)
    bad = lambda why: InvalidModel(path, why)  # noqa: E731
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
        raise bad(f"its {META_KEY!r} entry has no format {FORMAT_NAME!r} (an .npz from another program?)")
    version = meta.get("format_version")
    if not _is_int(version) or version < 1:
        raise bad(f"unknown model format version {version!r} (this cnnconv reads version {FORMAT_VERSION})")
    if version > FORMAT_VERSION:
        written = meta.get("cnnconv_version", "?")
        raise bad(f"it has model format version {version}, newer than this cnnconv reads (up to {FORMAT_VERSION}; "
                  f"written by cnnconv {written if isinstance(written, str) else '?'}): upgrade cnnconv")
    _count_values(meta, path)
    for key, kind, what in (("spec", str, "a layer spec (text)"), ("input_shape", list, "a list [H, W, C]"),
                            ("num_classes", int, "an integer"), ("class_names", list, "a list of names"),
                            ("channels", str, "'gray' or 'rgb'"), ("mean", list, "a list of numbers"),
                            ("std", list, "a list of numbers")):
        value = meta.get(key)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise bad(f"{key!r} is {_shown(value)}, not {what}")
    if not 0 < len(meta["spec"]) <= 100_000:
        raise bad(f"'spec' has {len(meta['spec'])} characters")
    shape = meta["input_shape"]
    if len(shape) != 3 or not all(_is_int(n) and n >= 1 for n in shape):
        raise bad(f"'input_shape' is {_shown(shape)}, not [H, W, C] of positive integers")
    if shape[0] * shape[1] > MAX_INPUT_PIXELS:
        raise bad(f"'input_shape' {shape[0]}x{shape[1]} is {shape[0] * shape[1]} pixels, over the limit of "
                  f"{MAX_INPUT_PIXELS}")
    if meta["channels"] not in ("gray", "rgb"):
        raise bad(f"'channels' is {_shown(meta['channels'])}, not 'gray' or 'rgb'")
    depth = {"gray": 1, "rgb": 3}[meta["channels"]]
    if shape[2] != depth:
        raise bad(f"'input_shape' has {shape[2]} channels but 'channels' is {meta['channels']!r} ({depth})")
    names, classes = meta["class_names"], meta["num_classes"]
    if not 2 <= classes <= 1_000_000:
        raise bad(f"'num_classes' is {classes}; a classifier has at least 2 classes")
    if len(names) != classes:
        raise bad(f"{len(names)} class names for {classes} classes")
    if not all(isinstance(n, str) and n for n in names) or len(set(names)) != len(names):
        raise bad("'class_names' must be distinct non-empty names")
    # pixels are standardised from [0, 1]: a mean or std far outside what such data gives
    # would overflow float32 on the way in (and std 0 divides by zero)
    for key, low, high, need in (("mean", -1e6, 1e6, "finite numbers within +-1e6"),
                                 ("std", 1e-8, 1e6, "finite positive numbers (1e-8 to 1e6)")):
        values = meta[key]
        if len(values) != depth:
            raise bad(f"{key!r} has {len(values)} values; a {meta['channels']} model needs {depth}")
        if not all(_is_number(v) and low <= v <= high for v in values):
            raise bad(f"{key!r} is {_shown(values)}; it must hold {need}")
    history = meta.get("history", [])
    if not isinstance(history, list) or not all(isinstance(h, dict) for h in history):
        raise bad("'history' must be a list of epoch records")
    for entry in history:
        if not _is_int(entry.get("epoch")) or entry["epoch"] < 1:
            raise bad(f"a 'history' record has epoch {_shown(entry.get('epoch'))}, not a positive integer")
        for key in _HISTORY_NUMBERS:
            if entry.get(key) is not None and not _is_number(entry[key]):
                raise bad(f"'history' epoch {entry['epoch']}: {key!r} is {_shown(entry[key])}, not a number")
    training = meta.get("training", {})
    if not isinstance(training, dict):
        raise bad("'training' must be a dict of the options used")
    if "seed" in training and not (_is_int(training["seed"]) and 0 <= training["seed"] < 2**63):
        raise bad(f"'training' seed is {_shown(training['seed'])}, not a non-negative integer")
    buffers = meta.get("buffers", [])
    if version == 1 and "buffers" in meta:
        raise bad("'buffers' appears in a version 1 file (buffers came with version 2)")
    if not isinstance(buffers, list) or not all(isinstance(b, str) and b for b in buffers) \
            or len(set(buffers)) != len(buffers):
        raise bad(f"'buffers' is {_shown(buffers)}, not a list of distinct names")
    _check_skeleton(meta.get("optimizer"), path)


def _count_values(meta, path: Path) -> None:
    stack, seen = [meta], 0
    while stack:
        value = stack.pop()
        seen += 1
        if seen > MAX_META_VALUES:
            raise InvalidModel(path, f"its description holds more than {MAX_META_VALUES} values")
        if isinstance(value, dict):
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)


def _check_skeleton(value: Any, path: Path) -> None:
    """The optimiser skeleton: scalars, ``{"__array__": "optim/N"}``, ``{"__dict__": [[k, v], ...]}``
    and ``{"__list__": [...], "tuple": bool}`` (what :func:`_pack` writes)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return
    bad = InvalidModel(path, f"its optimiser state is damaged near {_shown(value)}")
    if not isinstance(value, dict):
        raise bad
    if set(value) == {"__array__"}:
        if not (isinstance(value["__array__"], str) and value["__array__"].startswith(OPTIM_PREFIX)):
            raise bad
    elif set(value) == {"__dict__"}:
        pairs = value["__dict__"]
        if not isinstance(pairs, list) or not all(isinstance(p, list) and len(p) == 2 for p in pairs):
            raise bad
        for key, item in pairs:
            if not isinstance(key, (str, int)) or isinstance(key, bool):
                raise bad
            _check_skeleton(item, path)
    elif set(value) in ({"__list__"}, {"__list__", "tuple"}):
        if not isinstance(value["__list__"], list) or not isinstance(value.get("tuple", False), bool):
            raise bad
        for item in value["__list__"]:
            _check_skeleton(item, path)
    else:
        raise bad


def _shown(value: Any) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _check_size(meta: dict, path: Path, limit: int) -> int:
    """The float32 bytes of the weights and buffers of a valid header's network, checked against
    ``limit``; a spec that cannot be trained as a classifier is refused here, before any array."""
    from cnnconv.nn.head import classifier_graph
    from cnnconv.shape.summary import summarize_network

    try:
        graph = classifier_graph(meta["spec"], meta["num_classes"])[0]
        totals = summarize_network(tuple(meta["input_shape"]), graph).totals()
    except CnnconvError as exc:
        raise InvalidModel(path, f"its layer spec {_shown(meta['spec'])} does not build: {exc}") from None
    for what, size in (("its weights", totals["param_bytes"] + 4 * totals["buffers"]),
                       ("one image's activations", totals["activation_bytes"])):
        if size > limit:
            raise InvalidModel(path, f"{what} would take {size} bytes, more than the limit of {limit}")
    return totals["param_bytes"] + 4 * totals["buffers"]


def read_meta(path: str | Path, *, max_bytes: int = MAX_MODEL_BYTES) -> tuple[dict[str, Any], dict[str, np.ndarray], Any]:
    """Read and check a model file without building the network.

    Everything is checked before anything large is allocated: the JSON description
    against the schema (:func:`check_header`), the network's size against ``max_bytes``
    (from the layer arithmetic), and every entry's header (real floats, a size that
    agrees with the data) before its data is read. Entries the model does not use are
    never read. Returns ``(meta, weights, optimizer_state)``.
    """
    path = Path(path)
    with _open(path) as zf:
        try:
            keys = [name[:-4] for name in zf.namelist() if name.endswith(".npy")]
        except (OSError, ValueError) as exc:
            raise InvalidModel(path, f"its archive directory is damaged ({exc})") from None
        if META_KEY not in keys:
            shown = ", ".join(keys[:5]) + (", ..." if len(keys) > 5 else "")
            raise InvalidModel(path, f"an .npz from another program (no {META_KEY!r} entry; it holds: "
                                     f"{shown or 'nothing'})")
        meta = _meta_text(zf, path)
        check_header(meta, path)
        param_bytes = _check_size(meta, path, max_bytes)
        # float64 weights and their two Adam moments at most: a bigger entry is not this network's
        budget = {"left": 6 * param_bytes + (1 << 20)}

        def read(key):
            array = _entry(zf, path, key, kinds="fiu" if key.startswith(OPTIM_PREFIX) else "f",
                           limit=budget["left"])
            budget["left"] -= array.nbytes
            return array

        weights = {k[len(WEIGHT_PREFIX):]: read(k) for k in keys if k.startswith(WEIGHT_PREFIX)}
        listed = meta.get("buffers", [])
        stray = sorted(k for k in keys if k.startswith(BUFFER_PREFIX) and k[len(BUFFER_PREFIX):] not in listed)
        if stray:
            raise InvalidModel(path, f"it holds buffers its description does not list: {', '.join(stray[:4])}")
        for name in listed:
            if BUFFER_PREFIX + name not in keys:
                raise InvalidModel(path, f"the buffer entry {BUFFER_PREFIX + name!r} is missing; the file is damaged")
            if name in weights:
                raise InvalidModel(path, f"{name!r} is stored both as a weight and as a buffer")
            weights[name] = read(BUFFER_PREFIX + name)
        optim_cache: dict[str, np.ndarray] = {}

        def optim_array(key: str) -> np.ndarray:
            if key not in keys:
                raise InvalidModel(path, f"the optimiser state entry {key!r} is missing")
            if key not in optim_cache:
                optim_cache[key] = read(key)
            return optim_cache[key]

        optimizer = _unpack(meta.get("optimizer"), optim_array)
    return meta, weights, optimizer


def load_model(path: str | Path, *, max_bytes: int = MAX_MODEL_BYTES):
    """Read a model file: returns ``(network, meta)``.

    ``meta`` is the JSON entry (with ``mean``/``std`` as float32 arrays) plus
    ``optimizer_state`` (for ``--resume``). The file is checked by :func:`read_meta`
    before the network is built; every way it can be wrong -- not an npz, an npz from
    elsewhere, an object array, a newer format, a description outside the schema, a
    network over ``max_bytes``, missing, misshapen or non-finite weights -- raises
    :class:`InvalidModel` (a ``CnnconvError``): ``'<file>' is not a valid cnnconv model: <why>``.
    """
    from cnnconv.nn.model import build_network

    path = Path(path)
    meta, weights, optimizer = read_meta(path, max_bytes=max_bytes)
    try:
        network = build_network(meta["spec"], tuple(meta["input_shape"]), meta["num_classes"])
    except CnnconvError as exc:
        raise InvalidModel(path, f"its layer spec {_shown(meta['spec'])} does not build: {exc}") from None
    buffer_names = [name for name, _ in network.buffers()]
    if buffer_names and meta.get("format_version") == 1:
        raise InvalidModel(path, "a version 1 file cannot hold batch norm statistics, but its spec has bn layers")
    if sorted(buffer_names) != sorted(meta.get("buffers", [])):
        raise InvalidModel(path, f"its buffers {_shown(meta.get('buffers', []))} are not its network's "
                                 f"{_shown(buffer_names)}; the file is damaged")
    for name in buffer_names:
        if name.endswith("running_var") and not (weights[name] > 0).all():
            raise InvalidModel(path, f"buffer {name!r} holds a variance that is not positive")
    expected = network.state()
    missing = sorted(set(expected) - set(weights))
    if missing:
        raise InvalidModel(path, f"it lacks the weights {', '.join(missing[:4])} of its network; the file is damaged")
    extra = sorted(set(weights) - set(expected))
    if extra:
        raise InvalidModel(path, f"it holds weights its network does not have: {', '.join(extra[:4])}")
    for name, value in expected.items():
        if weights[name].shape != value.shape:
            raise InvalidModel(path, f"weight {name!r} has shape {weights[name].shape}, its network needs {value.shape}")
    network.load_state({name: weights[name].astype(value.dtype, copy=False) for name, value in expected.items()})
    meta["mean"] = np.asarray(meta["mean"], dtype=np.float32)
    meta["std"] = np.asarray(meta["std"], dtype=np.float32)
    meta["optimizer_state"] = optimizer
    meta["path"] = str(path)
    return network, meta
