"""prefect.yaml deploys and runs on a real local Prefect server with a process worker."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from tests.flows.service import BIN, REPO, LocalServer


def test_prefect_yaml_entrypoints_import() -> None:
    import importlib

    doc = yaml.safe_load((REPO / "prefect.yaml").read_text())
    names = {d["name"] for d in doc["deployments"]}
    assert {"ingest-scheduled", "quantify-and-load", "analytics-nightly", "pipeline"} <= names
    for dep in doc["deployments"]:
        path, func = dep["entrypoint"].split(":")
        module = path.removesuffix(".py").replace("/", ".")
        flow = getattr(importlib.import_module(module), func)
        assert hasattr(flow, "deploy"), dep["entrypoint"]
    schedules = {d["name"]: d.get("schedules") for d in doc["deployments"]}
    assert schedules["ingest-scheduled"] and schedules["analytics-nightly"]
    trig = next(d for d in doc["deployments"] if d["name"] == "quantify-and-load")["triggers"]
    assert trig[0]["expect"] == ["calcisvd.ingest.new-sessions"]


@pytest.fixture(scope="module")
def local_server(tmp_path_factory: pytest.TempPathFactory):
    """One server for the module, with the process work pool and every deployment."""
    srv = LocalServer(tmp_path_factory.mktemp("prefect-server")).start()
    try:
        srv.prefect("work-pool", "create", "calcisvd-local", "--type", "process")
        srv.prefect("--no-prompt", "deploy", "--name", "pipeline")
        yield srv
    finally:
        srv.stop()


@pytest.mark.slow
def test_deploy_and_run_on_local_server(local_server: LocalServer) -> None:
    local_server.prefect("deployment", "run", "calcisvd-pipeline/pipeline",
                         "--param", 'stages=["quantify"]')
    local_server.prefect("worker", "start", "--pool", "calcisvd-local", "--run-once",
                         timeout=600)
    states = {run["name"]: run["state"]["type"] for run in local_server.flow_runs(5)}
    assert "COMPLETED" in states.values(), states
    assert any(name.startswith("pipeline-") for name in states), states


@pytest.mark.slow
def test_two_workers_share_one_pool_and_storage(local_server: LocalServer,
                                                tmp_path: Path) -> None:
    """The README recipe: two workers on one work pool, one shared CALCISVD_HOME. Two ingest
    runs submitted at once are taken by the two workers; the ingest lock serialises them, both
    complete, and the dataset is what one run gives (each session once)."""
    home = tmp_path / "shared-home"
    env = dict(local_server.env, CALCISVD_HOME=str(home))
    sim = subprocess.run([str(BIN / "calcisvd"), "simulate", "--subjects", "1",
                          "--resolution", "4"], env=env, cwd=REPO, capture_output=True,
                         text=True, timeout=300)
    assert sim.returncode == 0, sim.stdout + sim.stderr
    before = {r["id"] for r in local_server.flow_runs(50)}
    for _ in range(2):
        local_server.prefect("deployment", "run", "calcisvd-pipeline/pipeline",
                             "--param", 'stages=["ingest"]', env=env)
    workers = [subprocess.Popen([str(BIN / "prefect"), "worker", "start", "--pool",
                                 "calcisvd-local", "--run-once", "--limit", "1",
                                 "--name", f"worker-{k}"], env=env, cwd=REPO,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
               for k in (1, 2)]
    outs = [w.communicate(timeout=600)[0] for w in workers]
    assert all(w.returncode == 0 for w in workers), outs

    def new_runs() -> list[dict]:
        return [r for r in local_server.flow_runs(50)  # the deployment runs, not subflows
                if r["id"] not in before and not r.get("parent_task_run_id")]

    for _ in range(2):  # a run both workers raced for and neither kept: one more poll
        if all(r["state"]["type"] not in ("SCHEDULED", "PENDING") for r in new_runs()):
            break
        local_server.prefect("worker", "start", "--pool", "calcisvd-local", "--run-once",
                             "--limit", "1", env=env, timeout=600)
    runs = new_runs()
    assert len(runs) == 2, [r["name"] for r in runs]
    assert {r["state"]["type"] for r in runs} == {"COMPLETED"}, runs
    assert all(r["name"].startswith("pipeline-") for r in runs), [r["name"] for r in runs]
    sessions = sorted(p.relative_to(home / "bids_dataset").as_posix()
                      for p in (home / "bids_dataset").glob("sub-*/ses-*"))
    assert len(sessions) == 2 and len({s.split("/")[0] for s in sessions}) == 1, sessions
    for ses in sessions:  # each image once: no duplicate from the second run
        names = [p.name for p in (home / "bids_dataset" / ses / "anat").glob("*.nii.gz")]
        assert len(names) == len(set(names)) >= 2
