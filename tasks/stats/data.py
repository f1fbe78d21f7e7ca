"""Read the analyst views of the warehouse into pandas DataFrames.

The contract (``docs/architecture.md``, "Warehouse views for analysts"): ``v_baseline_cohort``,
``v_one_year_change``, ``v_session_measures``, ``v_icac_by_artery``. The SQL lives in
``sql/analysis_frames.sql``; the connection is passed in (a DuckDB connection, opened
read-only by the caller), never opened here.

Optional ground truth of a simulated cohort: tables ``truth_baseline_cohort``,
``truth_one_year_change`` and ``truth_session_measures`` with the same columns as the views
(``sql/truth_frames.sql``); :func:`read_truth_frames` returns ``None`` when absent.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

SQL_DIR = Path(__file__).with_name("sql")
VIEWS = {"baseline": "v_baseline_cohort", "change": "v_one_year_change",
         "sessions": "v_session_measures", "icac_by_artery": "v_icac_by_artery",
         "session_qc": "v_session_qc"}
TRUTH_TABLES = {"baseline": "truth_baseline_cohort", "change": "truth_one_year_change",
                "sessions": "truth_session_measures"}


@dataclass
class AnalysisFrames:
    """The analyst views as DataFrames (``None`` for a view that does not exist)."""

    baseline: pd.DataFrame
    change: pd.DataFrame | None = None
    sessions: pd.DataFrame | None = None
    icac_by_artery: pd.DataFrame | None = None
    session_qc: pd.DataFrame | None = None  # v_session_qc: statuses, ratings, QC decision
    source: str = ""


def load_queries(path: Path) -> dict[str, str]:
    """Statements of a ``.sql`` file keyed by their ``-- name: x`` comment."""
    queries: dict[str, str] = {}
    name = None
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip().startswith("-- name:"):
            name = line.split(":", 1)[1].strip()
            queries[name] = ""
        elif name and not line.strip().startswith("--"):
            queries[name] += line + "\n"
    return {k: v.strip().rstrip(";") for k, v in queries.items()}


def _relations(con) -> set[str]:
    rows = con.execute("SELECT table_name FROM information_schema.tables").fetchall()
    return {r[0] for r in rows}


def _read(con, sql_file: str, names: dict[str, str]) -> dict[str, pd.DataFrame | None]:
    queries = load_queries(SQL_DIR / sql_file)
    present = _relations(con)
    return {key: (con.execute(queries[key]).df() if rel in present else None)
            for key, rel in names.items()}


def read_analysis_frames(con) -> AnalysisFrames:
    """The four analyst views from a DuckDB connection; raises if ``v_baseline_cohort`` is
    missing (the warehouse was not loaded)."""
    frames = _read(con, "analysis_frames.sql", VIEWS)
    if frames["baseline"] is None:
        raise LookupError("warehouse has no v_baseline_cohort view: run `calcisvd load` first")
    return AnalysisFrames(source="warehouse", **frames)


def read_truth_frames(con) -> AnalysisFrames | None:
    """Ground-truth frames (``truth_*`` tables) or ``None`` when the warehouse has none."""
    frames = _read(con, "truth_frames.sql", TRUTH_TABLES)
    if frames["baseline"] is None:
        return None
    return AnalysisFrames(source="ground truth", **frames)
