"""Resolve a ``--kernel`` spec: a bundled name, a file, an inline matrix or a parametric kernel.

The bundled kernels are the files of the repository's top-level ``kernels/`` folder,
installed as the package ``cnnconv._kernels`` (found with ``importlib.resources``), or
read from ``kernels/`` next to the package when running from a checkout.
"""

from __future__ import annotations

from pathlib import Path, PurePath
from tokenize import TokenError

import numpy as np

from cnnconv.errors import CnnconvError
from cnnconv.kernels import Kernel, closest_name, parse_inline, parse_kernel_text, parse_vips_mat
from cnnconv.kernels.parametric import PARAMETRIC_FORMS, is_parametric, parse_parametric

#: File types a kernel file may have; any other existing file is read as a text matrix.
KERNEL_SUFFIXES = (".txt", ".csv", ".mat", ".npy")
#: Kernel files larger than this are refused (a kernel is a few numbers, not an image).
MAX_KERNEL_FILE_BYTES = 16 * 2**20


def bundled_folder():
    """The folder (a ``Path`` or a ``Traversable``) holding the bundled kernel files."""
    import importlib.util

    try:
        spec = importlib.util.find_spec("cnnconv._kernels")
    except (ModuleNotFoundError, ValueError):
        spec = None
    if spec is None:  # a checkout: no need to import importlib.resources (10 ms) to find out
        return Path(__file__).resolve().parents[2] / "kernels"
    for location in spec.submodule_search_locations or ():  # installed as plain files: the same
        folder = Path(location)
        if folder.is_dir() and any(p.name.endswith(KERNEL_SUFFIXES) for p in folder.iterdir()):
            return folder
    import importlib.resources  # a zip or another loader

    try:
        folder = importlib.resources.files("cnnconv._kernels")
        if any(entry.name.endswith(KERNEL_SUFFIXES) for entry in folder.iterdir()):
            return folder
    except (ModuleNotFoundError, FileNotFoundError, NotADirectoryError):
        pass
    return Path(__file__).resolve().parents[2] / "kernels"


def _bundled_files() -> dict:
    folder = bundled_folder()
    try:
        entries = list(folder.iterdir())
    except OSError as exc:
        raise CnnconvError(f"cannot read the bundled kernels in {folder}: {exc}") from None
    return {
        entry.name.rsplit(".", 1)[0]: entry
        for entry in sorted(entries, key=lambda e: e.name.rsplit(".", 1)[0])
        if entry.name.endswith(KERNEL_SUFFIXES) and not entry.name.startswith((".", "_"))
    }


def bundled_names() -> list[str]:
    """Names of the bundled kernels, sorted.

    Examples
    --------
    >>> "sobel-x" in bundled_names()
    True
    """
    return list(_bundled_files())


def list_bundled() -> list[Kernel]:
    """Every bundled kernel, sorted by name.

    Examples
    --------
    >>> [k.name for k in list_bundled()][:3]
    ['box3', 'box5', 'edge-enhance']
    """
    return [_read(entry, name) for name, entry in _bundled_files().items()]


def _read(entry, name: str) -> Kernel:
    """Read a kernel file (a ``Path`` or a ``Traversable``) by its suffix."""
    label = str(entry) if isinstance(entry, Path) else entry.name
    try:
        if entry.is_dir():
            raise CnnconvError(f"kernel file {label} is a directory")
        with entry.open("rb") as f:
            data = f.read(MAX_KERNEL_FILE_BYTES + 1)  # bounded: a huge file or /dev/zero must not fill memory
    except OSError as exc:
        raise CnnconvError(f"cannot read kernel file {label}: {exc.strerror or exc}") from None
    if len(data) > MAX_KERNEL_FILE_BYTES:
        raise CnnconvError(f"kernel file {label} is larger than {MAX_KERNEL_FILE_BYTES} bytes, the most a kernel file may hold")
    if entry.name.lower().endswith(".npy"):
        return _from_npy(data, label, name)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CnnconvError(f"{label} is not a UTF-8 text file (byte {data[exc.start]:#04x} at offset {exc.start})") from None
    if "\x00" in text:
        raise CnnconvError(f"{label} is not a text file (it holds NUL bytes)")
    if entry.name.lower().endswith(".mat"):
        return parse_vips_mat(text, label, name)
    kernel = parse_kernel_text(text, label, name)
    if not kernel.description:
        return Kernel(kernel.name, kernel.weights, kernel.scale, kernel.offset, f"from {label}")
    return kernel


def _from_npy(data: bytes, label: str, name: str) -> Kernel:
    import io

    try:
        array = np.load(io.BytesIO(data), allow_pickle=False)
    except (ValueError, OSError, EOFError, SyntaxError, TokenError, MemoryError) as exc:  # a damaged header
        raise CnnconvError(f"{label} is not a readable .npy array without pickles: {exc or type(exc).__name__}") from None
    if not isinstance(array, np.ndarray) or array.dtype.kind not in "biuf":
        raise CnnconvError(f"{label} must hold real numbers, got {getattr(array, 'dtype', type(array))}")
    if array.ndim == 1:
        array = array[None, :]
    if array.ndim not in (2, 3) or array.size == 0:
        raise CnnconvError(f"{label} must hold a non-empty (kh, kw) or (kh, kw, C) array, got shape {array.shape}")
    if not np.isfinite(array).all():
        raise CnnconvError(f"{label} holds NaN or infinity; a kernel must be finite")
    return Kernel(name, array, description=f"from {label}")


def read_kernel_file(path) -> Kernel:
    """Read a kernel file: ``.mat`` (libvips), ``.npy``, or a text matrix (``.txt``, ``.csv``, other).

    Examples
    --------
    >>> read_kernel_file("no-such-file.txt")
    Traceback (most recent call last):
    ...
    cnnconv.errors.CnnconvError: cannot read kernel file no-such-file.txt: No such file or directory
    """
    path = Path(path)
    return _read(path, path.stem)


def _unknown(spec: str) -> CnnconvError:
    head = spec.partition(":")[0].strip().lower()
    names = bundled_names()
    if head in ("gaussian", "box", "log", "dog"):
        form = next(f for f in PARAMETRIC_FORMS if f.startswith(head))
        similar = [n for n in names if n.startswith(head)]
        also = f" (or a bundled one: {', '.join(similar)})" if similar else ""
        return CnnconvError(f"kernel {spec!r} needs parameters: {form}{also}")
    guess = closest_name(spec.strip().lower().replace("_", "-"), names + [f.split(":")[0] for f in PARAMETRIC_FORMS])
    if guess:
        return CnnconvError(f"unknown kernel {spec!r}; did you mean {guess!r}? (cnnconv kernels lists them)")
    return CnnconvError(
        f"unknown kernel {spec!r}: not a bundled name, an existing file, an inline matrix like "
        f"'1,2,1; 0,0,0; -1,-2,-1' or a parametric kernel like gaussian:sigma=2 (cnnconv kernels lists them)"
    )


def load_kernel(spec: str | PurePath) -> Kernel:
    """The kernel a ``--kernel`` value names.

    Tried in order: a bundled name (case and ``_``/``-`` ignored), a parametric kernel
    (``gaussian:sigma=2``, ``box:7``, ``log:sigma=1.4``, ``dog:1,2``), an existing
    file, an inline matrix (``"1,2,1; 0,0,0; -1,-2,-1"``, recognised by its ``,`` or ``;``).
    A ``pathlib`` path is always a file.

    Examples
    --------
    >>> load_kernel("sobel-x").weights.tolist()
    [[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]
    >>> load_kernel("box:3").shape, load_kernel("1,1;1,1").shape
    ((3, 3), (2, 2))
    >>> load_kernel("sobelx")
    Traceback (most recent call last):
    ...
    cnnconv.errors.CnnconvError: unknown kernel 'sobelx'; did you mean 'sobel-x'? (cnnconv kernels lists them)
    """
    if isinstance(spec, PurePath):
        return read_kernel_file(spec)
    if not isinstance(spec, str) or not spec.strip():
        raise CnnconvError(f"a kernel spec must be a non-empty string, got {spec!r}")
    files = _bundled_files()
    key = spec.strip().lower().replace("_", "-")
    if key in files:
        return _read(files[key], key)
    if is_parametric(spec):
        return parse_parametric(spec.strip())
    path = Path(spec)
    try:
        exists = path.exists()
    except (OSError, ValueError):  # a name too long for the file system, a NUL byte
        exists = False
    if exists:
        return read_kernel_file(path)
    if path.suffix.lower() in KERNEL_SUFFIXES or "/" in spec or "\\" in spec:
        raise CnnconvError(f"kernel file {spec!r} not found")
    if "," in spec or ";" in spec:
        return parse_inline(spec)
    raise _unknown(spec)
