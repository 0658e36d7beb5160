"""The one registry of what cnnconv reads: image and array file kinds, their suffixes, the pixel limit.

Every command that takes files by name or from a folder (``filter DIR/``, ``pool``, ``train``'s
and ``evaluate``'s data sets, ``predict``) asks this module which files it takes, so a suffix
added here is read everywhere at once. Nothing here imports NumPy or Pillow: the command line
can consult it before it decides to load them.

Examples
--------
>>> input_kind("cat.PGM"), input_kind("signal.csv"), input_kind("notes.md")
('image', 'array', None)
>>> ".ppm" in IMAGE_SUFFIXES and ".npy" in READABLE_SUFFIXES
True
"""

from __future__ import annotations

import os
from pathlib import Path

#: Image file suffix -> Pillow's format name, for the formats cnnconv reads and writes.
IMAGE_FORMATS = {
    ".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".tif": "TIFF", ".tiff": "TIFF",
    ".bmp": "BMP", ".webp": "WEBP", ".gif": "GIF", ".ppm": "PPM", ".pgm": "PGM", ".pbm": "PBM", ".pfm": "PFM",
}  # fmt: skip
#: Suffixes (lower case, with the dot) read as pictures.
IMAGE_SUFFIXES = frozenset(IMAGE_FORMATS)
#: Formats of numbers written as text (:mod:`cnnconv.io.arrays`): comma- or space-separated tables.
TEXT_ARRAY_FORMATS = ("csv", "txt")
#: Formats of numbers in files: a binary ``.npy`` array, a Zarr store (a directory) and the text tables.
ARRAY_FORMATS = ("npy", "zarr", *TEXT_ARRAY_FORMATS)
#: Suffixes of inputs and outputs that are directories (Zarr stores), not files.
DIRECTORY_SUFFIXES = frozenset({".zarr"})
#: Suffixes read as arrays rather than images, in the order of :data:`ARRAY_FORMATS`.
ARRAY_SUFFIXES = tuple("." + fmt for fmt in ARRAY_FORMATS)
#: Everything ``filter`` and ``pool`` take from a folder or a pattern.
READABLE_SUFFIXES = IMAGE_SUFFIXES | frozenset(ARRAY_SUFFIXES)
#: Pixels a decoded picture may hold unless the user lifts the limit: Pillow's own
#: decompression-bomb threshold (a 1/4 GiB RGBA canvas), so cnnconv refuses what Pillow warns of.
DEFAULT_MAX_PIXELS = 89_478_485

_KINDS = {"image": IMAGE_SUFFIXES, "array": frozenset(ARRAY_SUFFIXES)}


def input_kind(path: str | os.PathLike) -> str | None:
    """``"image"`` or ``"array"`` by a file name's suffix (any case), None for anything else.

    Examples
    --------
    >>> input_kind("a/b/photo.JPG"), input_kind("w.npy"), input_kind("README")
    ('image', 'array', None)
    """
    suffix = Path(path).suffix.lower()
    return next((kind for kind, suffixes in _KINDS.items() if suffix in suffixes), None)


def describe_suffixes(kinds: tuple[str, ...] = ("image", "array")) -> str:
    """The suffixes of ``kinds``, sorted, for a message that says what was looked for.

    Examples
    --------
    >>> describe_suffixes(("array",))
    '.csv, .npy, .txt, .zarr'
    """
    return ", ".join(sorted(set().union(*(_KINDS[k] for k in kinds))))


def input_files(
    folder: str | os.PathLike,
    kinds: tuple[str, ...] = ("image", "array"),
    *,
    recursive: bool = False,
    unreadable: list | None = None,
) -> list[Path]:
    """The files of ``folder`` (and of its sub-folders if ``recursive``) whose kind is in ``kinds``.

    A Zarr store (a directory named ``*.zarr``) counts as one array file and is not walked
    into. Hidden files (a name starting with ``.``) are left out, and so are the files of hidden
    sub-folders when ``recursive``; links to folders are not walked into. The result is sorted
    by path. A folder that cannot be listed is never taken for an empty one (``rglob`` would
    skip it without a word): the ``OSError`` is raised, or, for a sub-folder when
    ``unreadable`` is a list, appended to it as ``(path, error)`` while the walk goes on.

    Parameters
    ----------
    folder : path
        The folder to list.
    kinds : tuple of {"image", "array"}
        Which kinds of file to take.
    recursive : bool
        Also walk the sub-folders.
    unreadable : list, optional
        Where to put the sub-folders that cannot be listed instead of raising.

    Returns
    -------
    list of pathlib.Path

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     for name in ("b.ppm", "a.png", "c.npy", ".hidden.png", "notes.md"):
    ...         _ = (Path(d) / name).write_bytes(b"")
    ...     [p.name for p in input_files(d)], [p.name for p in input_files(d, ("image",))]
    (['a.png', 'b.ppm', 'c.npy'], ['a.png', 'b.ppm'])
    """
    suffixes = frozenset().union(*(_KINDS[k] for k in kinds))
    found: list[Path] = []
    pending = [(Path(folder), True)]
    while pending:
        directory, top = pending.pop()
        try:
            with os.scandir(directory) as listing:
                entries = sorted(listing, key=lambda e: e.name)
        except OSError as exc:
            if top or unreadable is None:
                raise
            unreadable.append((directory, exc))
            continue
        for entry in entries:
            if entry.name.startswith("."):
                continue
            path = directory / entry.name
            suffix = path.suffix.lower()
            if suffix in DIRECTORY_SUFFIXES:
                if suffix in suffixes and _is_folder(entry):
                    found.append(path)
            elif recursive and _is_folder(entry):
                pending.append((path, False))
            elif suffix in suffixes and path.is_file():
                found.append(path)
    return sorted(found)


def _is_folder(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir(follow_symlinks=False)
    except OSError:
        return False
