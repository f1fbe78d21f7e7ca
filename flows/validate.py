"""Prefect flow: run the expectation suites on the curated warehouse tables.

Entry point ``flows/validate.py:validate_flow``. One task runs
:func:`warehouse.validate.validate_curated` (results into ``validation_results`` and Data Docs
under ``<gx_dir>/gx/uncommitted/data_docs/local_site/``); the flow publishes the summary as a
Markdown artifact and ends Failed when an expectation fails.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, task
from prefect.cache_policies import NONE

from calcisvd.settings import Settings
from flows.common import flow_entry, flow_name, run_name, untagged_tasks


class CuratedValidationError(RuntimeError):
    """The curated tables fail at least one expectation."""


@task(name="warehouse-validate", cache_policy=NONE)
def validate_task(settings: Settings, flow_run_id: str | None, force: bool = False) -> Any:
    """Validate the curated tables and store the results (the last results are reused when
    the tables did not change, unless ``force``)."""
    from warehouse.validate import validate_curated

    return validate_curated(settings.warehouse_paths(), flow_run_id=flow_run_id,
                            skip_unchanged=not force)


@flow(name=flow_name("validate"), flow_run_name=run_name("validate"), log_prints=True)
@untagged_tasks
def validate_flow(settings: Settings | None = None, force: bool = False,
                  home: str | None = None, config: str | None = None) -> dict[str, Any]:
    """Validate the curated tables; Failed when an expectation fails. Tables unchanged since
    the last validation are not validated again unless ``force``."""
    from prefect.artifacts import create_markdown_artifact
    from prefect.runtime import flow_run

    settings = flow_entry(settings, home, config)
    result = validate_task(settings, str(flow_run.id) if flow_run.id else None, force)
    if result.skipped:
        print(f"validate: curated tables unchanged since validation {result.run_id}")
    create_markdown_artifact(key="warehouse-validation", markdown=result.report.markdown(),
                             description="expectation results of the curated tables")
    if not result.report.success:
        raise CuratedValidationError("curated tables fail: "
                                     + "; ".join(result.report.failed_names()[:10]))
    return result.as_dict()
