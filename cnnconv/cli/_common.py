"""What every subcommand shares: one-line errors, note and warning lines, exit codes, the stderr console."""

from __future__ import annotations

import sys

import click

#: Exit codes: 0 success, 1 some work failed, 2 usage error.
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
#: Ctrl-C: 128 + SIGINT, as shells report it.
EXIT_INTERRUPTED = 130


class CliError(click.ClickException):
    """A failure reported as one line ``cnnconv: error: ...`` on stderr, exit code 1."""

    exit_code = EXIT_FAILED

    def show(self, file=None) -> None:
        click.echo(error_line(self.format_message()), file=file or sys.stderr)


def error_line(message: str) -> str:
    """The one format of an error on stderr: ``cnnconv: error: <message>``.

    >>> error_line("camera.png: not an image")
    'cnnconv: error: camera.png: not an image'
    """
    return notice("error", message)


def stderr_console():
    """A rich console on stderr (created on demand: rich is not imported at start-up)."""
    from rich.console import Console

    return Console(stderr=True, highlight=False)


def notice(kind: str, message: str) -> str:
    """The one format of a stderr line that is not an error: ``cnnconv: <kind>: <message>``.

    Parameters
    ----------
    kind : str
        ``"note"`` (something was done that the user should know about), ``"warning"`` or
        ``"error"`` (see :func:`error_line`).
    message : str
        The text after the prefix, usually starting with the file it is about.

    Returns
    -------
    str
        The line, without a newline.

    Examples
    --------
    >>> notice("warning", "skipped notes.txt: not an image")
    'cnnconv: warning: skipped notes.txt: not an image'
    """
    if not message.isprintable():  # a newline in a file name must not split the line a script reads
        from cnnconv.io.oserrors import shown

        message = shown(message)
    return f"cnnconv: {kind}: {message}"


def say(console, kind: str, message: str) -> None:
    """Print a :func:`notice` line on ``console`` (through it, so it stays below a live progress bar).

    Parameters
    ----------
    console : rich.console.Console or None
        Where to print; None prints with ``click.echo`` on stderr.
    kind, message : str
        As for :func:`notice`.

    Notes
    -----
    The line is printed as it is: file names hold ``[...]`` and ``:name:`` often enough that
    rich's markup, highlighting and emoji codes would garble them.
    """
    print_line(console, notice(kind, message))


def print_line(console, line: str) -> None:
    """Print ``line`` on stderr as it is: through ``console`` (rich), or with ``click.echo`` if None.

    Through the console a line stays below a live progress bar; markup, highlighting and
    emoji codes are off because file names hold ``[...]`` and ``:name:`` often enough.

    Examples
    --------
    >>> import io
    >>> from rich.console import Console
    >>> out = io.StringIO()
    >>> print_line(Console(file=out, width=80), "cnnconv: note: [b]:smile:.png: kept")
    >>> out.getvalue()
    'cnnconv: note: [b]:smile:.png: kept\\n'
    """
    if console is None:
        click.echo(line, err=True)
    else:
        console.print(line, markup=False, highlight=False, emoji=False, soft_wrap=True)
