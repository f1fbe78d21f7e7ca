"""Prefect flow: load the derivatives into the DuckDB warehouse, gated by the expectations.

Entry point ``flows/load.py:load_flow``. The steps of :mod:`warehouse.load` run as separate
tasks, so the Prefect UI shows where a load spends its time and where it stopped, and a step
that met a busy or briefly unavailable warehouse is retried on its own:

``warehouse-load-begin`` (skip when unchanged) -> ``warehouse-load-read`` ->
``warehouse-load-stage`` -> ``warehouse-load-validate`` -> ``warehouse-load-promote`` ->
``warehouse-load-export`` (Parquet snapshot) -> ``warehouse-load-report`` (artifact).

The flow holds the warehouse's load lock throughout (two loads never interleave); each task
opens its own short connection (:class:`warehouse.resource.Warehouse`). The flow ends Failed
(:class:`warehouse.load.BatchValidationError`) when the batch does not pass.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, task
from prefect.cache_policies import NONE

from calcisvd.settings import Settings
from flows.common import TRANSIENT_ERRORS, flow_entry, flow_name, run_name, untagged_tasks

#: how long a load waits for another load to finish before giving up (s)
LOAD_LOCK_TIMEOUT_S = 900.0


def retry_busy_warehouse(task: Any, task_run: Any, state: Any) -> bool:
    """Prefect ``retry_condition_fn``: retry a step that found the warehouse file held by
    another process past the connection's own wait, or machine trouble; not bad data."""
    from warehouse.db import WarehouseLockedError

    try:
        exc = state.result(raise_on_failure=False)
    except Exception:
        return False
    return isinstance(exc, (WarehouseLockedError, *TRANSIENT_ERRORS))


_RETRY = dict(cache_policy=NONE, retries=2, retry_delay_seconds=[5, 30],
              retry_condition_fn=retry_busy_warehouse)


@task(name="warehouse-load-begin", **_RETRY)
def begin_task(settings: Settings, flow_run_id: str | None, force: bool) -> Any:
    """Record the run, or find the inputs unchanged since the last load (unless ``force``)."""
    from warehouse.load import begin_load
    from warehouse.resource import Warehouse

    paths = settings.warehouse_paths()
    return begin_load(Warehouse.of(paths), paths, flow_run_id=flow_run_id,
                      skip_unchanged=not force)


@task(name="warehouse-load-read", **_RETRY)
def read_task(settings: Settings, summary: Any) -> tuple[Any, Any]:
    """Read BIDS, derivatives and quarantine into typed frames (nothing is recomputed)."""
    from warehouse.load import read_step
    from warehouse.resource import Warehouse

    paths = settings.warehouse_paths()
    return read_step(Warehouse.of(paths), paths, summary), summary


@task(name="warehouse-load-stage", **_RETRY)
def stage_task(settings: Settings, read: Any, summary: Any) -> Any:
    """Replace the staging tables with the batch (one transaction)."""
    from warehouse.load import stage_step
    from warehouse.resource import Warehouse

    stage_step(Warehouse.of(settings.warehouse_paths()), read, summary)
    return summary


@task(name="warehouse-load-validate", **_RETRY)
def validate_task(settings: Settings, summary: Any, reuse: bool) -> tuple[bool, Any]:
    """Run every expectation suite on the staged batch; True when all pass."""
    from warehouse.load import validate_step
    from warehouse.resource import Warehouse

    paths = settings.warehouse_paths()
    return validate_step(Warehouse.of(paths), paths, summary, reuse=reuse), summary


@task(name="warehouse-load-promote", **_RETRY)
def promote_task(settings: Settings, summary: Any, passed: bool) -> Any:
    """Promote a batch that passed to the curated tables, or record why it did not."""
    from warehouse.load import promote_step
    from warehouse.resource import Warehouse

    promote_step(Warehouse.of(settings.warehouse_paths()), summary, passed)
    return summary


@task(name="warehouse-load-export", **_RETRY)
def export_task(settings: Settings, summary: Any) -> Any:
    """Write the Parquet snapshot analysts read while a load holds the file."""
    from warehouse.load import export_step
    from warehouse.resource import Warehouse

    paths = settings.warehouse_paths()
    export_step(Warehouse.of(paths), paths, summary)
    return summary


@task(name="warehouse-load-report", cache_policy=NONE)
def report_task(summary: Any) -> None:
    """Publish the validation summary of the batch as a Markdown artifact."""
    from prefect.artifacts import create_markdown_artifact

    head = (f"Load run `{summary.run_id}`: **{summary.status}**; staged {summary.staged}; "
            f"written {summary.written}; moved to history {summary.superseded}.\n\n")
    create_markdown_artifact(key="warehouse-load-validation", markdown=head
                             + summary.validation_markdown,
                             description="expectation results of the staged batch")


@flow(name=flow_name("load"), flow_run_name=run_name("load"), log_prints=True)
@untagged_tasks
def load_flow(settings: Settings | None = None, force: bool = False, home: str | None = None,
              config: str | None = None) -> dict[str, Any]:
    """Load the derivatives into the warehouse; Failed when the batch fails validation.
    Inputs unchanged since the last load are not loaded again unless ``force``."""
    import time

    from prefect.runtime import flow_run
    from prefect.utilities.annotations import quote

    from warehouse.load import fail_load, load_error
    from warehouse.resource import Warehouse

    settings = flow_entry(settings, home, config)
    wh = Warehouse.of(settings.warehouse_paths())
    t0 = time.perf_counter()
    with wh.load_lock(timeout_s=LOAD_LOCK_TIMEOUT_S):
        summary = begin_task(settings, str(flow_run.id) if flow_run.id else None, force)
        if summary.status != "running":
            print(f"load: inputs unchanged since load {summary.run_id}; nothing to do")
            return summary.as_dict()
        try:  # quote(): Prefect passes the objects as they are (no copy, no traversal)
            read, summary = read_task(settings, quote(summary))
            summary = stage_task(settings, quote(read), quote(summary))
            passed, summary = validate_task(settings, quote(summary), not force)
            summary = promote_task(settings, quote(summary), passed)
            if passed:
                summary = export_task(settings, quote(summary))
        except BaseException as exc:
            fail_load(wh, summary, exc)
            raise
    summary.timings_s["total"] = time.perf_counter() - t0
    report_task(summary)
    if not summary.ok:  # validation failed, or promoted but the Parquet export failed
        raise load_error(summary)
    return summary.as_dict()
