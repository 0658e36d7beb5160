"""Reading one input file whole, with one-line errors for the usual mistakes."""

from __future__ import annotations

import os
from pathlib import Path

from cnnconv.errors import CnnconvError


def read_input_bytes(source: str | os.PathLike, name: str | None = None, kind: str = "image") -> bytes:
    """The bytes of an input file; ``kind`` ("image", "array") names what it should be.

    A directory, a device (``/dev/zero`` would be read until memory runs out), a missing,
    unreadable or empty file is a :class:`CnnconvError` naming it (as ``name``, default
    the path).

    Examples
    --------
    >>> read_input_bytes("no-such.npy", kind="array")
    Traceback (most recent call last):
    ...
    cnnconv.errors.CnnconvError: no-such.npy: no such file; check the path
    """
    path, name = Path(source), name or str(source)
    if path.is_dir():
        raise CnnconvError(f"{name}: is a directory, not an {kind} file")
    if path.is_char_device() or path.is_block_device():
        raise CnnconvError(f"{name}: is a device, not an {kind} file; pipe it with '-' if you mean it")
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise CnnconvError(f"{name}: no such file; check the path") from None
    except OSError as exc:
        raise CnnconvError(f"{name}: cannot read: {exc.strerror or exc}") from None
    if not data:
        raise CnnconvError(f"{name}: the file is empty (0 bytes)")
    return data
