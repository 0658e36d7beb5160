"""The architecture rules of docs/architecture.md, enforced.

Dependencies point one way (core <- io <- cli), ``cnnconv/shape/`` never needs NumPy, no two
modules import each other (directly or round a longer loop), and there is no print/assert in
the package. Every rule is checked on the source with :mod:`ast`, function-level imports
included, so a lazy import cannot hide a dependency; the NumPy rule is also checked by
importing the modules in a fresh interpreter.
"""

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


# --- shape/ never needs NumPy ------------------------------------------------------------------

SHAPE_MODULES = sorted((PACKAGE / "shape").glob("*.py"))


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_shape_never_imports_numpy_even_through_another_module():
    # Every module shape/ reaches through the import graph (function-level imports included).
    graph = import_graph(_package_sources())
    todo = [_module_name(p) for p in SHAPE_MODULES]
    reached = set(todo)
    while todo:
        for target in graph[todo.pop()] - reached:
            reached.add(target)
            todo.append(target)
    paths = {_module_name(p): p for p in MODULES}
    offenders = sorted(
        name
        for name in reached
        if any(n == "numpy" or n.startswith("numpy.") for n in _imports(ast.parse(paths[name].read_text()), paths[name]))
    )
    assert offenders == [], f"shape/ reaches NumPy through {offenders}"
    assert "cnnconv.shape.arithmetic" in reached and "cnnconv.errors" in reached


def test_importing_and_using_shape_leaves_numpy_out():
    # What ``cnnconv shape`` runs: every module of the package, a summary and a parse, and the
    # command itself (table and JSON), with whatever they import behind them: a transitive
    # NumPy import anywhere on that path shows here.
    modules = [_module_name(p) for p in SHAPE_MODULES]
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        "from cnnconv.shape import summarize_network, parse_layers\n"
        "summarize_network((32, 32, 3), 'conv5x6,pool2,fc10')\n"
        "parse_layers('conv3x8,pool2,fc10')\n"
        "from click.testing import CliRunner\n"
        "from cnnconv.cli import cli\n"
        "for args in (['--input', '32x32x3', '--layers', 'conv5x6,pool2,fc10'], ['--input', '28x28', '--layers', 'conv3x16:same,pool2:ceil,tconv2x8:s2', '--format', 'json', '--explain']):\n"
        "    r = CliRunner().invoke(cli, ['shape', *args])\n"
        "    if r.exit_code: raise SystemExit(r.output)\n"
        "print(sorted(m for m in sys.modules if m == 'numpy' or m.startswith('numpy.')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


# --- no import cycles --------------------------------------------------------------------------


def _lazy_exports(tree: ast.AST) -> dict[str, str]:
    """The ``_EXPORTS = {name: module}`` literal of a package ``__init__`` (empty if none)."""
    for node in getattr(tree, "body", []):
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "_EXPORTS" for t in node.targets):
            return ast.literal_eval(node.value)
    return {}


def _runtime_imports(tree: ast.AST, here: str, is_package: bool):
    """(module, names) for every import that runs: top level or in a function, not under TYPE_CHECKING."""
    skipped = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(n) for n in ast.walk(node))
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, ()
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                base = here.split(".") if is_package else here.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                module = ".".join(base + ([module] if module else []))
            yield module, tuple(alias.name for alias in node.names)


def import_graph(sources: dict[str, tuple[str, bool]]) -> dict[str, set[str]]:
    """Module -> the modules of ``sources`` it imports when it runs.

    ``sources`` maps a dotted module name to (its source, whether it is a package ``__init__``).
    ``from pkg import name`` is an edge to the submodule ``pkg.name`` if there is one, else to
    the module a lazy ``_EXPORTS`` entry of ``pkg`` serves ``name`` from (followed through
    packages), else to ``pkg`` itself. A package ``__init__`` has edges only for what it
    imports eagerly: its lazy exports load nothing until someone asks for them.
    """
    trees = {name: ast.parse(src) for name, (src, _) in sources.items()}
    exports = {name: _lazy_exports(tree) for name, tree in trees.items() if sources[name][1]}

    def served(module: str, name: str) -> str:
        seen = set()
        while module in exports and name in exports[module] and module not in seen:
            seen.add(module)
            module = exports[module][name]
        return module

    graph = {}
    for here, tree in trees.items():
        edges = set()
        for module, names in _runtime_imports(tree, here, sources[here][1]):
            for name in names or ("",):
                if name and f"{module}.{name}" in sources:
                    target = f"{module}.{name}"
                elif name:
                    target = served(module, name)
                else:  # ``import a.b.c``: the module itself
                    target = module
                while target and target not in sources:
                    target = target.rpartition(".")[0]
                if target and target != here:
                    edges.add(target)
        graph[here] = edges
    return graph


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index, low, on_stack, stack, cycles = {}, {}, set(), [], []

    def visit(v):  # recursion depth is bounded by the number of modules (~100)
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(cycles)


def _package_sources() -> dict[str, tuple[str, bool]]:
    return {_module_name(p): (p.read_text(encoding="utf-8"), p.name == "__init__.py") for p in MODULES}


def test_no_import_cycles_between_modules():
    assert import_cycles(import_graph(_package_sources())) == []


def test_the_cycle_finder_finds_a_cycle_through_a_function_level_import_and_a_lazy_export():
    # a -> b at top level, b -> c inside a function, c -> a through the lazy export of pkg.
    sources = {
        "pkg": ('_EXPORTS = {"f": "pkg.a"}\nfrom pkg._lazy import lazy_exports\n', True),
        "pkg._lazy": ("", False),
        "pkg.a": ("from pkg import b\n", False),
        "pkg.b": ("def g():\n    from . import c\n", False),
        "pkg.c": ("from pkg import f\n", False),
        "pkg.d": ("import pkg.a\n", False),
    }
    graph = import_graph(sources)
    assert graph["pkg"] == {"pkg._lazy"}  # the lazy export is not an edge of the package itself
    assert graph["pkg.c"] == {"pkg.a"}
    assert import_cycles(graph) == [["pkg.a", "pkg.b", "pkg.c"]]
    del sources["pkg.b"]
    assert import_cycles(import_graph(sources)) == []


def test_the_package_import_graph_is_the_real_one():
    # Guards the checker against finding nothing because it resolves nothing.
    graph = import_graph(_package_sources())
    assert "cnnconv.conv.padding" in graph["cnnconv.pooling.geometry"]
    assert "cnnconv.shape.arithmetic" in graph["cnnconv.conv.padding"]
    assert "cnnconv.errors" in graph["cnnconv.conv.correlation"]
