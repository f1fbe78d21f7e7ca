"""Prefect flow: load the derivatives into the DuckDB warehouse, gated by the expectations.

Entry point ``flows/load.py:load_flow``. One task does the work
(:func:`warehouse.load.load_derivatives`: read -> staging -> validate -> promote -> Parquet
snapshot); the flow publishes the validation summary as a Markdown artifact and ends Failed
(raises :class:`warehouse.load.BatchValidationError`) when the batch does not pass.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, task
from prefect.cache_policies import NONE

from calcisvd.settings import Settings
from flows.common import flow_entry, flow_name, run_name, untagged_tasks


@task(name="warehouse-load-batch", cache_policy=NONE)
def load_batch_task(settings: Settings, flow_run_id: str | None, force: bool = False) -> Any:
    """Read, stage, validate and promote the current derivatives (skipped when the inputs
    and code are those of the last load, unless ``force``)."""
    from warehouse.load import load_derivatives

    return load_derivatives(settings.warehouse_paths(), flow_run_id=flow_run_id,
                            skip_unchanged=not force)


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
    from prefect.runtime import flow_run

    from warehouse.load import load_error

    settings = flow_entry(settings, home, config)
    summary = load_batch_task(settings, str(flow_run.id) if flow_run.id else None, force)
    if summary.status == "unchanged":
        print(f"load: inputs unchanged since load {summary.run_id}; nothing to do")
        return summary.as_dict()
    report_task(summary)
    if not summary.ok:  # validation failed, or promoted but the Parquet export failed
        raise load_error(summary)
    return summary.as_dict()
