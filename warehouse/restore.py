"""Rebuild a damaged warehouse from the last Parquet snapshot plus the derivatives.

``calcisvd warehouse restore``: a new file ``<name>.restoring`` is created with the current
schema, every table of the current snapshot (curated tables, their history, runs,
validation results, quarantine and log) is copied in, and a normal load then brings in what
the derivatives hold beyond the snapshot; only then is the damaged file (and its ``.wal``)
moved aside to ``<name>.damaged-<UTC time>`` (kept for inspection, never deleted) and the new
one renamed into its place, so a restore killed midway is simply run again. Without a
snapshot the warehouse is rebuilt from the derivatives alone (the history of earlier loads is
then lost, and the summary says so).
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

from warehouse import db
from warehouse.export import SNAPSHOT_TABLES, current_snapshot
from warehouse.paths import WarehousePaths
from warehouse.resource import Warehouse


def move_aside(path: Path, now: dt.datetime | None = None) -> list[Path]:
    """Rename ``path`` and its ``.wal`` to ``*.damaged-<time>``; returns the new paths."""
    stamp = (now or dt.datetime.now(dt.UTC)).strftime("%Y%m%dT%H%M%SZ")
    moved = []
    for p in (Path(path), Path(f"{path}.wal")):
        if p.exists():
            dest = p.with_name(f"{p.name}.damaged-{stamp}")
            os.replace(p, dest)
            moved.append(dest)
    return moved


def copy_snapshot(con: Any, snap: Path) -> dict[str, int]:
    """Insert every snapshot table into the (empty) warehouse; rows per table."""
    rows: dict[str, int] = {}
    with db.transaction(con):
        for table in SNAPSHOT_TABLES:
            path = snap / f"{table}.parquet"
            if not path.is_file():
                continue
            # table names are constants (SNAPSHOT_TABLES); the file is bound as a parameter
            con.execute(f"DELETE FROM main.{table}")
            con.execute(f"INSERT INTO main.{table} BY NAME SELECT * FROM read_parquet(?)",
                        [str(path)])
            rows[table] = con.execute(f"SELECT count(*) FROM main.{table}").fetchone()[0]
        db.refresh_views(con)
    return rows


def restore_warehouse(settings: WarehousePaths, *, force: bool = False,
                      build_docs: bool = False) -> dict[str, Any]:
    """Rebuild the warehouse (see the module docstring); returns a summary.

    A healthy warehouse is left alone unless ``force``.
    """
    assert settings.warehouse_path and settings.parquet_dir
    path = Path(settings.warehouse_path)
    summary: dict[str, Any] = {"warehouse": str(path)}
    if path.exists() and not force:
        try:
            with Warehouse(path).read() as con:
                why = db.deep_check(con)
        except db.WarehouseDamagedError as exc:
            summary["damage"] = str(exc)
        else:
            if why is None:
                return {**summary, "status": "healthy", "restored": False}
            summary["damage"] = why
    with Warehouse(path).load_lock():  # no load writes while the file is rebuilt
        return _rebuild(settings, path, summary, build_docs)


def _rebuild(settings: WarehousePaths, path: Path, summary: dict[str, Any],
             build_docs: bool) -> dict[str, Any]:
    from warehouse.load import load_derivatives

    # built beside the file and swapped in at the end: a restore killed midway leaves the
    # damaged file in place (the rerun starts again), never a half-filled "healthy" one
    building = path.with_name(f"{path.name}.restoring")
    for p in (building, Path(f"{building}.wal")):
        p.unlink(missing_ok=True)
    snap = current_snapshot(settings.parquet_dir)
    with Warehouse(building).write() as con:
        if snap is not None and snap.is_dir():
            summary["snapshot"] = snap.name
            summary["snapshot_rows"] = copy_snapshot(con, snap)
        else:
            summary["snapshot"] = None
            summary["note"] = ("no Parquet snapshot: rebuilt from the derivatives only; the "
                               "history of earlier loads is lost")
    load = load_derivatives(settings.replace(warehouse_path=building), build_docs=build_docs)
    summary["load"] = {"status": load.status, "written": load.written}
    summary["moved_aside"] = [str(p) for p in move_aside(path)]
    os.replace(building, path)
    summary["status"] = "restored" if load.ok else "restored-from-snapshot-load-failed"
    summary["restored"] = True
    Warehouse(building).lock_path.unlink(missing_ok=True)
    return summary
