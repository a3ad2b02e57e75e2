"""The shape of the code (issue 15): no import circles, a pure booking core, small modules, one wiring place.

Read from the source with ``ast``, nothing is imported. Every import statement
counts, wherever it stands: at the top, inside a function, under ``if
TYPE_CHECKING:``. An import names the module it reaches: ``from mailflow.api
import bookings`` reaches ``mailflow.api.bookings``, ``from mailflow.api import
Api`` reaches ``mailflow.api``.
"""

from __future__ import annotations

import ast
import sys
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "mailflow"
LIMIT = 500  # lines per module; Alembic migrations aside
CORE = "mailflow.booking"
CORE_MAY_IMPORT = ("mailflow.errors",)
ENTRY_POINTS = ("mailflow.__main__", "mailflow.cli")
"""The modules that may start the process: the CLI (the ``mailflow.cli`` package, all its
modules) and ``python -m mailflow``. mailflow has no ASGI factory of its own: the web
application is built by ``mailflow.runtime`` (``serve --roles web``)."""
WIRING = ("mailflow.bootstrap", "mailflow.runtime")
"""Where the parts are built and the roles run: only the entry points (and ``runtime``,
which runs what ``bootstrap`` built) import these."""
PARTS = "mailflow.parts"
"""The narrow, typed parts the adapters receive: neutral, so bootstrap and adapters share it."""
ADAPTERS = (
    "mailflow.api",
    "mailflow.__main__",
    "mailflow.cli",
    "mailflow.demo",
    "mailflow.inbound",
    "mailflow.runtime",
    "mailflow.scheduling",
    "mailflow.web",
)


def is_within(name: str, package: str) -> bool:
    """``name`` is ``package`` or one of its submodules."""
    return name == package or name.startswith(package + ".")


@cache
def modules() -> dict[str, Path]:
    """Every mailflow module by dotted name, migrations aside."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        if "migrations" in path.relative_to(PACKAGE).parts:
            continue
        parts = path.relative_to(ROOT).with_suffix("").parts
        found[".".join(parts[:-1] if path.name == "__init__.py" else parts)] = path
    return found


def import_targets(module: str, node: ast.Import | ast.ImportFrom) -> list[str]:
    """The absolute dotted names an import statement reaches.

    ``from a import b`` reaches ``a.b`` when that is a mailflow module, else ``a``.
    """
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:
        package = module.split(".")
        if modules()[module].name != "__init__.py":
            package = package[:-1]
        package = package[: len(package) - (node.level - 1)]
        base = ".".join([*package, base] if base else package)
    return [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules() else base for alias in node.names]


def nearest_module(name: str) -> str | None:
    """The mailflow module ``name`` lies in (``mailflow.api.Api`` -> ``mailflow.api``), or None."""
    while name and name not in modules():
        name = name.rpartition(".")[0]
    return name or None


@cache
def imports_of(module: str) -> frozenset[str]:
    """The mailflow modules ``module`` imports anywhere in its source, itself left out."""
    return imports_in(module, modules()[module].read_text(encoding="utf-8"))


def imports_in(module: str, source: str) -> frozenset[str]:
    """The mailflow modules ``source`` (the text of ``module``) imports anywhere, itself left out."""
    tree = ast.parse(source)
    reached: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            reached.update(filter(None, map(nearest_module, import_targets(module, node))))
    reached.discard(module)
    return frozenset(reached)


def reachable(start: str) -> set[str]:
    """The modules ``start`` imports, directly or through others."""
    seen: set[str] = set()
    todo = list(imports_of(start))
    while todo:
        module = todo.pop()
        if module not in seen:
            seen.add(module)
            todo.extend(imports_of(module))
    return seen


def circles() -> list[list[str]]:
    """The import circles: groups of modules that each reach every other one of the group."""
    reach = {module: reachable(module) for module in modules()}
    groups: list[list[str]] = []
    placed: set[str] = set()
    for module in modules():
        if module in placed or module not in reach[module]:
            continue
        group = sorted(other for other in reach[module] if module in reach[other])
        placed.update(group)
        groups.append(group)
    return groups


def line_count(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines())


def test_the_import_graph_is_read_from_every_module() -> None:
    """The check sees the package: the wiring, the core and the adapters are all there."""
    names = modules()
    assert {"mailflow.bootstrap", "mailflow.runtime", "mailflow.booking.policy", "mailflow.web.app"} <= set(
        names
    )
    assert "mailflow.bootstrap" in imports_of("mailflow.runtime")
    assert not any("migrations" in name for name in names)


def test_no_import_circles_among_mailflow_modules() -> None:
    """No module reaches itself through its imports, those in functions and under TYPE_CHECKING too."""
    assert circles() == []


def test_booking_core_imports_only_itself_the_standard_library_and_errors() -> None:
    """mailflow/booking does no I/O: it imports only itself, the standard library and mailflow.errors."""
    outside = []
    for module, path in modules().items():
        if not is_within(module, CORE):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Import | ast.ImportFrom):
                continue
            for name in import_targets(module, node):
                top = name.partition(".")[0]
                if top == "mailflow":
                    allowed = is_within(name, CORE) or any(is_within(name, ok) for ok in CORE_MAY_IMPORT)
                else:
                    allowed = top == "__future__" or top in sys.stdlib_module_names
                if not allowed:
                    outside.append(f"{module} -> {name}")
    assert outside == []


def test_bootstrap_builds_without_any_adapter() -> None:
    """mailflow/bootstrap.py reaches no adapter (web, API, CLI, inbound, scheduling, demo, runtime)."""
    assert (
        sorted(
            module
            for module in reachable("mailflow.bootstrap")
            if any(is_within(module, a) for a in ADAPTERS)
        )
        == []
    )


def may_import_wiring(module: str) -> bool:
    """The entry points, and ``mailflow.runtime`` (it runs what ``mailflow.bootstrap`` built)."""
    return module == "mailflow.runtime" or any(is_within(module, entry) for entry in ENTRY_POINTS)


def wiring_importers(imports: dict[str, frozenset[str]]) -> list[str]:
    """``module -> wiring module`` for every import of bootstrap or runtime outside the entry points."""
    return sorted(
        f"{module} -> {wiring}"
        for module, reached in imports.items()
        for wiring in WIRING
        if wiring in reached and not may_import_wiring(module)
    )


def test_only_entry_points_import_bootstrap_or_runtime() -> None:
    """No adapter names the wiring (not in a function, not under TYPE_CHECKING): only the CLI,
    ``python -m mailflow`` and runtime import mailflow.bootstrap or mailflow.runtime."""
    assert wiring_importers({module: imports_of(module) for module in modules()}) == []


def test_the_wiring_check_counts_imports_in_functions_and_under_type_checking() -> None:
    """The check sees every form of import: a module-level one, one inside a function, one under
    ``TYPE_CHECKING``, ``from mailflow import bootstrap`` — and lets the entry points through."""
    samples = {
        "mailflow.web.app": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
        "    from mailflow.bootstrap import App\n",
        "mailflow.inbound.smtp": "def start():\n    from mailflow.runtime import serve\n",
        "mailflow.demo": "from mailflow import bootstrap\n",
        "mailflow.scheduling.jobs": "import mailflow.runtime\n",
        "mailflow.cli.serve": "from mailflow.runtime import serve\nfrom mailflow.bootstrap import build\n",
        "mailflow.runtime": "from mailflow.bootstrap import App\n",
    }
    imports = {module: imports_in(module, source) for module, source in samples.items()}
    assert wiring_importers(imports) == [
        "mailflow.demo -> mailflow.bootstrap",
        "mailflow.inbound.smtp -> mailflow.runtime",
        "mailflow.scheduling.jobs -> mailflow.runtime",
        "mailflow.web.app -> mailflow.bootstrap",
    ]


def test_the_parts_adapters_receive_import_no_adapter() -> None:
    """mailflow/parts.py (what each adapter receives) reaches no adapter, so both bootstrap and
    the adapters may import it without a circle."""
    assert PARTS in modules()
    reached = reachable(PARTS)
    assert sorted(module for module in reached if any(is_within(module, a) for a in ADAPTERS)) == []


def test_only_entry_points_import_the_runtime() -> None:
    """Only the entry points (the CLI, ``python -m mailflow``) start roles through mailflow.runtime."""
    importers = sorted(
        module
        for module in modules()
        if "mailflow.runtime" in imports_of(module)
        and not any(is_within(module, entry) for entry in ENTRY_POINTS)
    )
    assert importers == []


def test_no_module_over_500_lines() -> None:
    """No module exceeds 500 lines, Alembic migrations aside: a longer one is split along a seam."""
    too_long = {
        str(path.relative_to(ROOT)): lines
        for path in modules().values()
        if (lines := line_count(path)) > LIMIT
    }
    assert too_long == {}, "split these modules: no module over 500 lines"
