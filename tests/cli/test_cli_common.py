"""The stderr line formats shared by every subcommand (cnnconv/cli/_common.py)."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console

from cnnconv.cli._common import error_line, notice, say

CLI = Path(__file__).resolve().parents[2] / "cnnconv" / "cli"


def test_notice_is_the_documented_prefix():
    """docs/errors.md and scripts match ``cnnconv: note: <file>: ...`` and ``cnnconv: warning: ...``."""
    assert notice("note", "a.png: palette image expanded to RGB") == "cnnconv: note: a.png: palette image expanded to RGB"
    assert notice("warning", "skipped b.png: truncated") == "cnnconv: warning: skipped b.png: truncated"


def test_say_without_a_console_writes_one_line_on_stderr(capsys):
    say(None, "note", "x.png: something")
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == ("", "cnnconv: note: x.png: something\n")


def test_say_prints_file_names_literally_and_unfolded():
    """Markup, emoji codes and highlighting in a file name stay as typed; a long line is not wrapped."""
    out = io.StringIO()
    console = Console(file=out, width=20, color_system="truecolor", force_terminal=True)  # highlighting on
    message = "dir/a:fire:[bold]b[/].png: resized from 32x32 to the model's 16x16"
    say(console, "warning", message)
    assert out.getvalue() == f"cnnconv: warning: {message}\n"


def test_error_line_is_the_documented_prefix():
    assert error_line("a.png: truncated") == "cnnconv: error: a.png: truncated"


def test_the_prefix_is_written_in_one_place():
    """Every note, warning and error line goes through notice/say/error_line, so the format cannot drift."""
    inline = [f"{path.name}:{n}" for path in sorted(CLI.glob("*.py")) if path.name != "_common.py"
              for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
              if any(f"cnnconv: {kind}" in line for kind in ("note", "warning", "error"))]
    assert inline == []
