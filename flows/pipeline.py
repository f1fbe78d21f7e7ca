"""The whole pipeline as one Prefect flow: ingest -> quantify -> load -> validate -> analyze.

Each stage is a subflow. Work is incremental by construction: ingestion skips instances it has
seen (by UID/content), quantification skips sessions whose inputs and code are unchanged, the
warehouse load upserts by natural keys; so adding one follow-up session to a full warehouse
processes that session and re-runs the analytics, and nothing else.
"""

from __future__ import annotations

import time
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact

from calcisvd.settings import Settings
from flows.common import (
    flow_entry,
    flow_name,
    make_task_runner,
    run_name,
    stage_tags,
    untagged_tasks,
)

STAGES = ("ingest", "quantify", "load", "validate", "analyze")


def _stage(name: str, settings: Settings, retry_failed: bool = False) -> Any:
    if name == "ingest":
        from flows.ingest import ingest_flow

        return ingest_flow(settings=settings)
    if name == "quantify":
        from flows.quantify import quantify_flow

        return quantify_flow.with_options(task_runner=make_task_runner(settings))(
            settings=settings, retry_failed=retry_failed)
    if name == "load":
        from flows.load import load_flow

        return load_flow(settings=settings)
    if name == "validate":
        from flows.validate import validate_flow

        return validate_flow(settings=settings)
    if name == "analyze":
        from flows.analyze import analyze_flow

        return analyze_flow(settings=settings)
    raise ValueError(f"unknown stage {name!r}")


def _unchanged(name: str, settings: Settings) -> bool:
    """Load, validate and analyze whose inputs did not change are not started at all (a
    subflow costs API round trips even when it skips; the flows check again themselves)."""
    if name in ("load", "validate"):
        from warehouse.stamps import stage_is_current

        return stage_is_current(name, settings.warehouse_paths())
    if name == "analyze":
        from flows.analyze import report_is_current

        return report_is_current(settings)
    return False


def _maybe_preload(settings: Settings, todo: list[str], log: Any) -> Any:
    """Before quantify: when the warehouse stages will run (the load's inputs changed, e.g. a
    session was ingested), start their start-up work beside quantify (``flows/preload.py``)."""
    later = [s for s in ("load", "validate", "analyze") if s in todo]
    if "load" not in later:
        return None
    try:
        from warehouse.stamps import stage_is_current

        if stage_is_current("load", settings.warehouse_paths()):
            return None
    except Exception as exc:  # the stages decide for themselves
        log.debug("preload check failed: %s", exc)
        return None
    from flows.preload import start_preload

    return start_preload(settings.gx_dir, analyze="analyze" in later)


#: the log line of a skipped stage: what did not change
_UNCHANGED_WHY = {
    "load": "no derivative, BIDS input, quarantine entry or load code changed since the last "
            "successful load",
    "validate": "the curated tables and the expectation code are those of the last successful "
                "validation",
    "analyze": "the warehouse's curated content (analyst views), the options and the "
               "statistics code are those of the latest report",
}


def where_to_look(settings: Settings) -> dict[str, str]:
    """The places a person opens after a run."""
    return {
        "analytics report": str(settings.reports_dir / "latest" / "report.html"),
        "QC index": str(settings.derivatives_dir / "index.html"),
        "Data Docs": str(settings.gx_dir / "gx" / "uncommitted" / "data_docs" / "local_site"
                         / "index.html"),
        "data quality": str(settings.gx_dir / "gx" / "uncommitted" / "data_docs"
                            / "local_site" / "data-quality-curated.html"),  # works offline
        "warehouse": str(settings.warehouse_path),
        "SQL": 'calcisvd sql "SELECT * FROM v_baseline_cohort LIMIT 5"',
    }


@flow(name=flow_name("pipeline"), flow_run_name=run_name("pipeline"))
@untagged_tasks
def pipeline_flow(settings: Settings | None = None, stages: list[str] | None = None,
                  retry_failed: bool = False, home: str | None = None,
                  config: str | None = None) -> dict[str, Any]:
    """Run the stages in order; stop at the first stage that fails (its state is Failed).
    ``retry_failed`` re-quantifies sessions whose last failure was a data error too."""
    settings = flow_entry(settings, home, config)
    log = get_run_logger()
    timings: dict[str, float] = {}
    results: dict[str, Any] = {}
    todo = [s for s in STAGES if stages is None or s in stages]
    preload = None
    for name in todo:
        t0 = time.perf_counter()
        if name == "quantify":
            preload = _maybe_preload(settings, todo, log)
        elif preload is not None:  # the later stages' start-up, done beside quantify
            preload.wait()
            log.info("preload of load/analyze start-up: %.1f s beside quantify%s",
                     preload.seconds or 0.0, f" ({preload.error})" if preload.error else "")
            preload = None
        if _unchanged(name, settings):
            timings[name] = round(time.perf_counter() - t0, 2)
            results[name] = {"skipped": True}
            log.info("stage %s: skipped, %s", name, _UNCHANGED_WHY[name])
            continue
        log.info("stage %s: starting", name)
        with stage_tags(name):  # the subflow's run: tags calcisvd + stage
            results[name] = _stage(name, settings, retry_failed)
        timings[name] = round(time.perf_counter() - t0, 2)
        log.info("stage %s: done in %.1f s", name, timings[name])
    look = where_to_look(settings)
    lines = ["# calcisvd pipeline run", "", "| stage | seconds |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in timings.items()]
    lines += ["", "## Where to look next", ""] + [f"- **{k}**: `{v}`" for k, v in look.items()]
    create_markdown_artifact(key="pipeline-summary", markdown="\n".join(lines),
                             description="Stage timings and where to look next")
    return {"timings": timings, "results": results, "where_to_look": look}
