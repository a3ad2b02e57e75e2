"""The package's layout as setuptools sees it (pyproject.toml): every file under mailflow/ reaches the
wheel, either as a module of a package (a folder with ``__init__.py``) or as listed package data, and
no data folder is mistaken for a namespace package."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "mailflow"


def setuptools_config() -> dict[str, object]:
    config: dict[str, object] = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    return config


def shipped_files() -> set[Path]:
    """Every file under mailflow/ but byte code."""
    return {
        path
        for path in PACKAGE.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    }


def test_every_file_of_the_package_is_a_module_or_listed_package_data() -> None:
    """A file neither in a package folder nor matched by package-data would be missing from the wheel."""
    patterns = setuptools_config()["package-data"]["mailflow"]  # type: ignore[index]
    data = {path for pattern in patterns for path in PACKAGE.glob(pattern) if path.is_file()}
    modules = {
        path for path in shipped_files() if path.suffix == ".py" and (path.parent / "__init__.py").exists()
    }
    assert sorted(map(str, shipped_files() - data - modules)) == []
    assert any(path.match("store/migrations/versions/0001_*.py") for path in data)  # migrations are data


def test_data_folders_are_no_packages_and_the_editable_install_needs_no_import_hook() -> None:
    """Namespace packages are off (templates/de is not a package), package data comes only from
    the list, and package-dir "." lets setuptools install in editable mode with a plain .pth line
    (its import-hook mode warns about folders named like the package)."""
    config = setuptools_config()
    assert config["packages"]["find"] == {"include": ["mailflow*"], "namespaces": False}  # type: ignore[index]
    assert config["include-package-data"] is False
    assert config["package-dir"] == {"": "."}
    folders_with_modules = {path.parent for path in PACKAGE.rglob("*.py") if "__pycache__" not in path.parts}
    without_init = {folder for folder in folders_with_modules if not (folder / "__init__.py").exists()}
    assert without_init == {PACKAGE / "store" / "migrations" / "versions"}  # Alembic's, shipped as data
