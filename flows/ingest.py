"""Prefect flow: ingest new scans from the drop folder into the BIDS dataset.

Entry point for deployments: ``flows/ingest.py:ingest_flow`` with parameters ``home`` (the
CALCISVD_HOME, optional), ``config`` (a calcisvd.toml, optional) and ``lock_timeout_s``. The
work lives in :mod:`tasks.ingest.pipeline`; each task body is a call into it. One task plans,
one task per session converts and writes, one task finalizes and publishes the summary.
"""

from __future__ import annotations

import subprocess
from typing import TYPE_CHECKING, Any

from prefect import flow, task
from prefect.cache_policies import NONE
from prefect.utilities.annotations import quote

from flows.common import flow_entry, flow_name, redacted_errors, run_name, untagged_tasks

if TYPE_CHECKING:
    from calcisvd.settings import Settings
    from tasks.ingest.pipeline import IngestRun
    from tasks.ingest.plan import SessionPlan



def _transient(task_, task_run, state) -> bool:
    """Retry only on errors that may pass: I/O hiccups and a dcm2niix that could not start."""
    try:
        state.result()
    except (subprocess.SubprocessError, TimeoutError, BlockingIOError, InterruptedError):
        return True
    except OSError as exc:
        return exc.errno in {4, 11, 16, 110}  # EINTR, EAGAIN, EBUSY, ETIMEDOUT
    except Exception:
        return False
    return False


@task(name="ingest-plan", cache_policy=NONE, persist_result=False)
@redacted_errors
def plan_task(run: IngestRun) -> list[SessionPlan]:
    """Scan the drop folder and plan the sessions to write."""
    return run.plan()


@task(name="ingest-session", cache_policy=NONE, persist_result=False, retries=2,
      retry_delay_seconds=5, retry_condition_fn=_transient,
      task_run_name="ingest-{sp.subject}-{sp.session}")
@redacted_errors
def session_task(run: IngestRun, sp: SessionPlan) -> dict[str, Any]:
    """Convert and write one session (atomically)."""
    return run.ingest_session(sp)


@task(name="ingest-finalize", cache_policy=NONE, persist_result=False)
@redacted_errors
def finalize_task(run: IngestRun) -> dict[str, Any]:
    """Dataset-level files, participants, layout refresh; returns the summary."""
    return run.finalize()


def _failed(future) -> int:
    """1 when a session task failed after its retries (it is retried by the next run)."""
    result = future.result(raise_on_failure=False)
    return int(isinstance(result, BaseException))


def _write_sessions(run: IngestRun, sessions: list[SessionPlan], width: int) -> int:
    """Run :func:`session_task` for every session, ``width`` at a time; failed sessions.

    ``run`` is passed ``quote``d: Prefect must not walk into it to resolve inputs, as the
    sessions running beside it change its sets ("Set changed size during iteration").

    Each session runs dcm2niix and gzip, so at most ``width`` (``n_procs``) are in flight; a
    new one starts as soon as any of them ends.
    """
    from prefect.futures import as_completed

    pending: set = set()
    failed = 0
    for sp in sessions:
        if len(pending) >= width:
            done = next(as_completed(list(pending)))
            pending.discard(done)
            failed += _failed(done)
        pending.add(session_task.submit(quote(run), sp))
    return failed + sum(_failed(f) for f in pending)


def _publish(summary: dict[str, Any]) -> None:
    from prefect.artifacts import create_markdown_artifact

    from tasks.ingest.summary import summary_markdown

    create_markdown_artifact(key="ingest-summary", markdown=summary_markdown(summary),
                             description="calcisvd ingest: counts only, no identifiers")


@flow(name=flow_name("ingest"), flow_run_name=run_name("ingest"), log_prints=False,
      validate_parameters=False)
@untagged_tasks
def ingest_flow(settings: Settings | None = None, home: str | None = None,
                config: str | None = None, lock_timeout_s: float | None = 600.0
                ) -> dict[str, Any]:
    """Ingest what is new in ``settings.drop_dir``; returns and publishes the summary.

    A second run while one is in progress waits up to ``lock_timeout_s`` seconds for the lock
    (``None`` waits forever), then ends cleanly with ``status: locked``.
    """
    from calcisvd.io import LockBusy
    from tasks.ingest.pipeline import IngestRun, ingest_lock, locked_summary, make_run_id

    settings = flow_entry(settings, home, config)  # a deployment run: the entry point
    run_id = make_run_id()
    try:
        cfg = settings.ingest_config()  # plain values for tasks/ingest
        with ingest_lock(cfg, lock_timeout_s):
            run = IngestRun(cfg, run_id=run_id)
            sessions = plan_task(quote(run))
            failed = _write_sessions(run, sessions, max(1, int(settings.n_procs or 1)))
            summary = finalize_task(quote(run))
            summary["failed_sessions"] = failed
            if failed:
                summary["status"] = "partial"
    except LockBusy:
        summary = locked_summary(run_id)
    _publish(summary)
    if summary.get("ingested"):
        _announce_new_data(summary)
    return summary


def _announce_new_data(summary: dict[str, Any]) -> None:
    """Emit ``calcisvd.ingest.new-sessions``: the quantify-and-load deployment listens to it."""
    from prefect.events import emit_event

    emit_event(event="calcisvd.ingest.new-sessions",
               resource={"prefect.resource.id": "calcisvd.bids-dataset",
                         "prefect.resource.name": "BIDS dataset"},
               payload={"ingested_series": summary.get("ingested", 0),
                        "run_id": summary.get("run_id")})
