"""Prefect flow: quantify every session that has no results, or whose inputs or code changed.

One task per session; the task calls :func:`tasks.quantify.runner.quantify_session`.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_link_artifact, create_table_artifact
from prefect.cache_policies import NONE

from calcisvd.settings import Settings
from flows.common import (
    Progress,
    flow_entry,
    flow_name,
    make_task_runner,
    redacted_errors,
    retry_transient_only,
    run_name,
    stage_tags,
    untagged_tasks,
)
from tasks.quantify.sessions import Session, discover_sessions, needs_quantification


@task(name="quantify-session", task_run_name="quantify {session.label}",
      cache_policy=NONE, retries=2, retry_delay_seconds=[5, 30],
      retry_condition_fn=retry_transient_only)
@redacted_errors
def quantify_session_task(session: Session, settings: Settings,
                          split: bool = False) -> dict[str, Any]:
    """Quantify one session (both modalities) and write its derivatives.

    With the ``Linear`` plugin and the thread task runner the session runs in a worker
    process of :mod:`tasks.quantify.pool` (``n_procs`` sessions at once), or, with ``split``
    (fewer sessions than workers: a rerun after one follow-up), its CT and MRI workflows run
    in two worker processes at the same time; with ``MultiProc`` or ``SLURM`` Nipype itself
    dispatches the nodes; under Dask the task already has a process.
    """
    from tasks.quantify.runner import quantify_session

    kwargs: dict[str, Any] = dict(derivatives_dir=settings.derivatives_dir,
                                  work_dir=settings.work_dir, plugin=settings.nipype_plugin,
                                  plugin_args={"n_procs": settings.n_procs}
                                  if settings.nipype_plugin == "MultiProc" else {},
                                  omp_nthreads=settings.omp_nthreads)
    if settings.nipype_plugin == "Linear" and settings.task_runner == "thread":
        from tasks.quantify.pool import run_all_in_workers, run_in_worker

        workers = max(1, settings.n_procs)
        if split:  # the lock and the derivatives here, each workflow in a worker
            result = quantify_session(session, **kwargs,
                                      run_all=partial(run_all_in_workers, workers))
        else:
            result = run_in_worker(workers, quantify_session, session, **kwargs)
    else:
        result = quantify_session(session, **kwargs)
    from calcisvd.redact import redact_obj

    result = redact_obj(result)  # reasons from workers: redacted in this process too
    log = get_run_logger()
    for modality in ("icac", "svd"):
        if result.get(f"{modality}_status") == "failed":
            log.warning("%s: %s failed: %s", session.label, modality.upper(),
                        result.get(f"{modality}_reason") or "see the measures file")
    return result


def plan_quantification(settings: Settings, force: bool = False, retry_failed: bool = False
                        ) -> tuple[list[Session], int, list[str]]:
    """Sessions to (re)quantify, how many are up to date, and the sessions left failed (data
    errors with unchanged inputs: ``label: reason``)."""
    todo, current, still_failed = [], 0, []
    for ses in discover_sessions(settings.bids_dir):
        needed, why = needs_quantification(settings.derivatives_dir, ses, retry_failed)
        if needed or force:
            todo.append(ses)
        else:
            current += 1
            if why.startswith("failed"):
                still_failed.append(f"{ses.label}: {why}")
    return todo, current, still_failed


@flow(name=flow_name("quantify"), flow_run_name=run_name("quantify"), log_prints=True)
@untagged_tasks
def quantify_flow(settings: Settings | None = None, force: bool = False,
                  retry_failed: bool = False, home: str | None = None,
                  config: str | None = None) -> dict[str, Any]:
    """Quantify new or changed sessions, and those whose last failure was transient (all
    failed ones with ``retry_failed``); returns counts and per-session results."""
    from tasks.qc.report import write_group_index

    settings = flow_entry(settings, home, config)
    log = get_run_logger()
    todo, current, still_failed = plan_quantification(settings, force, retry_failed)
    log.info("quantify: %d session(s) to process, %d up to date", len(todo), current)
    for line in still_failed:
        log.warning("quantify: %s", line)
    results: list[dict[str, Any]] = []
    if todo:
        from tasks.quantify.pool import shutdown_pool

        progress = Progress(len(todo), "quantify", log, key="quantify-progress")
        try:
            split = len(todo) < max(1, settings.n_procs)  # idle cores: CT beside MRI
            futures = [quantify_session_task.submit(s, settings, split) for s in todo]
            for fut in futures:
                results.append(fut.result())
                progress.step()
        finally:
            shutdown_pool()
    index = write_group_index(settings.derivatives_dir) if settings.derivatives_dir.exists() \
        else None
    failed = [r for r in results if "failed" in (r["icac_status"], r["svd_status"])]
    summary = {"processed": len(results), "up_to_date": current, "with_failures": len(failed),
               "still_failed": still_failed,
               "results": results, "qc_index": str(index) if index else None}
    if results:
        create_table_artifact(
            key="quantify-sessions",
            table=[{k: r[k] for k in ("subject", "session", "icac_status", "svd_status",
                                      "seconds")} for r in results],
            description="Sessions quantified in this run (pseudonymised)")
    if index:
        create_link_artifact(key="qc-index", link=index.as_uri(),
                             description="QC index of all quantified sessions")
    return summary


def run_quantify(settings: Settings, force: bool = False,
                 retry_failed: bool = False) -> dict[str, Any]:
    """Run the flow with the task runner the settings ask for."""
    with stage_tags("quantify"):
        return quantify_flow.with_options(task_runner=make_task_runner(settings))(
            settings=settings, force=force, retry_failed=retry_failed)
