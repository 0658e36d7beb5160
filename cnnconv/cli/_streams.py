"""Standard streams that are closed, or whose reader goes away: one rule for every command.

A shell script may start cnnconv with a standard stream closed (``<&-``, ``>&-``) or pipe
its output into ``head``. :func:`guard_standard_streams` runs before any command:

* a stream closed at start is reopened on the null device, so no file cnnconv opens later
  takes descriptor 0, 1 or 2 (a print would then go into an output image); reading the
  closed stdin or writing to the closed stdout raises ``OSError(EBADF)`` with a sentence
  saying which stream is closed, which the command line reports as one error line (exit 1);
* when the reader of stdout goes away (``EPIPE``), stdout is pointed at the null device
  and the rest of the output is dropped. What happens next depends on the product of the
  command: where it is the text itself (``kernels``, ``shape``, ``predict``,
  ``evaluate``, ``animate`` without ``-o``, and ``filter``/``pool`` writing to ``-o -``) there is nothing left to
  do, so the command stops quietly with exit 0 (:class:`ReaderGone`); where the product
  is files (``filter``, ``pool``, ``train``, ``animate``) the work goes on to the end and
  writes them, and the exit code is the work's.

Stderr gets the same treatment as a file product: a closed or broken stderr never stops
the work (the exit code still tells).
"""

from __future__ import annotations

import errno
import io
import os
import sys

#: Commands whose product is the text they print.
TEXT_PRODUCT = frozenset({"kernels", "shape", "predict", "evaluate"})


class ReaderGone(BaseException):
    """The reader of a text product went away: stop quietly, exit 0.

    A ``BaseException``, like ``KeyboardInterrupt``: a batch's per-file ``except
    Exception`` must not turn it into a failed file, and cleanups still run.
    """


class _GuardedOutput(io.RawIOBase):
    """Descriptor ``fd`` as a raw stream that knows what to do on EPIPE or when closed."""

    def __init__(self, fd: int, name: str, *, closed_at_start: bool, stop_on_epipe: bool) -> None:
        super().__init__()
        self.fd, self.name_shown = fd, name
        self.closed_at_start, self.stop_on_epipe = closed_at_start, stop_on_epipe
        self.gone = False
        self._tty = not closed_at_start and os.isatty(fd)

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return self._tty

    def fileno(self) -> int:
        return self.fd

    def write(self, data) -> int:
        if self.closed_at_start and not self.gone:
            self.gone = True  # said once; what follows (the flush at exit) is dropped
            raise OSError(errno.EBADF, f"{self.name_shown} is closed; run the command with it open "
                                       "(redirect it to a file or to /dev/null)")
        if self.gone:
            return len(data)
        try:
            return os.write(self.fd, data)
        except BrokenPipeError:
            self.gone = True
            _to_null(self.fd)
            if self.stop_on_epipe:
                raise ReaderGone() from None
            return len(data)


class _ClosedInput(io.RawIOBase):
    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        raise OSError(errno.EBADF, "standard input is closed; pipe an image or array into cnnconv")


def _to_null(fd: int) -> None:
    null = os.open(os.devnull, os.O_RDWR)
    if null != fd:
        os.dup2(null, fd)
        os.close(null)


def _is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


def product_is_text(argv: list[str]) -> bool:
    """Whether the command line's product is its standard output.

    >>> product_is_text(["kernels"]), product_is_text(["train", "data", "-o", "m.npz"])
    (True, False)
    >>> product_is_text(["filter", "-", "-k", "box3", "-o", "-"])
    True
    """
    command = next((a for a in argv if not a.startswith("-")), None)
    if command in TEXT_PRODUCT:
        return True
    writes_file = any(a in ("-o", "--output") or a.startswith("--output=") for a in argv)
    if command == "animate" and not writes_file:  # the terminal view
        return True
    pairs = zip(argv, argv[1:])
    return any(a in ("-o", "--output") and b == "-" for a, b in pairs) or "--output=-" in argv


def guard_standard_streams(argv: list[str]) -> None:
    """Replace ``sys.stdin``/``stdout``/``stderr`` by the guarded streams the module describes.

    Called once by the console script before the command runs (never inside a library
    call). Text written to the guarded stdout reaches the descriptor as before.
    """
    closed = {fd: not _is_open(fd) for fd in (0, 1, 2)}
    for fd in (0, 1, 2):
        if closed[fd]:
            _to_null(fd)
    if closed[0]:
        sys.stdin = io.TextIOWrapper(io.BufferedReader(_ClosedInput()), encoding="utf-8")
    for fd, attr, stop in ((1, "stdout", product_is_text(argv)), (2, "stderr", False)):
        old = getattr(sys, attr)
        raw = _GuardedOutput(fd, "standard output" if fd == 1 else "standard error",
                             closed_at_start=closed[fd] and fd == 1, stop_on_epipe=stop)
        encoding = getattr(old, "encoding", None) or "utf-8"
        errors = getattr(old, "errors", None) or ("backslashreplace" if fd == 2 else "strict")
        try:
            if old is not None:
                old.flush()
        except (OSError, ValueError):
            pass
        stream = io.TextIOWrapper(io.BufferedWriter(raw), encoding=encoding, errors=errors,
                                  line_buffering=raw.isatty() or fd == 2, write_through=fd == 2)
        setattr(sys, attr, stream)
