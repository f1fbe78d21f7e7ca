"""Validate the curated warehouse tables (``calcisvd validate``) and record the outcome."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from calcisvd.redact import redact
from warehouse import db
from warehouse.load import end_run, start_run, store_validation
from warehouse.paths import WarehousePaths
from warehouse.resource import Warehouse


@dataclass
class CuratedValidation:
    """Run id and report of one validation of the curated tables."""

    run_id: str
    report: Any  # expectations.runner.ValidationReport
    skipped: bool = False  # True: tables unchanged, the report of run ``run_id`` reused

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly summary."""
        return {"run_id": self.run_id, "success": self.report.success,
                "n_expectations": len(self.report.outcomes), "skipped": self.skipped,
                "failed": self.report.failed_names(),
                "docs_index": str(self.report.docs_index) if self.report.docs_index else None}


def validate_curated(settings: WarehousePaths, run_id: str | None = None, *,
                     flow_run_id: str | None = None, suites: list[str] | None = None,
                     build_docs: bool = True, skip_unchanged: bool = False) -> CuratedValidation:
    """Run the suites on the curated tables; store results in ``validation_results``.

    With ``skip_unchanged`` (all suites only), curated tables and code with the fingerprint of
    the last validation (:func:`warehouse.stamps.curated_state`) are not validated again: the
    last report is returned (``skipped`` True).
    """
    from expectations.runner import validate_frames
    from warehouse.stamps import curated_state, last_run_with
    from warehouse.suite_frames import suite_frames

    assert settings.gx_dir
    wh = Warehouse.of(settings)
    run_id = run_id or uuid.uuid4().hex
    with wh.write() as con:
        fingerprint = curated_state(con)
        last = last_run_with(con, "validate") if skip_unchanged and not suites else None
    if last is not None and last["inputs_fingerprint"] == fingerprint \
            and last["message"].endswith("expectations passed"):
        report = last_report(settings)
        if report is not None:
            return CuratedValidation(run_id=last["run_id"], report=report, skipped=True)
    with wh.write() as con:
        start_run(con, run_id, "validate", {"suites": suites or "all",
                                            "inputs_fingerprint": fingerprint}, flow_run_id)
        frames = suite_frames(con, "curated", suites)
    try:  # GX runs without holding the file
        report = validate_frames(frames, gx_dir=settings.gx_dir, target="curated",
                                 run_name=run_id, build_docs=build_docs, reuse=skip_unchanged)
    except Exception as exc:
        with wh.write() as con, db.transaction(con):
            end_run(con, run_id, "failed", redact(f"{type(exc).__name__}: {exc}"))
        raise
    with wh.write() as con:
        store_validation(con, report, run_id)
        with db.transaction(con):
            end_run(con, run_id, "success" if report.success else "failed",
                    f"{len(report.outcomes) - len(report.failures)}/{len(report.outcomes)} "
                    "expectations passed")
    return CuratedValidation(run_id=run_id, report=report)


def last_report(settings: WarehousePaths) -> Any:
    """The :class:`expectations.runner.ValidationReport` of the latest ``validate`` run, rebuilt
    from ``validation_results`` (None when there is none)."""
    import json

    from expectations.runner import Outcome, ValidationReport, docs_index_path
    from warehouse.query import run_query

    table, _ = run_query(settings, db.read_sql("sql/last_validation.sql"))
    rows = table.to_pylist()
    if not rows:
        return None
    report = ValidationReport(target="curated", docs_index=docs_index_path(settings.gx_dir))
    for r in rows:
        report.outcomes.append(Outcome(
            suite=r["suite"], expectation=r["expectation"], column=r["column_name"],
            success=bool(r["success"]), element_count=r["element_count"],
            unexpected_count=r["unexpected_count"], observed=json.loads(r["observed"] or "{}")))
    return report
