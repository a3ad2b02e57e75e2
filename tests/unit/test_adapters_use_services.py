"""The adapters (CLI, JSON API, pages, inbound) only parse, call the service layer and present.

DESIGN §11: every change of state is a function in ``mailflow/services/``; no module
under ``mailflow/web``, ``mailflow/api``, ``mailflow/cli*``, ``mailflow/inbound`` or
``mailflow/scheduling``
imports the tables at run time, opens a write session, builds SQL or runs statements
on a session. A simple AST check: imports under ``if TYPE_CHECKING:`` (annotations)
are allowed.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "mailflow"
ADAPTERS = ("web", "api", "inbound", "scheduling")
SQL_BUILDERS = {
    "select",
    "insert",
    "update",
    "delete",
    "text",
    "col",
    "bindparam",
    "func",
    "and_",
    "or_",
    "exists",
}
SESSION_WRITES = {"add", "add_all", "delete", "execute", "exec", "merge", "flush", "begin_nested"}
FORBIDDEN_MODULES = ("mailflow.store.tables", "mailflow.store.links")
FORBIDDEN_NAMES = {"mailflow.store.engine": {"write_session"}}
"""Reading through ``read_session`` and the query functions of ``mailflow.store.queries`` is
allowed; writing and SQL are not."""


def adapter_modules() -> list[Path]:
    found = sorted(PACKAGE.glob("cli*.py")) + sorted(PACKAGE.glob("cli/**/*.py"))
    for name in ADAPTERS:
        found += sorted((PACKAGE / name).rglob("*.py"))
    return [*found, PACKAGE / "demo.py"]  # the demo sets its business up as a user would


def _type_checking_lines(tree: ast.Module) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for inner in node.body:
                lines.update(range(inner.lineno, (inner.end_lineno or inner.lineno) + 1))
    return lines


def problems_of(path: Path) -> list[str]:
    """What in ``path`` touches the store directly, one line each."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    annotations_only = _type_checking_lines(tree)
    found = []
    for node in ast.walk(tree):
        where = f"{path.name}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.ImportFrom) and node.lineno not in annotations_only:
            module = node.module or ""
            if module in FORBIDDEN_MODULES:
                found.append(f"{where}: imports {module}")
            for name in FORBIDDEN_NAMES.get(module, set()) & {alias.name for alias in node.names}:
                found.append(f"{where}: imports {name} from {module}")
            if module.split(".")[0] in ("sqlalchemy", "sqlmodel"):
                builders = SQL_BUILDERS & {alias.name for alias in node.names}
                if builders:
                    found.append(f"{where}: builds SQL ({', '.join(sorted(builders))} from {module})")
        if isinstance(node, ast.Import) and node.lineno not in annotations_only:
            for alias in node.names:
                if alias.name in FORBIDDEN_MODULES:
                    found.append(f"{where}: imports {alias.name}")
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in SESSION_WRITES
            and "session" in ast.unparse(node.func.value).lower()
        ):
            found.append(f"{where}: {ast.unparse(node.func)}(…) on a session")
    return found


def test_the_check_finds_a_table_write(tmp_path: Path) -> None:
    """The check itself: a module that imports a table and adds a row to a session is caught."""
    sample = tmp_path / "sample.py"  # outside the package: other tests walk it meanwhile
    source = (
        "from mailflow.store.tables import Staff\n"
        "from sqlmodel import select\n"
        "def f(session):\n    session.add(Staff())\n"
    )
    sample.write_text(source, encoding="utf-8")
    assert len(problems_of(sample)) == 3, problems_of(sample)


def test_annotations_under_type_checking_are_allowed(tmp_path: Path) -> None:
    """An import of a table for a type annotation only is not a write."""
    sample = tmp_path / "sample.py"
    sample.write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from mailflow.store.tables import Staff\n",
        encoding="utf-8",
    )
    assert problems_of(sample) == []


@pytest.mark.parametrize("path", adapter_modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_adapter_neither_touches_tables_nor_builds_sql(path: Path) -> None:
    """Every adapter module leaves the store to ``mailflow/services``."""
    assert problems_of(path) == []
