"""docs/architecture.md kept true: the paths it names exist, every package has its paragraph,
and each paragraph's "May import" list is what the package's modules really import.

The checks are functions that return the problems they find, so the tests at the end can
show each of them failing on a doc that is wrong in a known way.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "cnnconv"
DOC = ROOT / "docs" / "architecture.md"

#: Folders a backticked path may start with to be checked (the repository's own folders).
CHECKED_ROOTS = ("cnnconv/", "tests/", "docs/", "benchmarks/", "kernels/")


def package_folders() -> list[str]:
    """Every package folder of cnnconv/ as ``cnnconv/x/`` (the root itself as ``cnnconv/``)."""
    folders = [p.parent for p in PACKAGE.rglob("__init__.py") if "__pycache__" not in p.parts]
    return sorted(f"{p.relative_to(ROOT).as_posix()}/" for p in folders)


def _dotted(folder: str) -> str:
    return folder.rstrip("/").replace("/", ".")


def sections(text: str) -> dict[str, str]:
    """The body of each ``### `cnnconv/...` `` paragraph, by its folder."""
    found = {}
    for match in re.finditer(r"^### `(cnnconv/[^`]*)`[^\n]*\n(.*?)(?=^#|\Z)", text, re.S | re.M):
        found[match.group(1)] = match.group(2)
    return found


def allowed_imports(body: str) -> set[str] | None:
    """The cnnconv names on a paragraph's ``**May import:**`` line (None if it has none)."""
    line = next((ln for ln in body.splitlines() if ln.startswith("**May import:**")), None)
    if line is None:
        return None
    return set(re.findall(r"`(cnnconv(?:\.\w+)*)`", line))


def _is_module(dotted: str) -> bool:
    path = ROOT.joinpath(*dotted.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _imported_modules(path: Path) -> set[str]:
    """Every ``cnnconv`` module ``path`` imports, at top level or in a function.

    ``from pkg import name`` counts as the submodule ``pkg.name`` when there is one.
    """
    package = path.relative_to(ROOT).parent.parts  # what a relative import starts from
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                base = list(package[: len(package) - (node.level - 1)])
                module = ".".join(base + ([module] if module else []))
            for alias in node.names:
                sub = f"{module}.{alias.name}"
                names.add(sub if _is_module(sub) else module)
    return {n for n in names if n == "cnnconv" or n.startswith("cnnconv.")}


def _unit(module: str, packages: list[str]) -> str:
    """What a "May import" list names for ``module``: its deepest documented package, or,
    for a module of the root (``cnnconv.errors``), the module itself."""
    owner = max((p for p in packages if module == p or module.startswith(p + ".")), key=len)
    if owner == "cnnconv" and module != "cnnconv":
        return ".".join(module.split(".")[:2])
    return owner


def real_imports(folder: str) -> set[str]:
    """The packages and root modules the modules of ``folder`` (not its subpackages) import."""
    packages = [_dotted(f) for f in package_folders()]
    own = {_dotted(folder)}
    if folder == "cnnconv/":  # the root's modules are its own
        own |= {f"cnnconv.{p.stem}" for p in PACKAGE.glob("*.py")}
    found = set()
    for path in sorted((ROOT / folder).glob("*.py")):
        found |= {_unit(module, packages) for module in _imported_modules(path)}
    return found - own


def _defines(module: str, name: str) -> bool:
    """Whether ``module`` defines ``name`` at top level (def, class, assignment, import, lazy export)."""
    path = ROOT.joinpath(*module.split("."))
    path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == name:
            return True
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if name in {n.id for n in ast.walk(target) if isinstance(n, ast.Name)}:
                    return True
                if getattr(target, "id", None) == "_EXPORTS" and name in ast.literal_eval(node.value):
                    return True
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            if name in {(a.asname or a.name).split(".")[0] for a in node.names}:
                return True
    return False


def _declared_packages() -> set[str]:
    import tomllib

    return set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])


def path_problems(text: str) -> list[str]:
    """Backticked paths of the repository that do not exist, dotted ``cnnconv.`` names that
    resolve to no module or name, and links to other docs that lead nowhere."""
    problems = []
    for token in sorted(set(re.findall(r"`([^`\s]+)`", text))):
        if token.startswith(CHECKED_ROOTS):
            if not (ROOT / token).exists():
                problems.append(f"{token} does not exist")
        elif re.fullmatch(r"cnnconv(\.\w+)+", token) and token not in _declared_packages():
            parts = token.split(".")
            cut = max(i for i in range(1, len(parts) + 1) if _is_module(".".join(parts[:i])))
            rest = parts[cut:]
            if len(rest) > 1 or (rest and not _defines(".".join(parts[:cut]), rest[0])):
                problems.append(f"{token} names no module, nor a name defined in one")
    for target in re.findall(r"\]\(([^)#:]+)\)", text):
        if not (DOC.parent / target).exists():
            problems.append(f"the link to {target} leads nowhere")
    return problems


def paragraph_problems(text: str) -> list[str]:
    """Packages without a paragraph, paragraphs of no package, and "May import" lists that
    leave out what a package imports or name what it does not."""
    problems = []
    found = sections(text)
    folders = package_folders()
    for folder in folders:
        if folder not in found:
            problems.append(f"{folder} has no '### `{folder}`' paragraph")
    for folder, body in found.items():
        if folder not in folders:
            problems.append(f"the paragraph of {folder} names no package folder")
            continue
        allowed = allowed_imports(body)
        if allowed is None:
            problems.append(f"the paragraph of {folder} has no '**May import:**' line")
            continue
        real = real_imports(folder)
        for unit in sorted(real - allowed):
            problems.append(f"{folder} imports {unit}, which its 'May import' line does not allow")
        for unit in sorted(allowed - real):
            problems.append(f"{folder}'s 'May import' line names {unit}, which none of its modules imports")
    return problems


# --- the real doc -----------------------------------------------------------------------------


def test_every_path_and_name_the_doc_gives_exists():
    assert path_problems(DOC.read_text(encoding="utf-8")) == []


def test_every_package_has_its_paragraph_and_its_imports_are_the_ones_it_allows():
    assert paragraph_problems(DOC.read_text(encoding="utf-8")) == []


def test_the_checker_reads_every_package_and_real_imports():
    # Guards against agreeing with the doc because it found nothing to compare.
    folders = package_folders()
    assert {"cnnconv/", "cnnconv/conv/", "cnnconv/conv/engines/", "cnnconv/cli/", "cnnconv/shape/"} <= set(folders)
    assert set(sections(DOC.read_text(encoding="utf-8"))) == set(folders)
    assert "cnnconv.conv.engines" in real_imports("cnnconv/conv/")  # ``from cnnconv.conv import engines``, in a function
    assert "cnnconv.conv" in real_imports("cnnconv/conv/engines/")  # the subpackage's import of its parent
    assert "cnnconv.errors" in real_imports("cnnconv/shape/") and "cnnconv.shape" not in real_imports("cnnconv/shape/")
    assert real_imports("cnnconv/") == {"cnnconv.cli"}  # __main__; the root's own modules are its own
    assert "cnnconv" in real_imports("cnnconv/io/")  # ``from cnnconv import __version__``


# --- the checks fail on a wrong doc -----------------------------------------------------------


@pytest.fixture
def doc() -> str:
    return DOC.read_text(encoding="utf-8")


def test_a_path_that_is_gone_is_reported(doc):
    wrong = doc + "\nSee `cnnconv/pool.py`, `cnnconv.conv.methods`, `cnnconv.conv.padding.nope` and [x](gone.md).\n"
    assert path_problems(wrong) == [
        "cnnconv.conv.methods names no module, nor a name defined in one",
        "cnnconv.conv.padding.nope names no module, nor a name defined in one",
        "cnnconv/pool.py does not exist",
        "the link to gone.md leads nowhere",
    ]


def test_a_missing_paragraph_is_reported(doc):
    start = doc.index("### `cnnconv/tiling/`")
    wrong = doc[:start] + doc[doc.index("###", start + 3):]
    assert paragraph_problems(wrong) == ["cnnconv/tiling/ has no '### `cnnconv/tiling/`' paragraph"]


def test_a_paragraph_of_no_package_is_reported(doc):
    wrong = doc.replace("### `cnnconv/dask/`", "### `cnnconv/pool/`")
    assert paragraph_problems(wrong) == [
        "cnnconv/dask/ has no '### `cnnconv/dask/`' paragraph",
        "the paragraph of cnnconv/pool/ names no package folder",
    ]


def test_an_import_the_list_leaves_out_and_a_name_it_adds_are_reported(doc):
    body = sections(doc)["cnnconv/pooling/"]
    line = next(ln for ln in body.splitlines() if ln.startswith("**May import:**"))
    wrong_line = line.replace("`cnnconv.conv`, ", "").replace("`cnnconv.shape`", "`cnnconv.shape`, `cnnconv.io`")
    assert wrong_line != line
    assert paragraph_problems(doc.replace(line, wrong_line)) == [
        "cnnconv/pooling/ imports cnnconv.conv, which its 'May import' line does not allow",
        "cnnconv/pooling/'s 'May import' line names cnnconv.io, which none of its modules imports",
    ]
    assert paragraph_problems(doc.replace(line, "")) == ["the paragraph of cnnconv/pooling/ has no '**May import:**' line"]
