"""Fingerprints that let a rerun skip the warehouse stages when nothing they read changed.

* load: :func:`load_inputs_fingerprint` covers every file the load reads (``participants.tsv``,
  ``sub-*_sessions.tsv``, the images and sidecars under ``sub-*/ses-*/anat/``, each session's
  ``measures.json``, the quarantine reason files: path, size and modification time in ns, the
  same identity the image hash cache uses) and the code that loads and validates them
  (``warehouse/``, ``expectations/``). It is stored with the load's ``pipeline_runs`` row.
* validate: :func:`curated_state` hashes the curated tables' content; analyze:
  :func:`analysis_fingerprint` the analyst views it reads, its options and its code.

A stage compares the fingerprint with the one of its last run (:func:`last_run_with`) and skips
when they are equal; a changed file, a new session, a new quarantine entry or changed code
gives a different fingerprint, and the stage runs.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from calcisvd.provenance import code_fingerprint
from warehouse.paths import WarehousePaths

_REPO = Path(__file__).resolve().parents[1]
#: code whose change must redo a load or a validation (files under these folders)
LOAD_CODE = ("warehouse", "expectations")


def _stat_line(root: Path, path: str) -> str | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return f"{os.path.relpath(path, root)}\t{st.st_size}\t{st.st_mtime_ns}"


def _scandir(path: Path | str) -> list[os.DirEntry]:
    try:
        return sorted(os.scandir(path), key=lambda e: e.name)
    except (FileNotFoundError, NotADirectoryError):
        return []


def load_input_files(settings: WarehousePaths) -> Iterable[str]:
    """Every file :func:`warehouse.load.read_batch` reads (paths as strings, sorted)."""
    bids, deriv, quarantine = settings.bids_dir, settings.derivatives_dir, settings.quarantine_dir
    assert bids and deriv and quarantine
    yield str(bids / "participants.tsv")
    for sub in _scandir(bids):
        if not (sub.name.startswith("sub-") and sub.is_dir()):
            continue
        yield os.path.join(sub.path, f"{sub.name}_sessions.tsv")
        for ses in _scandir(sub.path):
            if ses.name.startswith("ses-") and ses.is_dir():
                for f in _scandir(os.path.join(ses.path, "anat")):
                    yield f.path
    for sub in _scandir(deriv):
        if sub.name.startswith("sub-") and sub.is_dir():
            for ses in _scandir(sub.path):
                if ses.name.startswith("ses-") and ses.is_dir():
                    yield os.path.join(ses.path, f"{sub.name}_{ses.name}_measures.json")
    if quarantine.is_dir():
        for root, dirs, files in os.walk(quarantine):
            dirs[:] = sorted(d for d in dirs if d != "files")
            for name in sorted(files):
                if name.endswith(".json"):
                    yield os.path.join(root, name)


def load_inputs_fingerprint(settings: WarehousePaths) -> str:
    """Fingerprint of the load's inputs (files by path, size, mtime) and of its code."""
    h = hashlib.sha256(code_fingerprint(LOAD_CODE).encode())
    root = Path(settings.home)
    for path in load_input_files(settings):
        line = _stat_line(root, path)
        if line is not None:
            h.update(line.encode() + b"\n")
    return h.hexdigest()


def curated_state(con: Any) -> str:
    """Fingerprint of the curated tables' content (sorted rows) and of the warehouse code."""
    from warehouse.load import curated_fingerprint

    return hashlib.sha256((code_fingerprint(LOAD_CODE) + curated_fingerprint(con))
                          .encode()).hexdigest()


def last_run_with(con: Any, kind: str) -> dict[str, Any] | None:
    """The latest finished ``pipeline_runs`` row of ``kind`` (load, validate) with its stored
    ``inputs_fingerprint``; None when there is none."""
    row = con.execute(
        "SELECT run_id, status, message, parameters FROM pipeline_runs "
        "WHERE kind = $kind AND status IN ('success', 'failed') "
        "ORDER BY started_at DESC LIMIT 1", {"kind": kind}).fetchone()
    if row is None:
        return None
    try:
        params = json.loads(row[3] or "{}")
    except ValueError:
        params = {}
    return {"run_id": row[0], "status": row[1], "message": row[2] or "",
            "inputs_fingerprint": params.get("inputs_fingerprint")}


#: code whose change must redo the analysis
ANALYSIS_CODE = ("tasks/stats", "tasks/report")
#: what the analysis reads from the warehouse (the analyst views; ground truth when present)
ANALYSIS_RELATIONS = ("v_baseline_cohort", "v_one_year_change", "v_session_measures",
                      "v_icac_by_artery", "truth_baseline_cohort", "truth_one_year_change",
                      "truth_session_measures", "v_session_qc")  # QC decisions, ratings


def relations_fingerprint(con: Any, names: Iterable[str]) -> str:
    """SHA-256 over the sorted rows of the tables/views ``names`` that exist (constants)."""
    present = {r[0] for r in con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'")
        .fetchall()}
    h = hashlib.sha256()
    for name in names:
        if name in present:
            h.update(name.encode())
            h.update(repr(con.execute(f"SELECT * FROM main.{name} ORDER BY ALL")
                          .fetchall()).encode())
    return h.hexdigest()


def analysis_fingerprint(warehouse_path: Path, options: dict[str, Any],
                         extra_files: Iterable[Path] = ()) -> str:
    """Fingerprint of what a report is computed from: the analyst views over the curated
    tables (and truth tables), the analysis options, the statistics and report code, and
    ``extra_files`` (path, size, mtime; e.g. the simulator's truth read beside the
    warehouse)."""
    from warehouse.resource import Warehouse

    with Warehouse(Path(warehouse_path)).read() as con:
        state = relations_fingerprint(con, ANALYSIS_RELATIONS)
    h = hashlib.sha256(f"{state}\n{code_fingerprint(ANALYSIS_CODE)}\n".encode())
    h.update(json.dumps(options, sort_keys=True, default=str).encode())
    for path in extra_files:
        line = _stat_line(Path("/"), str(path))
        h.update(f"\n{line}".encode())
    return h.hexdigest()


def stage_is_current(stage: str, settings: WarehousePaths) -> bool:
    """True when ``load`` or ``validate`` would skip (same fingerprint as its last run), read
    through a short read-only connection; the pipeline then does not start the subflow."""
    import duckdb

    from warehouse.db import WarehouseDamagedError, WarehouseLockedError
    from warehouse.resource import Warehouse

    if not Path(settings.warehouse_path).is_file():
        return False
    try:
        with Warehouse.of(settings).read() as con:
            last = last_run_with(con, stage)
            if last is None or last["status"] != "success":
                return False
            if stage == "load":
                return last["inputs_fingerprint"] == load_inputs_fingerprint(settings)
            if stage == "validate":
                return last["inputs_fingerprint"] == curated_state(con)
            return False
    except (duckdb.Error, WarehouseLockedError, WarehouseDamagedError):
        return False  # held by a writer, or damaged: let the stage decide
