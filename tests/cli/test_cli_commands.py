"""Every registered subcommand loads, and one that cannot is an error that says so.

A subcommand whose module fails to import must not vanish as "No such command": a broken
import would pass every test that does not call that command and send users hunting for a typo.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import click
import pytest

from cnnconv.cli import _COMMANDS, cli, load_command


@pytest.mark.parametrize("name", sorted(_COMMANDS))
def test_every_registered_command_imports_and_is_that_command(name):
    command = load_command(name)
    assert isinstance(command, click.Command)
    assert command.name == name
    assert cli.get_command(click.Context(cli), name) is command


def test_the_help_lists_every_registered_command():
    from click.testing import CliRunner

    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0, result.output
    listed = result.output.split("Commands:")[1].split()
    assert set(_COMMANDS) <= set(listed)


# A subcommand module that breaks while importing, registered as 'filter' for the run.
_BROKEN = "from cnnconv.conv.padding import no_such_name\n"
_RUN = (
    "import sys\n"
    "import cnnconv.cli as c\n"
    "c._COMMANDS['filter'] = ('broken_subcommand', 'filter_cmd')\n"
    "c.main(sys.argv[1:])\n"
)


def _run(tmp_path, *args, debug=False):
    (tmp_path / "broken_subcommand.py").write_text(_BROKEN)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    env.pop("CNNCONV_DEBUG", None)
    if debug:
        env["CNNCONV_DEBUG"] = "1"
    return subprocess.run([sys.executable, "-c", _RUN, *args], capture_output=True, text=True, env=env)


@pytest.mark.parametrize("args", [["filter", "in.png", "-o", "out.png"], ["--help"]], ids=["invoked", "help"])
def test_a_command_that_fails_to_import_is_a_clear_error(tmp_path, args):
    out = _run(tmp_path, *args)
    assert out.returncode == 1
    assert "No such command" not in out.stderr
    assert "Traceback" not in out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert re.fullmatch(
        r"cnnconv: error: the 'filter' command could not be loaded \(ImportError: cannot import name "
        r"'no_such_name' from 'cnnconv\.conv\.padding' \(.*padding\.py\)\); "
        r"reinstall cnnconv \(pip install -e \.\) or, if that does not help, please report it",
        lines[0],
    ), lines[0]


def test_a_command_that_fails_to_import_shows_its_traceback_in_debug_mode(tmp_path):
    out = _run(tmp_path, "filter", "in.png", debug=True)
    assert out.returncode == 1
    assert "Traceback" in out.stderr and "broken_subcommand.py" in out.stderr
    assert "ImportError: cannot import name 'no_such_name'" in out.stderr
