"""Parquet snapshots of the warehouse, and read connections that never wait for a load.

After each successful load the curated tables (and history, runs, validation results,
quarantine) are written to ``<parquet_dir>/snapshots/<run_id>/<table>.parquet`` and the symlink
``<parquet_dir>/current`` is switched to it atomically (``os.replace``). Readers resolve the link
once, so they always see one complete snapshot. The analyst views are re-created over the files
in an in-memory DuckDB (:func:`open_snapshot`). See warehouse/schema.md.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from warehouse.db import (
    VIEWS_DIR,
    WarehouseDamagedError,
    WarehouseLockedError,
    connect,
    run_script,
)

#: tables written to each snapshot
SNAPSHOT_TABLES: tuple[str, ...] = (
    "subjects", "sessions", "scans", "icac_artery_measures", "icac_session_measures",
    "svd_measures", "subjects_history", "sessions_history", "scans_history",
    "icac_artery_measures_history", "icac_session_measures_history", "svd_measures_history",
    "pipeline_runs", "validation_results", "ingest_quarantine", "ingest_log",
    "session_iqms", "session_iqms_history", "qc_ratings",  # issue 20
)
KEEP_SNAPSHOTS = 3
ANALYST_VIEWS_FILE = VIEWS_DIR / "020_analyst_views.sql"
ANALYST_VIEWS: tuple[str, ...] = ("v_baseline_cohort", "v_one_year_change", "v_session_measures",
                                  "v_icac_by_artery", "v_subject_summary")


def export_snapshot(con: Any, parquet_dir: Path, run_id: str) -> Path:
    """Write every snapshot table as Parquet and point ``<parquet_dir>/current`` at it."""
    parquet_dir = Path(parquet_dir)
    snap = parquet_dir / "snapshots" / run_id
    tmp = snap.with_name(snap.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    os.chmod(parquet_dir, 0o750)  # curated data: not world-readable
    for table in SNAPSHOT_TABLES:
        target = tmp / f"{table}.parquet"
        # table names are the constants above; the file name is bound as a parameter
        con.execute(f"COPY (SELECT * FROM main.{table}) TO ? (FORMAT parquet)", [str(target)])
    shutil.rmtree(snap, ignore_errors=True)
    os.replace(tmp, snap)
    link = parquet_dir / "current"
    tmp_link = parquet_dir / f".current.{os.getpid()}"
    if tmp_link.is_symlink() or tmp_link.exists():
        tmp_link.unlink()
    os.symlink(Path("snapshots") / run_id, tmp_link)
    os.replace(tmp_link, link)
    _prune(parquet_dir / "snapshots", keep=snap)
    return snap


def _prune(snapshots: Path, keep: Path) -> None:
    dirs = sorted((p for p in snapshots.iterdir() if p.is_dir() and p != keep
                   and not p.name.endswith(".partial")), key=lambda p: p.stat().st_mtime)
    for old in dirs[:max(0, len(dirs) - (KEEP_SNAPSHOTS - 1))]:
        shutil.rmtree(old, ignore_errors=True)


def current_snapshot(parquet_dir: Path) -> Path | None:
    """The snapshot directory ``current`` points at (resolved once), or None."""
    link = Path(parquet_dir) / "current"
    if not link.exists():
        return None
    return link.resolve()


def open_snapshot(parquet_dir: Path) -> Any:
    """In-memory DuckDB with one view per snapshot table and the analyst views over them."""
    import duckdb

    snap = current_snapshot(parquet_dir)
    if snap is None:
        raise FileNotFoundError(f"no Parquet snapshot under {parquet_dir}; run `calcisvd load`")
    con = duckdb.connect(":memory:")
    for table in SNAPSHOT_TABLES:
        path = snap / f"{table}.parquet"
        if path.is_file():
            # DDL cannot take parameters; the path comes from our own snapshot directory
            literal = str(path).replace("'", "''")
            con.execute(f"CREATE VIEW {table} AS SELECT * FROM read_parquet('{literal}')")
    run_script(con, ANALYST_VIEWS_FILE.read_text(encoding="utf-8"))
    for view in ANALYST_VIEWS:
        con.execute(f"CREATE VIEW {view} AS SELECT * FROM {view}_live")
    return con


def open_reader(warehouse_path: Path, parquet_dir: Path) -> tuple[Any, str]:
    """A connection for queries: the DuckDB file read-only when free, else the snapshot.

    Returns ``(connection, source)`` with source ``"duckdb"`` or ``"parquet"``. A load holds
    the file for its whole duration; queries then read the last successful snapshot.
    """
    if Path(warehouse_path).is_file():
        try:
            return connect(warehouse_path, read_only=True), "duckdb"
        except (WarehouseLockedError, WarehouseDamagedError):  # damaged: the snapshot answers
            pass
    return open_snapshot(parquet_dir), "parquet"
