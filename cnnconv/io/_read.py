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
        if kind == "image":
            _refuse_large_non_images(path, name)
        data = path.read_bytes()
    except FileNotFoundError:
        raise CnnconvError(f"{name}: no such file; check the path") from None
    except OSError as exc:
        from cnnconv.io.oserrors import describe

        raise CnnconvError(f"{name}: cannot read: {describe(exc)}") from None
    if not data:
        raise CnnconvError(f"{name}: the file is empty (0 bytes)")
    return data


#: Above this size an image file is read only if its first bytes are an image format's.
SIGNATURE_CHECK_BYTES = 64 << 20
_SIGNATURES = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"BM", b"II*\x00", b"MM\x00*",
               b"II+\x00", b"MM\x00+", b"\x00\x00\x01\x00", b"P1", b"P2", b"P3", b"P4", b"P5", b"P6", b"P7")
#: Suffixes of formats that always start with one of the signatures (others, e.g. TGA, have none).
_SIGNED_SUFFIXES = ("", ".png", ".jpg", ".jpeg", ".gif", ".bmp", ".tif", ".tiff", ".webp", ".ico",
                    ".ppm", ".pgm", ".pbm", ".pnm")


def _refuse_large_non_images(path: Path, name: str) -> None:
    """A large file whose first bytes are no image format's is refused before it is read whole."""
    size = path.stat().st_size
    if size <= SIGNATURE_CHECK_BYTES or path.suffix.lower() not in _SIGNED_SUFFIXES:
        return
    with path.open("rb") as f:
        head = f.read(16)
    if head.startswith(_SIGNATURES) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP"):
        return
    raise CnnconvError(f"{name}: not an image: its first bytes are no image format's (PNG, JPEG, TIFF, BMP, "
                       f"WebP, GIF, PPM/PGM/PBM); refused before reading its {size:,} bytes")
