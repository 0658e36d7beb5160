"""Numbers in files: ``.npy`` arrays and 1-D/2-D ``.csv``/``.txt`` tables.

A text file with one row or one column is a 1-D signal (the spaceship positions of seed
000), written back in the same layout; more rows and columns make a 2-D array. Values are
read as float64; NaN and infinity are refused, naming the line, because one of them would
spread through every output it touches.
"""

from __future__ import annotations

import io
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from tokenize import TokenError

import numpy as np

from cnnconv.errors import CnnconvError
from cnnconv.io._read import read_input_bytes
from cnnconv.io.formats import ARRAY_SUFFIXES, TEXT_ARRAY_FORMATS  # noqa: F401  (ARRAY_SUFFIXES: re-exported)

_SEPARATORS = re.compile(r"[,;\s]+")
_NPY_MAGIC = b"\x93NUMPY"


@dataclass(frozen=True)
class ArrayInfo:
    """What was read: ``format`` ``npy``/``csv``/``txt``; ``layout`` ``row``, ``column`` or ``table``
    for text (how a 1-D result is written back), ``array`` for ``.npy``."""

    format: str
    layout: str
    shape: tuple[int, ...]


def is_npy(data: bytes) -> bool:
    """Whether bytes start like a ``.npy`` file.

    >>> is_npy(b"\\x93NUMPY\\x01\\x00"), is_npy(b"1,2,3")
    (True, False)
    """
    return data[:6] == _NPY_MAGIC


def read_array(
    source: str | os.PathLike | bytes, *, name: str | None = None, fmt: str | None = None
) -> tuple[np.ndarray, ArrayInfo]:
    """Read a ``.npy`` file, a Zarr store or a table of numbers as float64.

    Parameters
    ----------
    source : path or bytes
        The file, or its content.
    name : str, optional
        How to call it in messages.
    fmt : {"npy", "zarr", "csv", "txt"}, optional
        Default: from the suffix, or from the content for bytes.

    Shape
    -----
    ``.npy`` and Zarr: as stored (1-D, 2-D or 3-D). Text: (N,) for one row or one column, else (H, W).

    Examples
    --------
    >>> x, info = read_array(b"# positions\\n1.0\\n2.5\\n4\\n")
    >>> x.tolist(), info.layout
    ([1.0, 2.5, 4.0], 'column')
    >>> read_array(b"1 2\\n3\\n")
    Traceback (most recent call last):
    ...
    cnnconv.errors.CnnconvError: <stdin>: line 2 has 1 value, line 1 has 2; every row needs the same count
    """
    if isinstance(source, (bytes, bytearray)):
        data, name = bytes(source), name or "<stdin>"
        fmt = fmt or ("npy" if is_npy(data) else "txt")
    else:
        name = name or str(source)
        fmt = fmt or Path(source).suffix.lower().lstrip(".")
        if fmt == "zarr":
            from cnnconv.io.zarr_store import read_store

            array = _real_numbers(read_store(source), name)
            return array, ArrayInfo("zarr", "array", array.shape)
        data = read_input_bytes(source, name, kind="array")
    if not data:
        raise CnnconvError(f"{name}: the file is empty (0 bytes)")
    if fmt == "npy":
        array = _load_npy(data, name)
        return array, ArrayInfo("npy", "array", array.shape)
    array, layout = _parse_text(data, name)
    return array, ArrayInfo(fmt if fmt in TEXT_ARRAY_FORMATS else "txt", layout, array.shape)


def _check_npy_size(data: bytes, name: str) -> None:
    """Refuse a header claiming more data than the file holds, before numpy allocates that much."""
    buffer = io.BytesIO(data)
    try:
        version = np.lib.format.read_magic(buffer)
        read_header = {(1, 0): np.lib.format.read_array_header_1_0,
                       (2, 0): np.lib.format.read_array_header_2_0}.get(version)
        if read_header is None:
            return
        shape, _, dtype = read_header(buffer)
    except (ValueError, OSError, EOFError, SyntaxError, TokenError, OverflowError):
        return  # np.load reports the damaged header
    if dtype.hasobject:
        return
    claimed, held = math.prod(shape) * dtype.itemsize, len(data) - buffer.tell()
    if claimed > held:
        raise CnnconvError(
            f"{name}: the .npy header claims shape {shape} of {dtype} ({claimed} bytes) but the file holds "
            f"{held} bytes of data; the file is truncated or damaged"
        )


def _load_npy(data: bytes, name: str) -> np.ndarray:
    if not is_npy(data):  # numpy would take it for a pickle and say so
        raise CnnconvError(f"{name}: not a .npy file: it does not start as one (\\x93NUMPY)")
    _check_npy_size(data, name)
    try:
        array = np.load(io.BytesIO(data), allow_pickle=False)
    except ValueError as exc:
        if "pickle" in str(exc).lower():
            raise CnnconvError(f"{name}: holds Python objects, which are never unpickled; save plain numbers") from None
        raise CnnconvError(f"{name}: not a valid .npy file ({exc})") from None
    except (OSError, EOFError, SyntaxError, TokenError) as exc:  # numpy parses the header as Python text
        raise CnnconvError(f"{name}: not a valid .npy file ({exc})") from None
    except MemoryError:
        raise CnnconvError(f"{name}: the .npy header claims more data than fits in memory; the file is damaged") from None
    return _real_numbers(array, name)


def _real_numbers(array, name: str) -> np.ndarray:
    """A stored array as float64, refused unless it holds 1-D to 3-D finite real numbers."""
    if not isinstance(array, np.ndarray) or array.dtype.kind not in "biuf":
        kind = getattr(array, "dtype", type(array))
        raise CnnconvError(f"{name}: holds {kind} values; only real numbers can be filtered")
    if array.ndim not in (1, 2, 3) or array.size == 0:
        raise CnnconvError(f"{name}: shape {array.shape}; give a non-empty 1-D, 2-D or 3-D (H, W, C) array")
    array = array.astype(np.float64)
    bad = int(np.count_nonzero(~np.isfinite(array)))
    if bad:
        raise CnnconvError(f"{name}: {bad} NaN or infinite values; replace them with numbers first")
    return array


def _parse_text(data: bytes, name: str) -> tuple[np.ndarray, str]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise CnnconvError(f"{name}: not UTF-8 text; expected numbers separated by commas or spaces") from None
    rows: list[list[float]] = []
    first_line = 0
    for number, line in enumerate(text.splitlines(), start=1):
        tokens = [t for t in _SEPARATORS.split(line.split("#", 1)[0]) if t]
        if not tokens:
            continue
        row = []
        for token in tokens:
            try:
                value = float(token)
            except ValueError:
                raise CnnconvError(f"{name}: line {number}: {token!r} is not a number") from None
            if not np.isfinite(value):
                raise CnnconvError(f"{name}: line {number}: {token!r} is not a finite number")
            row.append(value)
        if rows and len(row) != len(rows[0]):
            raise CnnconvError(
                f"{name}: line {number} has {_count(len(row))}, line {first_line} has "
                f"{len(rows[0])}; every row needs the same count"
            )
        first_line = first_line or number
        rows.append(row)
    if not rows:
        raise CnnconvError(f"{name}: no numbers found (only blank lines or # comments)")
    array = np.array(rows, dtype=np.float64)
    if array.shape[0] == 1:
        return array[0], "row"
    if array.shape[1] == 1:
        return array[:, 0], "column"
    return array, "table"


def _count(n: int) -> str:
    return f"{n} value" if n == 1 else f"{n} values"


def encode_array(array: np.ndarray, fmt: str, *, layout: str = "row") -> bytes:
    """Encode an array as ``.npy`` bytes or as a text table (``csv``: commas, ``txt``: spaces).

    A 1-D array is written as one row, or one value per line with ``layout="column"``.
    Numbers are written in the shortest form that reads back to the same value of the
    array's dtype (float32 data at float32's precision, :func:`cnnconv.io.numbers.shortest`).

    Examples
    --------
    >>> encode_array(np.array([1.0, 0.1, -2.5]), "csv")
    b'1,0.1,-2.5\\n'
    >>> encode_array(np.array([0.1, 0.2, 3.0], np.float32) + np.float32(0.2), "csv")
    b'0.3,0.4,3.2\\n'
    >>> encode_array(np.array([[1.0, 2.0], [3.0, 4.0]]), "txt")
    b'1 2\\n3 4\\n'
    """
    if fmt == "npy":
        buffer = io.BytesIO()
        np.save(buffer, array, allow_pickle=False)
        return buffer.getvalue()
    if array.ndim > 2:
        raise CnnconvError(f"a {fmt} file holds 1-D or 2-D numbers, not shape {array.shape}; write .npy instead")
    delimiter = "," if fmt == "csv" else " "
    if array.ndim == 1:
        rows = array[:, None] if layout == "column" else array[None, :]
    else:
        rows = array
    narrow = array.dtype if array.dtype.kind == "f" and array.dtype.itemsize < 8 else None
    lines = (delimiter.join(_number(v, narrow) for v in row) for row in rows.tolist())
    return ("\n".join(lines) + "\n").encode("ascii")


def _number(value: float, narrow=None) -> str:
    """``value`` as text; a float32 one at float32's precision (``0.3``, not ``0.30000001192092896``)."""
    if float(value).is_integer() and abs(value) < 1e16:
        return str(int(value))
    if narrow is not None:
        from cnnconv.io.numbers import shortest

        return shortest(value, narrow)
    return repr(float(value))
