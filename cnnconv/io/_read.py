"""Reading one input file, with one-line errors for the usual mistakes.

Most files are read whole into bytes. A TIFF on disk is not: its decoders (tifffile,
Pillow) read the samples from the file straight into the array, so the file's bytes and
its samples (an uncompressed TIFF's are the same size) are never in memory together.
"""

from __future__ import annotations

import os
from pathlib import Path

from cnnconv.errors import CnnconvError


#: The first bytes of a TIFF or BigTIFF, either byte order.
TIFF_SIGNATURES = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")


class FileOnDisk:
    """A file its decoders read from disk themselves; ``data[a:b]`` reads those bytes (the header).

    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "a.tif"; _ = p.write_bytes(b"II*\\x00" + bytes(8))
    >>> f = FileOnDisk(p); len(f), f[:4], f[2]
    (12, b'II*\\x00', 42)
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        self._size = self.path.stat().st_size

    def __len__(self) -> int:
        return self._size

    def __getitem__(self, key):
        index = key if isinstance(key, slice) else slice(key, key + 1)
        start, stop, _ = index.indices(self._size)
        with self.path.open("rb") as f:
            f.seek(start)
            part = f.read(max(0, stop - start))
        return part if isinstance(key, slice) else part[0]


def read_input(source: str | os.PathLike, name: str | None = None, kind: str = "image") -> "bytes | FileOnDisk":
    """As :func:`read_input_bytes`, but a TIFF image is a :class:`FileOnDisk`, not read here."""
    path = Path(source)
    if kind == "image" and path.is_file():
        try:
            with path.open("rb") as f:
                head = f.read(4)
        except OSError:
            head = b""  # read_input_bytes says what is wrong
        if head in TIFF_SIGNATURES:
            return FileOnDisk(path)
    return read_input_bytes(source, name, kind)


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
        _refuse_by_signature(path, name, kind)
        data = path.read_bytes()
    except FileNotFoundError:
        raise CnnconvError(f"{name}: no such file; check the path") from None
    except OSError as exc:
        from cnnconv.io.oserrors import describe

        raise CnnconvError(f"{name}: cannot read: {describe(exc)}") from None
    if not data:
        raise CnnconvError(f"{name}: the file is empty (0 bytes)")
    return data


#: Above this size a file is read only if its first bytes are what its kind starts with (an image
#: format's signature, the .npy magic, UTF-8 text).
SIGNATURE_CHECK_BYTES = 64 << 20
_SIGNATURES = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"BM", *TIFF_SIGNATURES,
               b"\x00\x00\x01\x00", b"P1", b"P2", b"P3", b"P4", b"P5", b"P6", b"P7")
#: Suffixes of formats that always start with one of the signatures (others, e.g. TGA, have none).
_SIGNED_SUFFIXES = ("", ".png", ".jpg", ".jpeg", ".gif", ".bmp", ".tif", ".tiff", ".webp", ".ico",
                    ".ppm", ".pgm", ".pbm", ".pnm")


def _refuse_by_signature(path: Path, name: str, kind: str) -> None:
    """A large file whose first bytes are not what its kind starts with is refused before it is read whole."""
    size = path.stat().st_size
    suffix = path.suffix.lower()
    if size <= SIGNATURE_CHECK_BYTES:
        return
    with path.open("rb") as f:
        head = f.read(4096)
    if kind == "image" and suffix in _SIGNED_SUFFIXES:
        if head.startswith(_SIGNATURES) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP"):
            return
        raise CnnconvError(f"{name}: not an image: its first bytes are no image format's (PNG, JPEG, TIFF, BMP, "
                           f"WebP, GIF, PPM/PGM/PBM); refused before reading its {size:,} bytes")
    if kind == "array" and suffix == ".npy" and not head.startswith(b"\x93NUMPY"):
        raise CnnconvError(f"{name}: not a .npy file: it does not start as one (\\x93NUMPY); "
                           f"refused before reading its {size:,} bytes")
    if kind == "array" and suffix != ".npy" and not _text_head(head):
        raise CnnconvError(f"{name}: not a text table of numbers: its first bytes are not UTF-8 text; "
                           f"refused before reading its {size:,} bytes")


def _text_head(head: bytes) -> bool:
    """Whether the first bytes of a file can begin a UTF-8 text (a character cut at the end is fine)."""
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start >= len(head) - 3 and exc.reason == "unexpected end of data"
    return True
