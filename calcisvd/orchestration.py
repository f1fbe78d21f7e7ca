"""How flows started by the command line run: in the foreground, without heartbeats.

Prefect flow runs emit a heartbeat event every ``PREFECT_FLOWS_HEARTBEAT_FREQUENCY`` seconds
(180 by default). Heartbeats exist for runs nobody watches: a deployment run started by a
worker, which an automation marks Crashed when its heartbeats stop (``python -m
ops.notifications --zombies``, README "Operating with a Prefect server"). In Prefect 3.8
the heartbeat thread sleeps in one-second steps and every synchronous flow run (and subflow)
waits for it to wake at the end: up to a second per run, which is most of a rerun that finds
nothing new.

A command run from a terminal (``calcisvd ingest``, ``calcisvd run``...) is watched by its
user, who sees it end or die. Its flow runs are started with heartbeats off, unless the
operator set a heartbeat frequency explicitly (environment, profile or ``prefect.toml``);
deployment runs keep Prefect's settings untouched.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


def heartbeats_configured() -> bool:
    """True when the operator set ``PREFECT_FLOWS_HEARTBEAT_FREQUENCY`` in any settings source."""
    from prefect.settings import get_current_settings

    return "heartbeat_frequency" in get_current_settings().flows.model_fields_set


@contextmanager
def foreground_flow_runs() -> Iterator[None]:
    """Flow runs started inside this block emit no heartbeats (unless configured explicitly)."""
    if heartbeats_configured():
        yield
        return
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        yield
