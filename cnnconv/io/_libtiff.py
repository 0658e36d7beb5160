"""libtiff's messages, caught: they become notes or the reason in an error line, never stderr.

Pillow decodes compressed TIFFs with libtiff, whose default error and warning handlers
print ``tempfile.tif: Using code not yet in table.`` straight to file descriptor 2, past
Python, its ``warnings`` and its logging. :func:`install` replaces both handlers, once per
process, with one that formats the message (``vsnprintf`` on libtiff's ``va_list``) and
hands it to the reader of the current thread (:func:`collecting`). Where the library
cannot be found (no ``/proc/self/maps``, a libtiff Pillow does not share), nothing changes
and libtiff keeps its own handlers.
"""

from __future__ import annotations

import ctypes
import threading
from contextlib import contextmanager

_local = threading.local()
_state: dict[str, object] = {}  # the installed callback, kept alive as long as libtiff may call it


def _libtiff_path() -> str | None:
    """The file of the libtiff loaded into this process with Pillow's ``_imaging``."""
    try:
        from PIL import _imaging  # noqa: F401  (loads the libtiff it was linked with)

        with open("/proc/self/maps") as maps:
            for line in maps:
                path = line.split()[-1] if line.strip() else ""
                if "libtiff" in path.rsplit("/", 1)[-1] and path.startswith("/"):
                    return path
    except (ImportError, OSError):
        pass
    return None


def _handle(module: bytes | None, fmt: bytes | None, args) -> None:
    messages = getattr(_local, "messages", None)
    if messages is None or fmt is None:
        return  # a message outside any read (or none at all): dropped rather than printed
    buffer = ctypes.create_string_buffer(512)
    try:
        _state["vsnprintf"](buffer, len(buffer), fmt, args)
        text = buffer.value.decode("utf-8", "replace")
    except Exception:  # noqa: BLE001 - a message we cannot format is still a message
        text = fmt.decode("utf-8", "replace")
    messages.append(text.strip().rstrip("."))


def install() -> bool:
    """Route libtiff's errors and warnings to :func:`collecting`; True if they now are.

    >>> isinstance(install(), bool)
    True
    """
    if "installed" in _state:
        return bool(_state["installed"])
    _state["installed"] = False
    path = _libtiff_path()
    if path is None:
        return False
    try:
        libtiff, libc = ctypes.CDLL(path), ctypes.CDLL(None)
        vsnprintf = libc.vsnprintf
        vsnprintf.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_void_p]
        handler_type = ctypes.CFUNCTYPE(None, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_void_p)
        handler = handler_type(_handle)
        for name in ("TIFFSetErrorHandler", "TIFFSetWarningHandler"):
            setter = getattr(libtiff, name)
            setter.argtypes, setter.restype = [handler_type], ctypes.c_void_p
            setter(handler)
    except (OSError, AttributeError):
        return False
    _state.update(installed=True, handler=handler, vsnprintf=vsnprintf)
    return True


@contextmanager
def collecting(messages: list[str]):
    """libtiff's messages while this thread reads a file are appended to ``messages``."""
    install()
    previous = getattr(_local, "messages", None)
    _local.messages = messages
    try:
        yield messages
    finally:
        _local.messages = previous
