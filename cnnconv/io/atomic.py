"""Atomic output files: never a half-written output, never an input overwritten.

Every output is first written to a hidden temporary file in the target directory (so the
final ``os.replace`` is a rename inside one file system, atomic on POSIX and Windows) and
renamed into place only once it is complete. Any error, a full disk included, removes the
temporary file and leaves the previous content of the target, if any, untouched.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from cnnconv.errors import CnnconvError


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Whether two paths name the same file, following symbolic links.

    Examples
    --------
    >>> same_file("a/../b.png", "b.png")
    True
    >>> same_file("a.png", "b.png")
    False
    """
    try:
        return os.path.samefile(a, b)
    except OSError:
        # One of them does not exist yet: compare the resolved paths instead.
        return _resolved(a) == _resolved(b)


def _resolved(path: str | os.PathLike) -> Path:
    # os.path.realpath, not Path.resolve: a symbolic link loop is no exception here (the
    # read or write that follows reports it as a one-line error).
    return Path(os.path.realpath(path))


class InputFiles:
    """The files a command reads, so that no output overwrites one of them.

    Each input is looked at once (its device and inode, and its resolved path), so checking
    the outputs of a batch of N files costs N look-ups, not N².

    Examples
    --------
    >>> guard = InputFiles(["in.png", "-"])
    >>> guard.find("out.png") is None
    True
    >>> guard.find("./in.png")
    'in.png'
    """

    def __init__(self, inputs: Iterable[str | os.PathLike]) -> None:
        self._by_inode: dict[tuple[int, int], str] = {}
        self._by_path: dict[Path, str] = {}
        for source in inputs:
            if str(source) == "-":
                continue
            self._by_path.setdefault(_resolved(source), str(source))
            try:
                info = os.stat(source)
            except OSError:
                continue
            self._by_inode.setdefault((info.st_dev, info.st_ino), str(source))

    def find(self, output: str | os.PathLike) -> str | None:
        """The input that ``output`` names (following links and ``..``), or None."""
        if str(output) == "-":
            return None
        try:
            info = os.stat(output)
        except OSError:
            # Not reachable as written (e.g. "missing/../in.png"): compare the paths as
            # resolved, which folds ".." lexically past a missing folder.
            return self._by_path.get(_resolved(output))
        return self._by_inode.get((info.st_dev, info.st_ino))

    def refuse(self, output: str | os.PathLike) -> None:
        """Raise ``CnnconvError`` when ``output`` is one of the inputs."""
        source = self.find(output)
        if source is not None:
            raise CnnconvError(
                f"{source}: the output {output} is this input file; "
                "choose another output name so the input is not destroyed"
            )


def refuse_overwriting_inputs(output: str | os.PathLike, inputs: Iterable[str | os.PathLike]) -> None:
    """Raise ``CnnconvError`` when ``output`` is one of ``inputs`` (``-`` is never a file).

    For many outputs against the same inputs, build one :class:`InputFiles` instead.

    Examples
    --------
    >>> refuse_overwriting_inputs("out.png", ["in.png", "-"])
    >>> refuse_overwriting_inputs("./in.png", ["in.png"])
    Traceback (most recent call last):
    ...
    cnnconv.errors.CnnconvError: in.png: the output ./in.png is this input file; choose another output name so the input is not destroyed
    """
    InputFiles(inputs).refuse(output)


#: Whole temporaries waiting for :func:`commit` (while :func:`deferring_renames` is on), else None.
_deferred: list[tuple[str, str]] | None = None


@contextmanager
def deferring_renames() -> Iterator[list[tuple[str, str]]]:
    """Leave each written temporary in place and list ``(temporary, output)`` instead of renaming it.

    A ``--jobs`` worker writes its outputs so, and the parent renames them (:func:`commit`)
    only once it holds the worker's report: a worker killed between the rename and the
    report would otherwise leave a whole output behind a file reported as not done. What is
    not committed carries the worker's id and is removed as its temporaries are.

    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "out.txt"
    >>> with deferring_renames() as pending:
    ...     write_bytes_atomic(target, b"1")
    >>> target.exists(), len(pending)
    (False, 1)
    >>> commit(pending); target.read_bytes()
    b'1'
    """
    global _deferred
    previous, _deferred = _deferred, []
    try:
        yield _deferred
    finally:
        _deferred = previous


def commit(pending: Iterable[tuple[str, str]]) -> None:
    """Rename each temporary listed by :func:`deferring_renames` to its output."""
    for tmp, path in pending:
        put_in_place(tmp, path)


def put_in_place(tmp: str | os.PathLike, path: str | os.PathLike) -> None:
    """Rename the complete temporary ``tmp`` (a file or a directory) to ``path``, replacing it.

    A file replaces atomically (``os.replace``). A directory (a Zarr store) cannot be renamed
    over one that holds anything, so on Linux the two are exchanged in one step
    (``renameat2(RENAME_EXCHANGE)``) and the old one, now under the temporary's name, is
    removed; elsewhere the old one is first renamed aside, then removed.

    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> for name, content in (("old", b"0"), ("new", b"1")):
    ...     (d / name).mkdir(); _ = (d / name / "chunk").write_bytes(content)
    >>> put_in_place(d / "new", d / "old")
    >>> sorted(p.name for p in d.iterdir()), (d / "old" / "chunk").read_bytes()
    (['old'], b'1')
    """
    if not (os.path.isdir(tmp) and os.path.isdir(path) and not os.path.islink(path)):
        os.replace(tmp, path)
        return
    if _exchange(tmp, path):
        shutil.rmtree(tmp, ignore_errors=True)
        return
    aside = f"{str(tmp)[:-len(TEMP_SUFFIX)]}old{TEMP_SUFFIX}"  # still a temporary's name, swept if left
    os.rename(path, aside)
    try:
        os.rename(tmp, path)
    except BaseException:
        os.rename(aside, path)
        raise
    shutil.rmtree(aside, ignore_errors=True)


def _exchange(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Swap two paths atomically (Linux's ``renameat2``); False where the system cannot."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        at_fdcwd, rename_exchange = -100, 2
        return libc.renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0
    except (OSError, AttributeError):  # an old C library without renameat2
        return False


def remove_temporary(path: str | os.PathLike) -> None:
    """Remove a temporary output, a file or a directory, if it is still there."""
    try:
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.unlink(path)
    except OSError:
        pass


def write_atomic(path: str | os.PathLike, write: Callable[[BinaryIO], None]) -> None:
    """Call ``write(f)`` on a temporary file beside ``path``, then rename it to ``path``.

    The new file gets the permissions an ordinary ``open(path, "wb")`` would give it.
    If ``write`` raises (anything, a full disk included) or the rename fails, the
    temporary file is removed and the exception goes on; ``OSError`` becomes a
    ``CnnconvError`` naming the path.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "out.bin"
    >>> write_atomic(target, lambda f: f.write(b"data"))
    >>> target.read_bytes()
    b'data'
    """
    path = Path(path)
    if path.is_dir():
        raise CnnconvError(f"{path}: is a directory; give a file name for the output")

    def make(directory: Path) -> tuple[str, int]:
        fd, tmp = tempfile.mkstemp(prefix=temporary_prefix(path.name), suffix=TEMP_SUFFIX, dir=directory)
        return tmp, fd

    def fill(tmp: str, fd: int) -> None:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())

    _through_temporary(path, make, fill, 0o666)


def write_directory_atomic(path: str | os.PathLike, fill: Callable[[str], None], *, kind: str,
                           is_replaceable: Callable[[Path], bool]) -> None:
    """Call ``fill(tmp)`` on a temporary directory beside ``path``, then put it in ``path``'s place.

    For outputs that are directories (a Zarr store, ``kind`` in messages). An existing
    ``path`` is replaced only if ``is_replaceable(path)`` says it is one of those (a
    directory of anything else is never removed), and never if it is a file. Errors and
    clean-up as :func:`write_atomic`.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "out.store"
    >>> write_directory_atomic(target, lambda d: pathlib.Path(d, "meta").write_text("1"), kind="store",
    ...                        is_replaceable=lambda p: (p / "meta").exists())
    >>> (target / "meta").read_text()
    '1'
    """
    path = Path(path)
    if path.is_dir() and not is_replaceable(path):
        raise CnnconvError(f"{path}: is a directory that is not a {kind}, which is never replaced; "
                           "choose another output name")
    if path.exists() and not path.is_dir():
        raise CnnconvError(f"{path}: is a file, and a {kind} is a directory; remove it or choose another name")

    def make(directory: Path) -> tuple[str, None]:
        return tempfile.mkdtemp(prefix=temporary_prefix(path.name), suffix=TEMP_SUFFIX, dir=directory), None

    _through_temporary(path, make, lambda tmp, _: fill(tmp), 0o777)


def _through_temporary(path: Path, make, fill, mode: int) -> None:
    """Make a temporary beside ``path`` (``make(directory) -> (tmp, handle)``), ``fill(tmp, handle)`` it,
    give it ``mode`` less the umask and put it in ``path``'s place (or list it while renames are
    deferred); on any failure remove it. ``OSError`` becomes a ``CnnconvError`` naming ``path``."""
    from cnnconv.io.oserrors import describe

    directory = path.parent if str(path.parent) else Path(".")
    try:
        try:
            os.stat(directory)
        except FileNotFoundError:
            raise CnnconvError(f"{path}: the directory {directory} does not exist; create it first") from None
        if not directory.is_dir():
            raise CnnconvError(f"{path}: {directory} is a file, not a directory; choose another output path")
        tmp, handle = make(directory)
    except OSError as exc:
        raise CnnconvError(f"{path}: cannot write here: {describe(exc)}") from None
    try:
        fill(tmp, handle)
        os.chmod(tmp, mode & ~_umask())
        if _deferred is not None:
            _deferred.append((tmp, str(path)))
        else:
            put_in_place(tmp, path)
    except BaseException as exc:
        remove_temporary(tmp)
        if isinstance(exc, OSError):
            raise CnnconvError(f"{path}: cannot write: {describe(exc)}") from None
        raise


#: Every temporary output ends so, after ``.cnnconv-<pid>-<random>``: no user file is named like it.
TEMP_SUFFIX = ".part"
_TEMP_NAME = re.compile(r"^\..*\.cnnconv-(\d+)-[A-Za-z0-9_]+\.part$", re.S)


def temporary_prefix(name: str) -> str:
    """The start of a temporary file's name for the output ``name`` (hidden, with this process's id).

    The name is cut so the temporary's stays within 255 bytes whatever the output's.

    >>> temporary_prefix("out.png") == f".out.png.cnnconv-{os.getpid()}-"
    True
    """
    short = os.fsencode(name)[:120].decode("utf-8", "ignore") if isinstance(name, str) else name
    return f".{short}.cnnconv-{os.getpid()}-"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: another user's process, alive
        return True
    try:  # a zombie (killed, not yet reaped by whoever inherited it) is gone too
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return True


def remove_own_temporaries(directories, pid: int | None = None) -> None:
    """Remove the temporaries process ``pid`` (default: this one) has in ``directories``.

    For a process stopped by a signal: the signal may land between the temporary's
    creation and the writer's cleanup handler (inside ``mkstemp``), so the stopping code
    sweeps by name as well.

    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / f".o.png.cnnconv-{os.getpid()}-abc.part").write_bytes(b"half")
    >>> remove_own_temporaries([d]); list(d.iterdir())
    []
    """
    mark = f".cnnconv-{os.getpid() if pid is None else pid}-"
    for directory in set(map(str, directories)):
        try:
            entries = list(os.scandir(directory or "."))
        except OSError:
            continue
        for entry in entries:
            if mark in entry.name and _TEMP_NAME.match(entry.name):
                remove_temporary(entry.path)


def remove_stale_temporaries(directory: str | os.PathLike) -> list[str]:
    """Remove the temporary outputs in ``directory`` left by cnnconv processes that are gone.

    A run killed by SIGKILL (``timeout -s KILL``, the out-of-memory killer) cannot remove
    its temporaries; the next run writing into the same folder removes those whose
    process no longer exists and returns their paths, so the command can say so. A
    temporary of a running process (this one or another) is left alone.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / ".out.png.cnnconv-999999999-abc.part").write_bytes(b"half")
    >>> _ = (d / f".b.png.cnnconv-{os.getpid()}-abc.part").write_bytes(b"mine")
    >>> [pathlib.Path(p).name for p in remove_stale_temporaries(d)]
    ['.out.png.cnnconv-999999999-abc.part']
    """
    removed = []
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return removed
    for entry in entries:
        match = _TEMP_NAME.match(entry.name)
        if match is None or _alive(int(match.group(1))):
            continue
        try:
            if entry.is_file(follow_symlinks=False) or entry.is_dir(follow_symlinks=False):
                remove_temporary(entry.path)
                removed.append(entry.path)
        except OSError:
            pass
    return sorted(removed)


def remove_abandoned_temporaries(outputs: Iterable[str | os.PathLike]) -> list[str]:
    """Remove the temporaries of ``outputs`` whose process is not running on this machine; their paths.

    For the end of a batch on a cluster: a worker killed while it wrote an output leaves its
    temporary beside it (the scheduler runs the file again elsewhere). Once every task is
    over, a temporary of one of the batch's outputs belongs to no running task: it is either
    a dead local process's, or a worker's on another machine (whose process id means
    nothing here), and is removed.

    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / ".o.png.cnnconv-999999999-abc.part").write_bytes(b"half")
    >>> _ = (d / ".other.png.cnnconv-999999999-abc.part").write_bytes(b"not ours")
    >>> [pathlib.Path(p).name for p in remove_abandoned_temporaries([d / "o.png"])]
    ['.o.png.cnnconv-999999999-abc.part']
    """
    by_folder: dict[str, set[str]] = {}
    for output in outputs:
        path = Path(output)
        by_folder.setdefault(str(path.parent), set()).add(path.name)
    removed = []
    for folder, names in by_folder.items():
        starts = tuple(temporary_prefix(name).rsplit(f"{os.getpid()}-", 1)[0] for name in names)
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            match = _TEMP_NAME.match(entry.name)
            if match and entry.name.startswith(starts) and (int(match.group(1)) == os.getpid()
                                                             or not _alive(int(match.group(1)))):
                remove_temporary(entry.path)
                removed.append(entry.path)
    return sorted(removed)


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`write_atomic`).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "x.txt"
    >>> write_bytes_atomic(target, b"1 2 3\\n")
    >>> target.read_text()
    '1 2 3\\n'
    """
    write_atomic(path, lambda f: f.write(data))


def _umask() -> int:
    # os.umask can only be read by setting it; put it straight back.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
