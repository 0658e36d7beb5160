"""``python -m cnnconv`` and the ``cnnconv`` console script: the command line.

The stop signals are handled from the first moment: while the command line is still being
imported (click, NumPy), Ctrl-C, SIGTERM or SIGHUP end it with the one line and the exit
status they end any command with, not with Python's traceback of the import it cut.
"""

import signal
import sys

#: The stop signals and their exit statuses (as :data:`cnnconv.cli._signals.STOP_SIGNALS`).
_STOPS = {signal.SIGINT: 130, signal.SIGTERM: 143, signal.SIGHUP: 129}


class _StoppedWhileStarting(KeyboardInterrupt):
    """A stop signal during the command line's imports (a subclass: see :func:`cnnconv.cli.main`)."""


def _stop(signum, frame):
    raise _StoppedWhileStarting(signum)


def run() -> None:
    """Import the command line and run it, a stop signal on the way ending it cleanly.

    The handlers stay until :func:`cnnconv.cli.main` puts its own in, so no moment between
    the import and the command is left to Python's defaults.
    """
    previous = {signum: signal.signal(signum, _stop) for signum in _STOPS}
    try:
        from cnnconv.cli import main

        main()
    except _StoppedWhileStarting as exc:
        signum = exc.args[0]
        what = "interrupted" if signum == signal.SIGINT else f"stopped by {signal.Signals(signum).name}"
        sys.stderr.write(f"cnnconv: {what}\n")
        sys.exit(_STOPS[signum])
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


if __name__ == "__main__":
    run()
