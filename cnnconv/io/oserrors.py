"""One mapping of operating-system errors to one-line messages that say how to fix them.

Every command reads and writes files through paths a user typed; what the system answers
(``ELOOP``, ``ENAMETOOLONG``, ``EACCES``, ...) becomes the same short sentence wherever it
happens, instead of ``RuntimeError: Symlink loop`` or an internal error. :func:`describe`
gives the sentence; :func:`shown` makes a file name safe to print on one line.
"""

from __future__ import annotations

import errno
import os
import re

_MESSAGES = {
    errno.ENOENT: "no such file; check the path",
    errno.ELOOP: "symbolic link loop (a link that leads back to itself); fix or remove the link",
    errno.ENAMETOOLONG: "a name in the path is too long (file systems allow 255 bytes per name); use a shorter name",
    errno.EACCES: "permission denied; check the permissions (ls -l) or choose another path",
    errno.EPERM: "operation not permitted; check the permissions (ls -l) or choose another path",
    errno.ENOTDIR: "a part of the path is a file, not a directory",
    errno.EISDIR: "is a directory, not a file",
    errno.ENOSPC: "no space left on device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "read-only file system; choose another path",
    errno.EBADF: "the stream is closed",
    errno.EMFILE: "too many open files; raise the limit (ulimit -n) or use fewer --jobs",
    errno.EIO: "input/output error (a failing disk or a lost network mount?)",
    errno.EFBIG: "file too large for this file system",
    errno.EXDEV: "cannot rename across file systems",
}


def describe(exc: BaseException) -> str:
    """The one-line reason for an ``OSError`` (or a ``RuntimeError`` from ``Path.resolve``).

    Examples
    --------
    >>> describe(OSError(errno.ELOOP, "Too many levels of symbolic links"))
    'symbolic link loop (a link that leads back to itself); fix or remove the link'
    >>> describe(RuntimeError("Symlink loop from 'photos/a'"))
    'symbolic link loop (a link that leads back to itself); fix or remove the link'
    >>> describe(OSError(errno.ENOTSUP, "Operation not supported"))
    'Operation not supported'
    """
    if isinstance(exc, RuntimeError) and "symlink loop" in str(exc).lower():
        return _MESSAGES[errno.ELOOP]
    code = getattr(exc, "errno", None)
    strerror = getattr(exc, "strerror", None)
    if code in _MESSAGES and (strerror is None or strerror == os.strerror(code) or code == errno.ENOENT):
        return _MESSAGES[code]  # the system's words replaced; a sentence of cnnconv's own is kept
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


def file_error(exc: BaseException, name: str | os.PathLike | None = None) -> str:
    """``<file>: <reason>`` for an ``OSError``: the file it names (or ``name``), then :func:`describe`.

    Examples
    --------
    >>> file_error(OSError(errno.ENAMETOOLONG, "File name too long", "a" * 3 + ".png"))
    'aaa.png: a name in the path is too long (file systems allow 255 bytes per name); use a shorter name'
    >>> file_error(RuntimeError("Symlink loop from 'x'"), "x")
    'x: symbolic link loop (a link that leads back to itself); fix or remove the link'
    """
    target = getattr(exc, "filename", None) or name
    if target is None and isinstance(exc, RuntimeError):  # Path.resolve's "Symlink loop from '<path>'"
        quoted = re.search(r"'(.*)'", str(exc))
        target = quoted.group(1) if quoted else None
    reason = describe(exc)
    if target is None:
        return reason
    text = shown(target)
    if len(text) > 80:  # a name over the file system's limit is shown cut, not 4 KiB wide
        text = text[:40] + "..." + text[-20:]
    return f"{text}: {reason}"


def shown(name: str | os.PathLike) -> str:
    """A file name as it can be printed on one line: control characters escaped.

    >>> shown("a\\nb.png"), shown("été.png")
    ('a\\\\nb.png', 'été.png')
    """
    text = os.fsdecode(name) if not isinstance(name, str) else name
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text)
