"""Prefect flow: pull the cohort's new studies from a PACS over DICOMweb into drop/.

Entry point for deployments: ``flows/pull.py:pull_flow`` with parameters ``home``, ``config``
(as the other flows) and ``ingest`` (run the ingest flow afterwards when something new came).
The work lives in :mod:`tasks.pacs.dicomweb`; the flow queries once, retrieves each new study
in its own task, and records it in the pull state as soon as it is published. Parameters,
task names, logs and the summary artifact hold counts only, never identifiers.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import TYPE_CHECKING, Any

from prefect import flow, task
from prefect.cache_policies import NONE

from flows.common import flow_entry, flow_name, redacted_errors, run_name, untagged_tasks

if TYPE_CHECKING:
    from calcisvd.settings import Settings
    from tasks.pacs.config import DicomwebConfig
    from tasks.pacs.dicomweb import StudyRef


@task(name="pacs-query", cache_policy=NONE, persist_result=False, retries=2,
      retry_delay_seconds=10)
@redacted_errors
def query_task(cfg: DicomwebConfig, since: str | None) -> list[StudyRef]:
    """QIDO-RS search for the cohort's studies from ``since`` on."""
    from tasks.pacs.dicomweb import make_client, query

    return query(make_client(cfg), cfg, since)


@task(name="pacs-retrieve", cache_policy=NONE, persist_result=False, retries=2,
      retry_delay_seconds=10, task_run_name="pacs-retrieve-{index}")
@redacted_errors
def retrieve_task(cfg: DicomwebConfig, ref: StudyRef, index: int) -> tuple[str | None, int]:
    """WADO-RS retrieve of one study into drop/pacs/ (published whole)."""
    from tasks.pacs.dicomweb import make_client, retrieve

    return retrieve(make_client(cfg), cfg.drop_dir, ref)


def _publish(summary: dict[str, Any]) -> None:
    from prefect.artifacts import create_markdown_artifact

    rows = "\n".join(f"| {k} | {v} |" for k, v in summary.items())
    create_markdown_artifact(key="pacs-pull-summary",
                             markdown=f"# PACS pull\n\n| | |\n|---|---|\n{rows}\n",
                             description="calcisvd pacs pull: counts only, no identifiers")


def pull(settings: Settings, cfg: DicomwebConfig) -> dict[str, Any]:
    """The pull itself (lock, state, query, retrieve each new study); returns the summary."""
    from calcisvd.io import exclusive_lock
    from tasks.ingest.pipeline import load_identity
    from tasks.pacs.dicomweb import load_state, record, save_state, since_filter, to_fetch
    from tasks.pacs.store import discard_incoming

    t0 = time.monotonic()
    key = load_identity(settings.ingest_config())  # never recreated for an existing dataset
    with exclusive_lock(cfg.state_path.with_suffix(".lock"), timeout_s=0):
        discarded = discard_incoming(cfg.drop_dir, "pull")
        state = load_state(cfg.state_path)
        started = dt.datetime.now(dt.UTC).date().isoformat()
        refs = query_task(cfg, since_filter(state.get("last_pull"), cfg.lookback_days))
        todo = to_fetch(refs, state, key)
        instances = 0
        for i, ref in enumerate(todo):
            batch, n = retrieve_task(cfg, ref, i)
            record(state, key, ref, n, batch)
            save_state(cfg.state_path, state)
            instances += n
        state["last_pull"] = started
        save_state(cfg.state_path, state)
    return {"status": "ok", "studies_found": len(refs), "studies_pulled": len(todo),
            "instances": instances, "incomplete_batches_discarded": discarded,
            "patients_listed": len(cfg.patient_ids),
            "seconds": round(time.monotonic() - t0, 3)}


@flow(name=flow_name("pull"), flow_run_name=run_name("pull"), log_prints=False,
      validate_parameters=False)
@untagged_tasks
def pull_flow(settings: Settings | None = None, home: str | None = None,
              config: str | None = None, ingest: bool = False) -> dict[str, Any]:
    """Pull new studies of the cohort from the PACS; with ``ingest``, ingest them right after.

    A second pull while one runs ends at once with ``status: locked``.
    """
    from calcisvd.io import LockBusy
    from tasks.pacs.config import dicomweb_config

    settings = flow_entry(settings, home, config)
    cfg = dicomweb_config(settings)
    try:
        summary = pull(settings, cfg)
    except LockBusy:
        summary = {"status": "locked", "studies_found": 0, "studies_pulled": 0,
                   "instances": 0}
    _publish(summary)
    if ingest and summary.get("instances"):
        from flows.ingest import ingest_flow

        summary["ingest"] = ingest_flow(settings=settings)
    return summary
