"""Shared orchestration helpers: the one flow entry, names and tags, task runners, progress.

Every calcisvd flow follows one scheme (:data:`FLOW_PREFIX`): flow name ``calcisvd-<stage>``
(:func:`flow_name`), run name ``<stage>-<YYYY-MM-DDTHH-MM-SSZ>`` (:func:`run_name`), run tags
``calcisvd`` and ``<stage>``, so the failure and zombie automations of ``ops/notifications.py``
(which match the ``calcisvd`` tag) see every run. A run's tags must be there when it is created
(the server caches a run's related resources, tags included, for its events): the command line
and the pipeline create runs inside :func:`stage_tags`, the deployments of prefect.yaml carry
the same tags, and :func:`tag_run` (in :func:`flow_entry`) adds them to a run started another
way. Each flow body runs under :func:`untagged_tasks`: task runs stay untagged, since a tagged
task run asks the API for a concurrency lease (docs/architecture.md).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from calcisvd.settings import Settings, load_settings

#: flow names are ``calcisvd-<stage>``; every run carries the tag ``calcisvd``
FLOW_PREFIX = RUN_TAG = "calcisvd"


def flow_entry(settings: Settings | None, home: str | None = None,
               config: str | None = None) -> Settings:
    """The one entry of every flow: tags the run (:func:`tag_run`); returns the settings passed
    in (a caller already set up), or, when the flow is the entry point (a deployment run on a
    worker), sets the offline environment, reads the settings of ``config``/``home``/the
    environment and sets up logging."""
    tag_run()
    if settings is not None:
        return settings
    from calcisvd.env import apply_offline_env
    from calcisvd.logging import setup_logging

    apply_offline_env()
    settings = load_settings(config_file=Path(config) if config else None,
                             overrides={"home": Path(home) if home else None})
    setup_logging(settings)
    return settings


def flow_name(stage: str) -> str:
    """``calcisvd-<stage>``: the name of the flow of a stage."""
    return f"{FLOW_PREFIX}-{stage}"


def utc_stamp() -> str:
    """``YYYY-MM-DDTHH-MM-SSZ`` (UTC): sorts as text, no spaces, safe in file names."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H-%M-%SZ")


def run_name(stage: str):
    """A ``flow_run_name`` callable: ``<stage>-<YYYY-MM-DDTHH-MM-SSZ>``."""
    def _name() -> str:
        return f"{stage}-{utc_stamp()}"
    return _name


@contextmanager
def stage_tags(stage: str) -> Iterator[None]:
    """Flow runs created inside this block are tagged ``calcisvd`` and ``<stage>``."""
    from prefect import tags

    with tags(RUN_TAG, stage):
        yield


def untagged_tasks(fn: Callable) -> Callable:
    """Decorator (under ``@flow``): the body runs with no tags in context, so its task runs
    are untagged while the flow run keeps the tags it was created with; an exception leaving
    the body is redacted first (:func:`redacted_errors`)."""
    @functools.wraps(fn)
    @redacted_errors
    def body(*args: Any, **kwargs: Any) -> Any:
        from prefect.context import TagsContext

        with TagsContext(current_tags=set()):
            return fn(*args, **kwargs)
    return body


def redacted_errors(fn: Callable) -> Callable:
    """Decorator (under ``@task`` or ``@flow``): an exception leaving ``fn`` has its text put
    through the one redaction step (:func:`calcisvd.redact.redact_exception`: drop paths,
    DICOM identifiers) before Prefect stores it as the run's state message and logs it."""
    @functools.wraps(fn)
    def body(*args: Any, **kwargs: Any) -> Any:
        from calcisvd.redact import call_redacted

        return call_redacted(fn, *args, **kwargs)
    return body


def tag_run() -> list[str]:
    """Add ``calcisvd`` and the stage (from the flow name) to the current flow run's tags.

    Returns the run's tags; outside a flow run (a plain function call) does nothing.
    """
    from prefect.context import FlowRunContext

    ctx = FlowRunContext.get()
    if ctx is None or ctx.flow_run is None or ctx.flow is None:
        return []
    stage = ctx.flow.name.removeprefix(f"{FLOW_PREFIX}-")
    have = list(ctx.flow_run.tags or [])
    tags = have + [t for t in (RUN_TAG, stage) if t not in have]
    if tags != have:
        from prefect.client.orchestration import get_client

        try:
            with get_client(sync_client=True) as client:
                client.update_flow_run(ctx.flow_run.id, tags=tags)
        except Exception as exc:  # the API hiccuped: the work matters more than the tag
            from calcisvd.logging import get_logger

            get_logger("flows").warning("could not tag flow run %s: %s", ctx.flow_run.id, exc)
            return have
        ctx.flow_run.tags = tags  # events the engine emits (heartbeats) carry them too
    return tags


def make_task_runner(settings: Settings, max_workers: int | None = None) -> Any:
    """The task runner the settings ask for: threads (default) or Dask.

    ``task_runner = "dask"`` uses prefect-dask: with ``dask_address`` set it connects to that
    cluster (many machines); otherwise it starts a local cluster of ``n_procs`` processes.
    """
    if settings.task_runner == "dask":
        from prefect_dask import DaskTaskRunner

        if settings.dask_address:
            return DaskTaskRunner(address=settings.dask_address)
        return DaskTaskRunner(cluster_kwargs={"n_workers": settings.n_procs,
                                              "threads_per_worker": 1, "processes": True})
    from prefect.task_runners import ThreadPoolTaskRunner

    return ThreadPoolTaskRunner(max_workers=max_workers or settings.n_procs)


class Progress:
    """Done/total, rate and time left, to the run log and a Prefect progress artifact."""

    def __init__(self, total: int, what: str, logger: Any, key: str | None = None) -> None:
        self.total, self.what, self.log = total, what, logger
        self.done = 0
        self.t0 = time.perf_counter()
        self.artifact_id = None
        try:
            from prefect.artifacts import create_progress_artifact

            self.artifact_id = create_progress_artifact(
                progress=0.0, key=key, description=f"{what}: 0/{total}")
        except Exception:  # no run context (plain function call): log only
            self.artifact_id = None

    def step(self, n: int = 1) -> None:
        """Count ``n`` more done; log and update the artifact."""
        self.done += n
        elapsed = time.perf_counter() - self.t0
        rate = self.done / elapsed if elapsed > 0 else 0.0
        left = (self.total - self.done) / rate if rate > 0 else float("nan")
        msg = (f"{self.what}: {self.done}/{self.total} done, {rate:.2f}/s, "
               f"about {left:.0f} s left")
        self.log.info(msg)
        if self.artifact_id is not None:
            from prefect.artifacts import update_progress_artifact

            update_progress_artifact(self.artifact_id, progress=100.0 * self.done / self.total,
                                     description=msg)


#: errors worth a retry (machine trouble), as opposed to bad data that fails the same way again
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (TimeoutError, ConnectionError,
                                                     BlockingIOError, InterruptedError,
                                                     BrokenProcessPool)


def retry_transient_only(task: Any, task_run: Any, state: Any) -> bool:
    """Prefect ``retry_condition_fn``: retry timeouts and connection trouble, not bad data."""
    try:
        exc = state.result(raise_on_failure=False)
    except Exception:
        return False
    return isinstance(exc, TRANSIENT_ERRORS)
