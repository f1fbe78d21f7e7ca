"""Settings are read at the edge (issue 21 item 1): the core (tasks/, warehouse/) imports
neither the settings, nor the CLI's logging, commands or entry point, nor the flows above it."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
#: modules the core must not import (the edge: settings, CLI, Prefect flows)
EDGE = ("calcisvd.settings", "calcisvd.logging", "calcisvd.cli", "calcisvd.commands", "flows")
#: exceptions (none: warehouse/ takes WarehousePaths, tasks/ingest IngestConfig, both built
#: from the settings at the edge). The test fails on any import not listed here, and on a
#: listed one that is gone.
KNOWN: set[tuple[str, str]] = set()


def edge_imports(path: Path) -> set[str]:
    """The edge modules ``path`` imports (anywhere in it, type-only imports included)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        found |= {e for n in names for e in EDGE if n == e or n.startswith(e + ".")}
    return found


def test_the_core_does_not_import_the_edge():
    got = {(f.relative_to(REPO).as_posix(), mod)
           for root in ("tasks", "warehouse") for f in sorted((REPO / root).rglob("*.py"))
           for mod in edge_imports(f)}
    assert got - KNOWN == set(), f"new imports of the edge from the core: {sorted(got - KNOWN)}"
    assert KNOWN - got == set(), f"moved (update KNOWN): {sorted(KNOWN - got)}"


def test_the_walk_sees_type_only_and_nested_imports(tmp_path):
    f = tmp_path / "x.py"
    f.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                 "    from calcisvd.settings import Settings\n"
                 "def f():\n    import flows.load\n    from calcisvd.logging import get_logger\n"
                 "    from calcisvd.measures import SVD_MEASURES\n")
    assert edge_imports(f) == {"calcisvd.settings", "flows", "calcisvd.logging"}
