"""What every subcommand shares: one-line errors, exit codes, the stderr console."""

from __future__ import annotations

import sys

import click

#: Exit codes: 0 success, 1 some work failed, 2 usage error.
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class CliError(click.ClickException):
    """A failure reported as one line ``cnnconv: error: ...`` on stderr, exit code 1."""

    exit_code = EXIT_FAILED

    def show(self, file=None) -> None:
        click.echo(f"cnnconv: error: {self.format_message()}", file=file or sys.stderr)


def stderr_console():
    """A rich console on stderr (created on demand: rich is not imported at start-up)."""
    from rich.console import Console

    return Console(stderr=True, highlight=False)
