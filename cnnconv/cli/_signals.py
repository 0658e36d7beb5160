"""Signals that end long work cleanly: Ctrl-C (SIGINT), SIGTERM and SIGHUP become a request to stop.

Inside :func:`stop_requests`, a signal does not raise in the middle of whatever runs: it
sets an event that the work checks at its next safe point (training checks it before each
batch), so what is being written is written whole. The exit status is the shell's
convention for the signal: 128 + its number (130, 143, 129).
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field

#: The signals that ask a command to stop, and the exit status each ends with.
STOP_SIGNALS = {signal.SIGINT: 130, signal.SIGTERM: 143, signal.SIGHUP: 129}


@dataclass
class StopRequest:
    """Set by a signal handler; ``event`` is what the work polls."""

    event: threading.Event = field(default_factory=threading.Event)
    signum: int | None = None

    @property
    def requested(self) -> bool:
        return self.event.is_set()

    @property
    def exit_code(self) -> int:
        return STOP_SIGNALS.get(self.signum, 130)

    @property
    def what(self) -> str:
        """How the message says it: ``interrupted`` (Ctrl-C) or ``stopped by SIGTERM``."""
        if self.signum in (None, signal.SIGINT):
            return "interrupted"
        return f"stopped by {signal.Signals(self.signum).name}"


@contextmanager
def stop_requests():
    """Turn the stop signals into a :class:`StopRequest` for the duration of the block.

    The handlers in force before are restored afterwards. Outside the main thread (where
    Python cannot set handlers) the request is never set and signals act as they would.

    Examples
    --------
    >>> import os
    >>> with stop_requests() as stop:
    ...     os.kill(os.getpid(), signal.SIGTERM)
    ...     stop.requested, stop.exit_code
    (True, 143)
    """
    stop = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def request(signum, frame):
        if stop.signum is None:
            stop.signum = signum
        stop.event.set()

    previous = {}
    try:
        for signum in STOP_SIGNALS:
            previous[signum] = signal.signal(signum, request)
        yield stop
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
