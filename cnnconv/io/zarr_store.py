"""Zarr stores as inputs and outputs: read whole or a slice at a time, written as computed.

A Zarr store (a directory named ``*.zarr``) holds one array in chunks, so a slice reads only
the chunks it touches: ``filter`` and ``pool`` take one as an array input of any size and
write one band of rows after another. The ``zarr`` library does the format (the ``large``
extra); this module only names what cnnconv asks of it:

- input: the store's array, or the full-resolution level ``0`` of a group (an OME-Zarr
  pyramid), of real numbers, 1-D to 3-D (H, W[, C]);
- output: a new store of the installed library's default format, in chunks of
  :data:`CHUNK` rows and columns (all channels in a chunk), written to a temporary
  directory and put in place whole (:func:`cnnconv.io.atomic.write_directory_atomic`), so
  a reader never sees a half-written store. An existing output is replaced only if it is a
  Zarr store itself.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from cnnconv.errors import CnnconvError

#: The suffix of a Zarr store's directory.
SUFFIX = ".zarr"
#: Rows and columns of an output chunk: the streaming pipeline's band height, so each band
#: of a streamed output fills whole chunks.
CHUNK = 256
_EXTRA = "pip install 'cnnconv[large]'"
#: Files at the top of a store: v3's ``zarr.json``, v2's ``.zarray`` (an array) or ``.zgroup``.
_METADATA = ("zarr.json", ".zarray", ".zgroup")


def is_store(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a directory holding Zarr metadata at its top.

    >>> import tempfile
    >>> is_store(tempfile.mkdtemp())
    False
    """
    return os.path.isdir(path) and any(os.path.isfile(os.path.join(path, m)) for m in _METADATA)


def _zarr(path, doing: str):
    try:
        import zarr
    except ImportError:
        raise CnnconvError(f"{path}: {doing} a Zarr store needs zarr: {_EXTRA}") from None
    return zarr


def open_store(path: str | os.PathLike):
    """The array of the store at ``path``, opened for reading: a slice reads only its chunks.

    Raises :class:`CnnconvError` for a path that is not a store, a group without a level
    ``0``, or an array that is not 1-D to 3-D real numbers.
    """
    name = str(path)
    if not os.path.exists(path):
        raise CnnconvError(f"{name}: no such Zarr store; check the path")
    if not is_store(path):
        raise CnnconvError(f"{name}: not a Zarr store (a directory with zarr.json, .zarray or .zgroup at its top)")
    zarr = _zarr(name, "reading")
    try:
        node = zarr.open(str(path), mode="r")
    except Exception as exc:  # the library's own errors differ between its versions
        raise CnnconvError(f"{name}: not a readable Zarr store ({type(exc).__name__}: {exc})") from None
    if not hasattr(node, "shape"):
        try:
            node = node["0"]
        except KeyError:
            raise CnnconvError(f"{name}: a Zarr group without an array '0'; give the path of the array inside "
                               "it") from None
        if not hasattr(node, "shape"):
            raise CnnconvError(f"{name}: '0' in this Zarr group is not an array; give the path of the array")
    dtype = np.dtype(node.dtype)
    if dtype.kind not in "biuf":
        raise CnnconvError(f"{name}: holds {dtype} values; only real numbers can be filtered")
    if len(node.shape) not in (1, 2, 3) or 0 in node.shape:
        raise CnnconvError(f"{name}: shape {tuple(node.shape)}; give a non-empty 1-D, 2-D or 3-D (H, W, C) array")
    return node


def read_store(path: str | os.PathLike) -> np.ndarray:
    """The whole array of the store at ``path``, as stored (see :func:`open_store`)."""
    node = open_store(path)
    try:
        return np.asarray(node[...])
    except Exception as exc:  # a missing or damaged chunk
        raise CnnconvError(f"{path}: cannot read the Zarr store ({type(exc).__name__}: {exc})") from None


def chunks_for(shape: tuple) -> tuple:
    """The chunk shape of an output of ``shape``: :data:`CHUNK` rows and columns, every channel.

    >>> chunks_for((1000, 700, 3)), chunks_for((50, 40)), chunks_for((100000,))
    ((256, 256, 3), (50, 40), (65536,))
    """
    if len(shape) == 1:
        return (min(shape[0], CHUNK * CHUNK),)
    return (min(shape[0], CHUNK), min(shape[1], CHUNK)) + tuple(shape[2:])


def write_store(path: str | os.PathLike, shape: tuple, dtype, bands: Iterable[np.ndarray]) -> None:
    """Write a new store of ``shape`` and ``dtype`` at ``path`` from its bands of rows, top to bottom.

    Each band is written as it comes (the chunks it fills), so a streamed output is never
    held whole. The store appears at ``path`` only once every band is in.

    Examples
    --------
    >>> import tempfile
    >>> p = os.path.join(tempfile.mkdtemp(), "out.zarr")
    >>> x = np.arange(12, dtype=np.uint8).reshape(4, 3)
    >>> write_store(p, x.shape, x.dtype, [x[:3], x[3:]])
    >>> read_store(p).tolist()
    [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9, 10, 11]]
    """
    from cnnconv.io.atomic import write_directory_atomic

    zarr = _zarr(path, "writing")
    dtype = np.dtype(dtype)
    shape = tuple(int(n) for n in shape)

    def fill(directory: str) -> None:
        store = zarr.open_array(store=directory, mode="w", shape=shape, dtype=dtype, chunks=chunks_for(shape),
                                fill_value=0)
        row = 0
        for band in bands:
            band = np.asarray(band, dtype=dtype)
            store[row:row + band.shape[0]] = band
            row += band.shape[0]
        if row != shape[0]:
            raise CnnconvError(f"{path}: {row} rows were computed for an output of {shape[0]}")

    write_directory_atomic(path, fill, kind="Zarr store", is_replaceable=lambda p: is_store(p))


def store_name(path: str | os.PathLike) -> bool:
    """Whether ``path`` names a Zarr store by its suffix (any case).

    >>> store_name("scan.ZARR"), store_name("scan.zarr/"), store_name("scan.npy")
    (True, True, False)
    """
    return Path(path).suffix.lower() == SUFFIX
