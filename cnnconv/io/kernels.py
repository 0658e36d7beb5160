"""Resolve a ``--kernel`` spec: a bundled name, a file, an inline matrix, a parametric kernel
or an ImageMagick kernel string.

The bundled kernels are the files of the repository's top-level ``kernels/`` folder,
installed as the package ``cnnconv._kernels`` (found with ``importlib.resources``), or
read from ``kernels/`` next to the package when running from a checkout.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePath
from tokenize import TokenError

import numpy as np

from cnnconv.errors import CnnconvError
from cnnconv.kernels import Kernel, closest_name, parse_inline, parse_kernel_text, parse_vips_mat
from cnnconv.kernels.imagemagick import is_imagemagick, parse_imagemagick
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
        from cnnconv.io.oserrors import describe

        raise CnnconvError(f"cannot read kernel file {label}: {describe(exc)}") from None
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
        return Kernel(kernel.name, kernel.weights, kernel.scale, kernel.offset, f"from {label}", kernel.origin)
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
    cnnconv.errors.CnnconvError: cannot read kernel file no-such-file.txt: no such file; check the path
    """
    path = Path(path)
    return _read(path, path.stem)


def _unknown(spec: str) -> CnnconvError:
    head = spec.partition(":")[0].strip().lower()
    names = bundled_names()
    if head in ("gaussian", "box", "log", "dog", "unsharp"):
        form = next(f for f in PARAMETRIC_FORMS if f.startswith(head))
        similar = [n for n in names if n.startswith(head)]
        also = f" (or a bundled one: {', '.join(similar)})" if similar else ""
        return CnnconvError(f"kernel {spec!r} needs parameters: {form}{also}")
    head, colon, rest = spec.strip().partition(":")
    if colon and head.isalpha():  # Name:args, ImageMagick's form: suggest its kernel names too
        from cnnconv.kernels.imagemagick import IM_KERNEL_NAMES

        guess = closest_name(head.lower(), list(IM_KERNEL_NAMES) + [f.split(":")[0] for f in PARAMETRIC_FORMS])
        if guess:
            spelled = IM_KERNEL_NAMES.get(guess, guess)
            return CnnconvError(f"unknown kernel {spec!r}; did you mean '{spelled}:{rest}'? (cnnconv kernels lists them)")
    guess = closest_name(spec.strip().lower().replace("_", "-"), names + [f.split(":")[0] for f in PARAMETRIC_FORMS])
    heads = {f.split(":")[0]: f for f in PARAMETRIC_FORMS}
    if guess in heads:  # a parametric kernel needs its parameters: give an example and the bundled ones
        example = {"gaussian": "gaussian:sigma=1", "log": "log:sigma=1.4", "dog": "dog:1,2", "box": "box:3",
                   "unsharp": "unsharp:sigma=1"}.get(guess, heads[guess])
        similar = [n for n in names if n.startswith(guess)]
        also = "".join(f" or {n!r}" for n in similar[:3])
        return CnnconvError(f"unknown kernel {spec!r}; did you mean {example!r}{also}? (cnnconv kernels lists them)")
    if guess:
        return CnnconvError(f"unknown kernel {spec!r}; did you mean {guess!r}? (cnnconv kernels lists them)")
    return CnnconvError(
        f"unknown kernel {spec!r}: not a bundled name, an existing file, an inline matrix like "
        f"'1,2,1; 0,0,0; -1,-2,-1', a parametric kernel like gaussian:sigma=2 or an ImageMagick one "
        f"like im:Gaussian:0x2 (cnnconv kernels lists them)"
    )


_INLINE = re.compile(r"[\s,;]*[+\-\u2212]?(?:\d|\.\d)[\d\s,;.eE+\-\u2212]*")


def load_kernels(spec: str | PurePath) -> list[Kernel]:
    """The kernels a ``--kernel`` value names: one, or several for an ImageMagick list.

    Tried in order:

    1. a bundled name (case and ``_``/``-`` ignored), e.g. ``sobel-x``, ``laplacian``;
    2. an ImageMagick kernel string that cannot be anything else: an ``im:`` prefix,
       ``WxH[+X+Y]: values``, or a name only ImageMagick has (``Sobel:90``,
       ``Laplacian:1``, ``Blur:0x2``, ``Disk:2``, ``Unity``);
    3. a parametric kernel (``gaussian:sigma=2``, ``box:7``, ``box:3x5``,
       ``log:sigma=1.4``, ``dog:1,2``, ``unsharp:sigma=1,amount=0.5``). When
       cnnconv's own reading of ``gaussian``, ``log`` or ``dog`` fails and ImageMagick's
       succeeds (``Gaussian:0x2``, ``LoG:0,1.4``, ``DoG:0,1,2``: a radius 0 is no
       sigma), it is ImageMagick's; ``Gaussian:2`` is cnnconv's sigma 2 (ImageMagick's
       radius 2 is ``im:Gaussian:2``);
    4. an existing file;
    5. an inline matrix: rows separated by ``;``, values by ``,`` or spaces
       (``"1 2 1; 2 4 2; 1 2 1"``). A row of nine numbers is a 1x9 kernel; ImageMagick's
       old nine-value 3x3 list needs ``im:``.

    A ``pathlib`` path is always a file.

    Examples
    --------
    >>> [k.name for k in load_kernels("Sobel:>")]
    ['im:Sobel:>', 'im:Sobel@90', 'im:Sobel@180', 'im:Sobel@270']
    >>> load_kernels("1 2 1")[0].shape, load_kernels("Gaussian:0x2")[0].name
    ((1, 3), 'im:Gaussian:0x2')
    """
    if isinstance(spec, PurePath):
        return [read_kernel_file(spec)]
    if not isinstance(spec, str) or not spec.strip():
        raise CnnconvError(f"a kernel spec must be a non-empty string, got {spec!r}")
    files = _bundled_files()
    key = spec.strip().lower().replace("_", "-")
    if key in files:
        return [_read(files[key], key)]
    if is_imagemagick(spec):
        return parse_imagemagick(spec)
    if is_parametric(spec):
        try:
            return [parse_parametric(spec.strip())]
        except CnnconvError as ours:
            head, _, args = spec.strip().partition(":")
            # ImageMagick's reading only when it has a sigma (RxS, or R,S...): "log:0" stays an error
            if head.strip().lower() not in ("gaussian", "log", "dog"):
                raise
            if not ("x" in args or "," in args):
                raise CnnconvError(f"{ours} (for ImageMagick's form write im:{spec.strip()})") from None
            try:
                return parse_imagemagick(spec)
            except CnnconvError:
                raise CnnconvError(f"{ours} (for ImageMagick's form write im:{spec.strip()})") from None
    path = Path(spec)
    try:
        exists = path.exists()
    except (OSError, ValueError):  # a name too long for the file system, a NUL byte
        exists = False
    if exists:
        return [read_kernel_file(path)]
    if path.suffix.lower() in KERNEL_SUFFIXES or "/" in spec or "\\" in spec:
        raise CnnconvError(f"kernel file {spec!r} not found")
    if "," in spec or ";" in spec or _INLINE.fullmatch(spec):
        return [parse_inline(spec)]
    raise _unknown(spec)


def load_kernel(spec: str | PurePath) -> Kernel:
    """The one kernel a ``--kernel`` value names (see :func:`load_kernels` for the order tried).

    Examples
    --------
    >>> load_kernel("sobel-x").weights.tolist()
    [[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]
    >>> load_kernel("box:3").shape, load_kernel("1,1;1,1").shape, load_kernel("box:3x5").shape
    ((3, 3), (2, 2), (3, 5))
    >>> load_kernel("sobelx")
    Traceback (most recent call last):
    ...
    cnnconv.errors.CnnconvError: unknown kernel 'sobelx'; did you mean 'sobel-x'? (cnnconv kernels lists them)
    """
    kernels = load_kernels(spec)
    if len(kernels) > 1:
        raise CnnconvError(
            f"kernel {str(spec)!r} is a list of {len(kernels)} kernels; cnnconv filter applies each "
            "(one output each, or --combine)"
        )
    return kernels[0]
