"""The CLI package's shape: one module per command group, each under 500 lines, no circles.

The root (``mailflow/cli/__init__.py``) imports the groups; a group imports nothing of the
package but ``mailflow.cli.common``; ``common`` imports nothing of the package. Every import
counts, those inside functions and under ``TYPE_CHECKING`` too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

CLI = Path(__file__).resolve().parents[2] / "mailflow" / "cli"
MODULES = sorted(CLI.glob("*.py"))


def cli_imports(path: Path) -> set[str]:
    """The ``mailflow.cli`` modules ``path`` imports (``mailflow.cli`` itself for the root)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "mailflow.cli":
                found.update(f"mailflow.cli.{alias.name}" for alias in node.names)
            elif node.module.startswith("mailflow.cli."):
                found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(
                a.name for a in node.names if a.name == "mailflow.cli" or a.name.startswith("mailflow.cli.")
            )
    return found


def test_the_package_has_its_command_groups() -> None:
    """The root and common exist beside a module per group."""
    names = {path.stem for path in MODULES}
    assert {"__init__", "common", "serve", "bookings", "inbound", "templates", "admin"} <= names


@pytest.mark.parametrize("path", [p for p in MODULES if p.stem != "__init__"], ids=lambda p: p.stem)
def test_a_group_imports_only_common(path: Path) -> None:
    """A group module reaches the rest of the package only through ``mailflow.cli.common``."""
    allowed = set() if path.stem == "common" else {"mailflow.cli.common"}
    assert cli_imports(path) <= allowed


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.stem)
def test_a_cli_module_stays_under_500_lines(path: Path) -> None:
    """No CLI module grows past 500 lines."""
    assert len(path.read_text(encoding="utf-8").splitlines()) < 500
