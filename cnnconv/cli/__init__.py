"""The ``cnnconv`` command: a thin Click layer over the NumPy core.

Subcommands live one per module and are imported only when invoked (or when the
top-level help lists them), so a shell loop calling ``cnnconv`` per file pays for
what it uses and no more.
"""

from __future__ import annotations

import importlib
import json
import os
import sys

import click

from cnnconv import __version__
from cnnconv.cli._common import EXIT_FAILED, EXIT_INTERRUPTED, CliError

# command name -> (module, attribute)
_COMMANDS = {
    "filter": ("cnnconv.cli.filter", "filter_cmd"),
    "pool": ("cnnconv.cli.pool", "pool_cmd"),
    "kernels": ("cnnconv.cli.kernels", "kernels_cmd"),
    "shape": ("cnnconv.cli.shape", "shape_cmd"),
    "train": ("cnnconv.cli.train", "train_cmd"),
    "predict": ("cnnconv.cli.predict", "predict_cmd"),
    "evaluate": ("cnnconv.cli.predict", "evaluate_cmd"),
    "animate": ("cnnconv.cli.animate", "animate_cmd"),
    "export": ("cnnconv.cli.export", "export_cmd"),
}


class CommandNotLoaded(CliError):
    """A registered subcommand whose module fails to import: a bug or a broken install, said so.

    Returning None instead would make Click answer "No such command", which sends the user
    looking for a typo and hides the real error from the tests.
    """


def load_command(name: str) -> click.Command:
    """The click command registered as ``name``, imported now.

    Raises
    ------
    CommandNotLoaded
        If its module (or anything it imports at the top) fails to import, or lacks the
        command; the message names the command and the original error. With
        ``CNNCONV_DEBUG=1`` the original exception propagates with its traceback.
    """
    module, attr = _COMMANDS[name]
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        if os.environ.get("CNNCONV_DEBUG"):
            raise
        raise CommandNotLoaded(
            f"the '{name}' command could not be loaded ({type(exc).__name__}: {exc}); "
            "reinstall cnnconv (pip install -e .) or, if that does not help, please report it"
        ) from exc


class _LazyGroup(click.Group):
    def list_commands(self, ctx):
        return list(_COMMANDS)

    def get_command(self, ctx, name):
        if name not in _COMMANDS:
            return None
        return load_command(name)

    def parse_args(self, ctx, args):
        # Known before the subcommand parses its options, so even a usage error can be JSON.
        ctx.meta["cnnconv.json"] = "--json" in args
        return super().parse_args(ctx, args)

    def invoke(self, ctx):
        from cnnconv.errors import CnnconvError

        try:
            try:
                return super().invoke(ctx)
            except CnnconvError as exc:
                raise CliError(str(exc)) from None
            except BrokenPipeError:
                raise
            except (OSError, RuntimeError) as exc:
                # One mapping of what the system answers (ELOOP, ENAMETOOLONG, EACCES...) to one line.
                from cnnconv.io.oserrors import describe, file_error

                if isinstance(exc, RuntimeError) and describe(exc) == str(exc):
                    raise  # not an OS error: the last line of defence reports it
                raise CliError(file_error(exc)) from None
            except click.UsageError as exc:
                # Click's usage block is four lines; scripts get one, with where to look for help.
                where = exc.ctx.command_path if exc.ctx is not None else "cnnconv"
                error = CliError(f"{exc.format_message()} (see '{where} --help')")
                error.exit_code = exc.exit_code
                raise error from None
        except click.ClickException as exc:
            if ctx.meta.get("cnnconv.json"):
                click.echo(json.dumps({"ok": False, "error": exc.format_message(), "exit_code": exc.exit_code}))
            raise
        except KeyboardInterrupt as exc:
            # Click would say "Aborted!" and exit 1, as if the work had failed; a signal is 128 + its number.
            from cnnconv.cli._signals import ending

            code, line = ending(exc)
            if ctx.meta.get("cnnconv.json"):
                click.echo(json.dumps({"ok": False, "error": line.removeprefix("cnnconv: "), "exit_code": code}))
            click.echo(line, err=True)
            raise click.exceptions.Exit(code) from None


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="cnnconv")
def cli() -> None:
    """See what a convolution, a padding rule, a stride, a pooling window or a small CNN does.

    \b
    Examples:
      cnnconv filter sample_images/camera.png --kernel sobel-x -o edges.png
      cnnconv pool sample_images/camera.png --size 2 -o small.png
      cnnconv shape --input 32x32x3 --layers conv5x8,pool2,conv5x16,pool2,fc120,fc84,fc10
      cnnconv kernels
      cnnconv train DATA_DIR --epochs 3 -o model.npz
      cnnconv export model.npz -o model.onnx

    Run 'cnnconv COMMAND --help' for a command's options and examples.
    """


def main(argv: list[str] | None = None) -> None:
    """Entry point of the console script: never ends in a traceback."""
    from cnnconv.cli._streams import ReaderGone, guard_standard_streams

    from cnnconv.cli._signals import stop_raising

    guard_standard_streams(sys.argv[1:] if argv is None else argv)
    try:
        # A stop signal anywhere raises Stopped, a KeyboardInterrupt subclass, never Python's own
        # KeyboardInterrupt: one of those raised at some points of an import (seen in NumPy's) makes
        # the interpreter kill itself by SIGINT as it exits, even when caught (status -2, not 130).
        with stop_raising():
            try:
                cli.main(args=argv, prog_name="cnnconv")
            finally:
                sys.stdout.flush()  # inside the try: a reader gone at the last line is handled here too
    except ReaderGone:
        # The reader of a text product went away (e.g. `| head -1`): it has what it wanted.
        sys.exit(0)
    except KeyboardInterrupt as exc:
        from cnnconv.cli._signals import ending

        code, line = ending(exc)
        click.echo(line, err=True)
        sys.exit(code)
    except Exception as exc:  # noqa: BLE001 - the last line of defence against tracebacks
        if os.environ.get("CNNCONV_DEBUG"):
            raise
        click.echo(
            f"cnnconv: internal error: {type(exc).__name__}: {exc} "
            "(set CNNCONV_DEBUG=1 for the traceback, and please report it)",
            err=True,
        )
        sys.exit(EXIT_FAILED)
