"""Load the BIDS dataset and quantification derivatives into the warehouse, gated by GX.

``load_derivatives`` reads the files (never recomputes), replaces the staging tables with the
batch, validates it with every suite in ``expectations/suites`` and, only if all pass, promotes
it to the curated tables in one transaction: rows are upserted by natural key, rows whose
content did not change are left alone (so reloading changes nothing) and replaced rows are kept
in ``<table>_history`` with the run that wrote them. A failing batch stays in staging, its
failed expectations are stored in ``validation_results`` and the summary says which.
Each write is a short transaction; a Parquet snapshot is exported after each successful load.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

from calcisvd.provenance import version_string
from calcisvd.redact import redact
from warehouse import db, sources
from warehouse.holdback import hold_back, hold_back_rows, missing_covariates
from warehouse.paths import WarehousePaths
from warehouse.resource import Warehouse

#: curated table -> (natural key, scope columns, scope table, columns ignored when comparing)
CURATED: dict[str, tuple[tuple[str, ...], tuple[str, ...], str, tuple[str, ...]]] = {
    "subjects": (("subject",), ("subject",), "subjects", ("run_id",)),
    "sessions": (("subject", "session"), ("subject", "session"), "sessions", ("run_id",)),
    "scans": (("path",), ("subject", "session"), "sessions", ("run_id",)),
    "icac_session_measures": (("subject", "session"), ("subject", "session"),
                              "icac_session_measures", ("run_id", "quantified_at")),
    "icac_artery_measures": (("subject", "session", "artery", "side"), ("subject", "session"),
                             "icac_session_measures", ("run_id",)),
    "svd_measures": (("subject", "session"), ("subject", "session"), "svd_measures",
                     ("run_id", "quantified_at")),
    "session_iqms": (("subject", "session", "modality", "metric"), ("subject", "session"),
                     "svd_measures", ("run_id",)),
}


class BatchValidationError(RuntimeError):
    """The staged batch failed validation; nothing reached the curated tables."""

    def __init__(self, summary: LoadSummary):
        self.summary = summary
        super().__init__(f"batch {summary.run_id} failed validation: "
                         + "; ".join(summary.failed_expectations[:10]))


@dataclass
class LoadSummary:
    """What one load read, validated and changed."""

    run_id: str
    status: str = "running"  # success | failed | partial (promoted, export failed) | unchanged
    staged: dict[str, int] = field(default_factory=dict)
    written: dict[str, int] = field(default_factory=dict)  # rows inserted or replaced
    superseded: dict[str, int] = field(default_factory=dict)  # rows moved to history
    failed_expectations: list[str] = field(default_factory=list)
    failure_details: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    n_expectations: int = 0
    docs_index: str | None = None
    snapshot: str | None = None
    validation_markdown: str = ""
    held_back: list[str] = field(default_factory=list)  # cells failing a row rule (holdback)
    timings_s: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when the batch passed and was promoted."""
        return self.status in ("success", "unchanged")

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly view."""
        return asdict(self)


def _promote_sql(table: str) -> str:
    keys, scope, scope_table, ignore = CURATED[table]
    return db.read_sql("sql/promote.sql").format(
        table=table, keys=", ".join(keys), key_list=", ".join(keys), scope=", ".join(scope),
        scope_table=scope_table, ignore=", ".join(ignore))


#: below this many subjects the files are read in the calling process (no worker start-up)
PARALLEL_READ_MIN_SUBJECTS = 400


def hash_cache(con: Any) -> dict[str, tuple[int, int, str]]:
    """``{path: (size, mtime_ns, sha256)}`` of the files hashed by earlier loads."""
    return {p: (size, mtime, sha) for p, size, mtime, sha in
            con.execute("SELECT path, size_bytes, mtime_ns, sha256 FROM scan_hash_cache")
            .fetchall()}


def read_batch(settings: WarehousePaths, cache: dict[str, tuple[int, int, str]]
               ) -> sources.Batch:
    """Read every input file into a :class:`warehouse.sources.Batch` (``cache``: the files
    hashed before, :func:`hash_cache`).

    A large tree (``PARALLEL_READ_MIN_SUBJECTS`` subjects or more) is read by ``n_procs``
    worker processes, subjects in sorted chunks merged in order, so the batch is the same as a
    serial read (the staged rows are sorted by key afterwards anyway).
    """
    batch = sources.Batch()
    assert settings.bids_dir and settings.derivatives_dir and settings.quarantine_dir
    sources.read_participants(settings.bids_dir, batch)
    subjects = sorted(set(sources.subject_dirs(settings.bids_dir))
                      | set(sources.subject_dirs(settings.derivatives_dir)))
    workers = max(1, int(settings.n_procs or 1))
    if workers == 1 or len(subjects) < PARALLEL_READ_MIN_SUBJECTS:
        batch.extend(sources.read_subjects_chunk(str(settings.bids_dir),
                                                 str(settings.derivatives_dir), subjects, cache))
    else:
        from calcisvd.processes import chunked, map_in_processes

        chunks = chunked(subjects, 4 * workers)
        by_subject: dict[str, dict[str, tuple[int, int, str]]] = {}
        for rel, hit in cache.items():
            by_subject.setdefault(rel.split("/", 1)[0], {})[rel] = hit
        caches = [{k: v for sub in chunk for k, v in by_subject.get(sub, {}).items()}
                  for chunk in chunks]
        n = len(chunks)
        for part in map_in_processes(sources.read_subjects_chunk, [str(settings.bids_dir)] * n,
                                     [str(settings.derivatives_dir)] * n, chunks, caches,
                                     workers=workers):
            batch.extend(part)
    sources.read_quarantine(settings.quarantine_dir, batch)
    return batch


def stage_batch(con: Any, batch: sources.Batch, frames: dict[str, Any], run_id: str) -> None:
    """Replace the staging tables with the typed ``frames`` of ``batch`` (one transaction)."""
    import pandas as pd

    with db.transaction(con):
        db.run_script(con, db.read_sql("sql/replace_staging.sql"))
        for table in sources.COLUMNS:
            df = frames[table]
            df["run_id"] = run_id
            con.register("_stage", df)
            try:
                # table names come from sources.COLUMNS (constants), never from input
                con.execute(f"INSERT INTO staging.{table} BY NAME SELECT * FROM _stage")
            finally:
                con.unregister("_stage")
        if batch.quarantine:
            con.register("_quarantine", pd.DataFrame(batch.quarantine, dtype=object))
            try:
                db.run_script(con, db.read_sql("sql/upsert_quarantine.sql"), {"run_id": run_id})
            finally:
                con.unregister("_quarantine")
        if batch.hash_cache:
            con.register("_hash_cache", pd.DataFrame(batch.hash_cache))
            try:
                db.run_script(con, db.read_sql("sql/upsert_hash_cache.sql"))
            finally:
                con.unregister("_hash_cache")
        if batch.problems:
            log = pd.DataFrame({"level": ["WARNING"] * len(batch.problems),
                                "path": [p for p, _ in batch.problems],
                                "message": [m for _, m in batch.problems]}, dtype=object)
            con.register("_log", log)
            try:
                db.run_script(con, db.read_sql("sql/insert_ingest_log.sql"), {"run_id": run_id})
            finally:
                con.unregister("_log")


def promote(con: Any, run_id: str) -> tuple[dict[str, int], dict[str, int]]:
    """Upsert the staged batch into the curated tables (caller holds the transaction)."""
    written: dict[str, int] = {}
    superseded: dict[str, int] = {}
    for table in CURATED:
        before = con.execute(f"SELECT count(*) FROM main.{table}_history").fetchone()[0]
        db.run_script(con, _promote_sql(table), {"run_id": run_id})
        after = con.execute(f"SELECT count(*) FROM main.{table}_history").fetchone()[0]
        written[table] = con.execute(
            f"SELECT count(*) FROM staging.{table} s SEMI JOIN _affected "
            f"USING ({', '.join(CURATED[table][0])})").fetchone()[0]
        superseded[table] = after - before
    db.refresh_views(con)
    return written, superseded


def store_validation(con: Any, report: Any, run_id: str) -> None:
    """Store every expectation outcome in ``validation_results`` (one short transaction)."""
    from expectations.runner import results_frame

    with db.transaction(con):
        con.register("_results", results_frame(report))
        try:
            db.run_script(con, db.read_sql("sql/insert_validation_results.sql"),
                          {"run_id": run_id, "target": report.target})
        finally:
            con.unregister("_results")


def start_run(con: Any, run_id: str, kind: str, parameters: dict[str, Any],
              flow_run_id: str | None = None) -> None:
    """Insert the ``pipeline_runs`` row of a run (status ``running``)."""
    with db.transaction(con):
        db.run_script(con, db.read_sql("sql/run_start.sql"), {
            "run_id": run_id, "kind": kind, "flow_run_id": flow_run_id,
            "code_version": version_string(),
            "parameters": json.dumps(parameters, sort_keys=True, default=str)})


def end_run(con: Any, run_id: str, status: str, message: str) -> None:
    """Close the ``pipeline_runs`` row of a run."""
    db.run_script(con, db.read_sql("sql/run_end.sql"),
                  {"run_id": run_id, "status": status, "message": message[:4000]})


def export_or_mark_partial(con: Any, settings: WarehousePaths, summary: LoadSummary) -> None:
    """Export the Parquet snapshot of a promoted load; when that fails, the run is ``partial``
    (curated tables written, snapshot not) with the reason, in ``pipeline_runs`` and in the
    summary (not ``ok``: the command exits non-zero; the next load is not skipped)."""
    from warehouse.export import export_snapshot

    try:
        summary.snapshot = str(export_snapshot(con, settings.parquet_dir, summary.run_id))
    except Exception as exc:
        reason = (f"Parquet export to {settings.parquet_dir} failed: "
                  + redact(f"{type(exc).__name__}: {exc}"))
        summary.status = "partial"
        summary.failure_details = summary.failure_details + [reason]
        with db.transaction(con):
            end_run(con, summary.run_id, "partial", "curated tables written; " + reason)


class LoadIncompleteError(RuntimeError):
    """The batch was promoted but a later step (the Parquet snapshot) failed."""

    def __init__(self, summary: LoadSummary):
        self.summary = summary
        super().__init__(f"load {summary.run_id} partial: "
                         + "; ".join(summary.failure_details[-3:]))


def load_error(summary: LoadSummary) -> RuntimeError:
    """The exception a load that is not ``ok`` ends with (validation failed, or partial)."""
    if summary.status == "partial":
        return LoadIncompleteError(summary)
    return BatchValidationError(summary)


@dataclass
class ReadBatch:
    """What :func:`read_step` hands to :func:`stage_step`: the batch and its typed frames."""

    batch: sources.Batch
    frames: dict[str, Any]


def begin_load(wh: Warehouse, settings: WarehousePaths, run_id: str | None = None, *,
               flow_run_id: str | None = None, skip_unchanged: bool = False) -> LoadSummary:
    """Start a load: its ``pipeline_runs`` row (status ``running``). With ``skip_unchanged``,
    inputs and code with the fingerprint of the last load (:mod:`warehouse.stamps`) are not
    loaded again: the summary comes back with status ``unchanged`` (or ``failed`` with the last
    reason when that load failed validation) and nothing is recorded."""
    from warehouse.stamps import last_run_with, load_inputs_fingerprint

    summary = LoadSummary(run_id=run_id or uuid.uuid4().hex)
    fingerprint = load_inputs_fingerprint(settings)
    with wh.write() as con:
        last = last_run_with(con, "load") if skip_unchanged else None
        # a batch that failed validation fails the same way again; a crash (lock, disk) is
        # retried
        if last is not None and last["inputs_fingerprint"] == fingerprint and (
                last["status"] == "success" or last["message"].startswith("validation failed")):
            summary.run_id = last["run_id"]
            summary.status = "unchanged" if last["status"] == "success" else "failed"
            if not summary.ok:
                summary.failed_expectations = [f"unchanged since load {last['run_id']}: "
                                               f"{last['message']}"]
                summary.failure_details = summary.failed_expectations
            return summary
        start_run(con, summary.run_id, "load", {
            "bids_dir": str(settings.bids_dir), "derivatives_dir": str(settings.derivatives_dir),
            "quarantine_dir": str(settings.quarantine_dir), "inputs_fingerprint": fingerprint},
            flow_run_id)
    return summary


def read_step(wh: Warehouse, settings: WarehousePaths, summary: LoadSummary) -> ReadBatch:
    """Read the files into typed frames; hold back implausible rows (never recomputes)."""
    t = time.perf_counter()
    with wh.write() as con:  # a short connection for the hash cache (waits for readers)
        cache = hash_cache(con)
    batch = read_batch(settings, cache)
    frames = {t: sources.frame(t, rows, batch.problems) for t, rows in batch.rows.items()}
    # one implausible covariate, session or measure row must not gate the whole batch
    held = hold_back(frames) + hold_back_rows(frames)
    batch.problems += [(f"{h['table']}:{h['key']}", h["reason"]) for h in held]
    summary.held_back = [f"{h['table']} {h['key']}: {h['reason']}" for h in held]
    batch.problems += missing_covariates(frames)
    summary.staged = batch.counts()
    summary.problems = [f"{p}: {m}" for p, m in batch.problems]
    summary.timings_s["read"] = time.perf_counter() - t
    return ReadBatch(batch, frames)


def stage_step(wh: Warehouse, read: ReadBatch, summary: LoadSummary) -> None:
    """Replace the staging tables with the batch (one transaction; a retry redoes it)."""
    t = time.perf_counter()
    with wh.write() as con:
        stage_batch(con, read.batch, read.frames, summary.run_id)
    summary.timings_s["stage"] = time.perf_counter() - t


def validate_step(wh: Warehouse, settings: WarehousePaths, summary: LoadSummary, *,
                  build_docs: bool = True, reuse: bool = False) -> bool:
    """Validate the staged batch with every suite and store the outcomes; True when all pass.
    The file is held only to fetch the frames and to store the results, not while GX runs."""
    from expectations.runner import validate_frames
    from warehouse.suite_frames import suite_frames

    t = time.perf_counter()
    assert settings.gx_dir
    with wh.write() as con:  # waits for readers, like every step of the load
        frames = suite_frames(con, "staging")
    report = validate_frames(frames, gx_dir=settings.gx_dir, target="staging",
                             run_name=summary.run_id, build_docs=build_docs, reuse=reuse)
    summary.timings_s["validate"] = time.perf_counter() - t
    with wh.write() as con:
        store_validation(con, report, summary.run_id)
    summary.n_expectations = len(report.outcomes)
    summary.failed_expectations = report.failed_names()
    summary.failure_details = [o.describe() for o in report.failures]
    summary.docs_index = str(report.docs_index) if report.docs_index else None
    summary.validation_markdown = report.markdown()
    return report.success


def promote_step(wh: Warehouse, summary: LoadSummary, passed: bool) -> None:
    """Promote a batch that passed to the curated tables (one transaction), or record the
    failure; either way the run's row is closed."""
    t = time.perf_counter()
    with wh.write() as con, db.transaction(con):
        if passed:
            summary.written, summary.superseded = promote(con, summary.run_id)
            end_run(con, summary.run_id, "success", json.dumps(
                {"staged": summary.staged, "written": summary.written}))
        else:
            end_run(con, summary.run_id, "failed", "validation failed: "
                    + "; ".join(summary.failed_expectations))
    summary.status = "success" if passed else "failed"
    summary.timings_s["promote"] = time.perf_counter() - t


def export_step(wh: Warehouse, settings: WarehousePaths, summary: LoadSummary) -> None:
    """The Parquet snapshot of a promoted load (``partial`` when it cannot be written)."""
    t = time.perf_counter()
    with wh.write() as con:
        export_or_mark_partial(con, settings, summary)
    summary.timings_s["export"] = time.perf_counter() - t


def fail_load(wh: Warehouse, summary: LoadSummary, exc: BaseException) -> None:
    """Close the run's row as failed with the (redacted) error; never raises."""
    if summary.status != "running":
        return
    summary.status = "failed"
    try:
        with wh.write() as con, db.transaction(con):
            end_run(con, summary.run_id, "failed", redact(f"{type(exc).__name__}: {exc}"))
    except Exception:  # keep the original error
        pass


def load_derivatives(settings: WarehousePaths, run_id: str | None = None, *,
                     flow_run_id: str | None = None, build_docs: bool = True,
                     export: bool = True, raise_on_failure: bool = False,
                     skip_unchanged: bool = False) -> LoadSummary:
    """Read, stage, validate and (if valid) promote the current derivatives, in this process.

    The same steps the load flow runs as separate Prefect tasks, under the warehouse's load
    lock. Returns a :class:`LoadSummary`; ``summary.ok`` is False when the batch failed
    validation (it then stays in staging). With ``raise_on_failure`` a failure raises
    :class:`BatchValidationError` instead. ``skip_unchanged``: see :func:`begin_load`.
    """
    wh = Warehouse.of(settings)
    t0 = time.perf_counter()
    with wh.load_lock():
        summary = begin_load(wh, settings, run_id, flow_run_id=flow_run_id,
                             skip_unchanged=skip_unchanged)
        if summary.status == "running":
            try:
                read = read_step(wh, settings, summary)
                stage_step(wh, read, summary)
                passed = validate_step(wh, settings, summary, build_docs=build_docs,
                                       reuse=skip_unchanged)
                promote_step(wh, summary, passed)
                if passed and export:
                    export_step(wh, settings, summary)
            except BaseException as exc:
                fail_load(wh, summary, exc)
                raise
    summary.timings_s["total"] = time.perf_counter() - t0
    if not summary.ok and raise_on_failure:
        raise load_error(summary)
    return summary


def curated_fingerprint(con: Any) -> str:
    """SHA-256 over the sorted contents of every curated table (reload test, audits)."""
    import hashlib

    h = hashlib.sha256()
    for table in CURATED:
        rows = con.execute(f"SELECT * FROM main.{table} ORDER BY ALL").fetchall()
        h.update(table.encode())
        h.update(repr(rows).encode())
    return h.hexdigest()

