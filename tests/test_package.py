"""The package surface: top-level exports resolve, version agrees, ``python -m cnnconv`` runs."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import cnnconv


@pytest.mark.parametrize("name", sorted(cnnconv._EXPORTS))
def test_every_top_level_export_is_its_modules_own_documented_object(name):
    module = importlib.import_module(cnnconv._EXPORTS[name])
    exported = getattr(cnnconv, name)
    assert exported is getattr(module, name)
    assert name in cnnconv.__all__ and name in dir(cnnconv)
    if callable(exported):  # functions and classes: defined in cnnconv, with a docstring that says what they do
        assert exported.__module__.startswith("cnnconv.") and exported.__name__ == name
        assert (exported.__doc__ or "").strip(), f"{name} has no docstring"


def test_unknown_attribute_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        cnnconv.nope  # noqa: B018


def test_python_dash_m_reports_the_package_version():
    out = subprocess.run(
        [sys.executable, "-m", "cnnconv", "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == f"cnnconv, version {cnnconv.__version__}"


def test_version_matches_the_installed_metadata():
    from importlib.metadata import version

    assert version("cnnconv") == cnnconv.__version__


def test_pyproject_lists_every_package_folder_and_nothing_else():
    # A folder left out of the list would be missing from an installed (non-editable) cnnconv.
    import tomllib
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    setup = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]
    folders = {
        ".".join(p.parent.relative_to(root).parts)
        for p in (root / "cnnconv").rglob("__init__.py")
        if "__pycache__" not in p.parts
    }
    mapped = setup["package-dir"]  # packages whose folder lies elsewhere: the bundled kernels
    assert set(setup["packages"]) - set(mapped) == folders
    assert all((root / folder / "__init__.py").is_file() for folder in mapped.values())
