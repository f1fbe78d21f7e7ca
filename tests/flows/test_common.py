"""One naming scheme and tags on every run (flows/common.py), on a real Prefect API."""

from __future__ import annotations

import re
import time

from prefect import flow, task

from flows.common import flow_entry, flow_name, run_name, stage_tags, untagged_tasks


@task
def _probe_task() -> int:
    return 1


@flow(name=flow_name("probe-child"), flow_run_name=run_name("probe-child"))
@untagged_tasks
def _child(settings) -> int:
    flow_entry(settings)
    return _probe_task()


@flow(name=flow_name("probe"), flow_run_name=run_name("probe"))
@untagged_tasks
def _parent(settings) -> int:
    flow_entry(settings)
    with stage_tags("probe-child"):  # as the pipeline starts its stages
        child = _child(settings)
    return child + _probe_task()


def test_runs_named_and_tagged_tasks_untagged(prefect_harness, settings) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    with stage_tags("probe"):  # as the command line starts a flow
        assert _parent(settings) == 2
    with get_client(sync_client=True) as client:
        runs = {r.name.split("-20")[0]: r for r in client.read_flow_runs(limit=200)}
        parent, child = runs["probe"], runs["probe-child"]
        assert re.fullmatch(r"probe-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\dZ", parent.name)
        assert sorted(parent.tags) == ["calcisvd", "probe"]  # tags are a set
        assert set(child.tags) >= {"calcisvd", "probe-child"}  # a subflow is tagged too
        assert client.read_flow(parent.flow_id).name == "calcisvd-probe"
        # this test's task runs (the session's API holds those of earlier tests too); the
        # server records task runs from their events, so give it a few seconds
        mine = FlowRunFilter(id=FlowRunFilterId(any_=[parent.id, child.id]))
        for _ in range(20):
            tasks = client.read_task_runs(flow_run_filter=mine, limit=20)
            if len([t for t in tasks if t.name.startswith("_probe_task")]) == 2:
                break
            time.sleep(0.5)
        # task runs stay untagged: a tagged task run asks for a concurrency lease
        assert len([t for t in tasks if t.name.startswith("_probe_task")]) == 2, tasks
        assert all(not t.tags for t in tasks if t.name.startswith("_probe_task")), \
            [t.tags for t in tasks]


def test_every_flow_follows_the_scheme() -> None:
    from flows.analyze import analyze_flow
    from flows.ingest import ingest_flow
    from flows.load import load_flow
    from flows.pipeline import pipeline_flow
    from flows.pull import pull_flow
    from flows.quantify import quantify_flow
    from flows.validate import validate_flow

    for stage, fl in [("ingest", ingest_flow), ("quantify", quantify_flow),
                      ("load", load_flow), ("validate", validate_flow),
                      ("analyze", analyze_flow), ("pipeline", pipeline_flow),
                      ("pull", pull_flow)]:
        assert fl.name == f"calcisvd-{stage}"
        assert re.fullmatch(rf"{stage}-\d{{4}}-\d\d-\d\dT\d\d-\d\d-\d\dZ", fl.flow_run_name())
        params = fl.parameters.properties
        assert {"settings", "home", "config"} <= set(params), (stage, params)
