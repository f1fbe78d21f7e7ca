"""The DataFrames the expectation suites validate, fetched from the warehouse.

Each suite's ``meta`` names its source (``expectations/runner.py``): a warehouse table or a
query in ``expectations/checks/``, read from schema ``staging`` (scope ``batch``) or ``merged``
(the staged batch over the curated tables) when a batch is validated before promotion, and from
``main`` when the curated tables are. The connection comes from the caller
(:class:`warehouse.resource.Warehouse`); validation itself only sees frames.
"""

from __future__ import annotations

from typing import Any

from expectations.runner import CHECKS_DIR, load_suite_spec, suite_names

#: tables a suite may name as its source (schema names and tables are constants, never input)
TABLES = frozenset({"subjects", "sessions", "scans", "icac_artery_measures",
                    "icac_session_measures", "svd_measures", "session_iqms"})
TARGETS = ("staging", "curated")


def suite_frames(con: Any, target: str, suites: list[str] | None = None) -> dict[str, Any]:
    """``{suite name: DataFrame of its source}`` for the staged batch (``target='staging'``)
    or the curated tables (``'curated'``)."""
    if target not in TARGETS:
        raise ValueError(f"target must be staging or curated, not {target!r}")
    return {name: fetch_frame(con, name, target) for name in (suites or suite_names())}


def fetch_frame(con: Any, name: str, target: str) -> Any:
    """DataFrame of suite ``name``'s source: staged/merged schema for ``staging``, else main."""
    spec = load_suite_spec(name)["meta"]
    schema = "main"
    if target == "staging":
        schema = "staging" if spec["scope"] == "batch" else "merged"
    source = spec["source"]
    con.execute(f"USE {schema}")  # schema names are constants above, never user input
    try:
        if "table" in source:
            table = source["table"]
            if table not in TABLES:
                raise ValueError(f"suite {name}: unknown table {table}")
            return con.execute(f"SELECT * FROM {table}").df()
        sql = (CHECKS_DIR / source["query"]).read_text(encoding="utf-8")
        return con.execute(sql.strip().rstrip(";")).df()
    finally:
        con.execute("USE main")
