"""The architecture rules of DEVELOPERS.md, enforced: core <- io <- cli, and no print/assert."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "cnnconv"
MODULES = sorted(PACKAGE.rglob("*.py"))


def _layer(path: Path) -> str:
    parts = path.relative_to(PACKAGE).parts
    if parts[0] in ("cli", "__main__.py"):
        return "cli"
    if parts[0] == "io":
        return "io"
    return "core"


def _imports(tree: ast.AST, path: Path) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative import: resolve against the module's package
                base = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
                base = base[: len(base) - node.level]
                names.add(".".join(base + ([node.module] if node.module else [])))
            elif node.module:
                names.add(node.module)
    return names


FORBIDDEN = {
    "core": ("click", "rich", "PIL", "cnnconv.io", "cnnconv.cli"),
    "io": ("click", "rich", "cnnconv.cli"),
    "cli": ("PIL",),
}


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_dependencies_point_one_way(path):
    layer = _layer(path)
    tree = ast.parse(path.read_text(encoding="utf-8"))
    bad = sorted(
        name
        for name in _imports(tree, path)
        if any(name == f or name.startswith(f + ".") for f in FORBIDDEN[layer])
    )
    assert not bad, f"{path.name} ({layer}) imports {bad}"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_print_or_assert_in_package(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    offenders = [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Assert)
        or (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print")
    ]
    assert not offenders, f"{path.name}: print() or assert at lines {offenders}"


def test_the_import_checker_sees_absolute_and_relative_imports():
    inside_nn = PACKAGE / "nn" / "layers.py"
    tree = ast.parse("import click\nfrom ..io import images\nfrom . import functional\n")
    assert _imports(tree, inside_nn) == {"click", "cnnconv.io", "cnnconv.nn"}


def test_help_imports_no_heavy_modules():
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from cnnconv.cli import cli\n"
        "r = CliRunner().invoke(cli, ['--help'])\n"
        "assert r.exit_code == 0, r.output\n"
        "print(sorted(m for m in ('numpy', 'PIL', 'rich') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
