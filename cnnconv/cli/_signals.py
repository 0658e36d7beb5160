"""Signals that end long work cleanly: Ctrl-C (SIGINT), SIGTERM and SIGHUP, handled alike.

Two ways, for two kinds of work:

* :func:`stop_requests` (training): a signal does not raise in the middle of whatever
  runs; it sets an event that the work checks at its next safe point (before each batch),
  so the best model so far is saved whole;
* :func:`stop_raising` (a batch of files): a signal raises :class:`Stopped` (a
  ``KeyboardInterrupt``) where the work is, so the file being written is abandoned at
  once, its temporary removed by the atomic writer, the workers stopped
  (:mod:`cnnconv.cli._workers`) and what is whole kept.

The exit status is the shell's convention for the signal: 128 + its number (130, 143, 129),
and the last stderr line says it: ``cnnconv: interrupted`` (Ctrl-C) or ``cnnconv:
stopped by SIGTERM``.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field

from cnnconv.cli._common import EXIT_INTERRUPTED

#: The signals that ask a command to stop, and the exit status each ends with.
STOP_SIGNALS = {signal.SIGINT: EXIT_INTERRUPTED, signal.SIGTERM: 143, signal.SIGHUP: 129}


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
        return STOP_SIGNALS.get(self.signum, EXIT_INTERRUPTED)

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


class Stopped(KeyboardInterrupt):
    """A stop signal raised where the work is: ``signum``, its :attr:`exit_code` and :attr:`what`."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return StopRequest(signum=self.signum).exit_code

    @property
    def what(self) -> str:
        return StopRequest(signum=self.signum).what


def ending(exc: BaseException) -> tuple[int, str]:
    """The exit status and last stderr line for an interrupt (:class:`Stopped` or Ctrl-C).

    >>> ending(Stopped(signal.SIGTERM)), ending(KeyboardInterrupt())
    ((143, 'cnnconv: stopped by SIGTERM'), (130, 'cnnconv: interrupted'))
    """
    if isinstance(exc, Stopped):
        return exc.exit_code, f"cnnconv: {exc.what}"
    return EXIT_INTERRUPTED, "cnnconv: interrupted"


@contextmanager
def stop_raising():
    """Within the block, SIGINT, SIGTERM and SIGHUP raise :class:`Stopped` (once; later ones wait).

    The handlers in force before are restored afterwards; outside the main thread the
    block runs with the signals as they are.

    Examples
    --------
    >>> import os
    >>> try:
    ...     with stop_raising():
    ...         os.kill(os.getpid(), signal.SIGHUP)
    ... except Stopped as exc:
    ...     exc.exit_code
    129
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    raised = []

    def stop(signum, frame):
        if not raised:  # a second signal (the group's, or an impatient user) must not cut the cleanup short
            raised.append(signum)
            raise Stopped(signum)

    previous = {}
    try:
        for signum in STOP_SIGNALS:
            previous[signum] = signal.signal(signum, stop)
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
