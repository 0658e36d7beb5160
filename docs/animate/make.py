"""Regenerate the pictures of the README's "See it happen" section from its own commands.

Run from the repository root::

    python docs/animate/make.py

Every ``cnnconv animate`` line of that section is run as written (each writes one picture
into this folder), so the commands a reader copies and the pictures beside them cannot
drift apart. ``tests/animate/test_readme_examples.py`` runs the same lines with ``--json``
and checks their numbers against the lecture notes.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SECTION = "## See it happen"


def readme_commands(readme: Path = ROOT / "README.md") -> list[list[str]]:
    """The argument lists (after ``cnnconv animate``) of the section's commands, in order."""
    text = readme.read_text(encoding="utf-8")
    start = text.index(SECTION)
    end = text.find("\n## ", start + len(SECTION))
    section = text[start : end if end > 0 else len(text)]
    commands, fenced = [], False
    for line in section.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif fenced and line.startswith("cnnconv animate "):
            commands.append(shlex.split(line)[2:])
    return commands


def output_of(args: list[str]) -> str | None:
    """The picture a command writes (its ``-o``), or None."""
    for flag in ("-o", "--output"):
        if flag in args:
            return args[args.index(flag) + 1]
    return None


def main() -> int:
    from click.testing import CliRunner

    from cnnconv.cli import cli

    runner = CliRunner()
    failed = 0
    for args in readme_commands():
        result = runner.invoke(cli, ["animate", *args], catch_exceptions=False)
        target = output_of(args)
        if result.exit_code != 0:
            failed += 1
            print(f"failed ({result.exit_code}): cnnconv animate {shlex.join(args)}\n{result.output}", file=sys.stderr)
        else:
            size = (ROOT / target).stat().st_size if target else 0
            print(f"{target}: {size // 1024} KiB")
    return 1 if failed else 0


if __name__ == "__main__":
    import os

    os.chdir(ROOT)  # the commands name their pictures relative to the repository root
    sys.exit(main())
