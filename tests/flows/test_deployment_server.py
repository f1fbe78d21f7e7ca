"""prefect.yaml deploys and runs on a real local Prefect server with a process worker."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_health(url: str, timeout: float = 180) -> None:
    t0 = time.time()
    while time.time() - t0 < timeout:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(1)
    raise TimeoutError("prefect server did not start")


class LocalServer:
    """A real ``prefect server start`` on a free port, and the CLI pointed at it."""

    def __init__(self, root: Path):
        self.port = _free_port()
        self.api = f"http://127.0.0.1:{self.port}/api"
        self.env = dict(os.environ, PREFECT_HOME=str(root / "prefect"), PREFECT_API_URL=self.api,
                        CALCISVD_HOME=str(root / "home"), CALCISVD_REPO=str(REPO),
                        PREFECT_SERVER_ANALYTICS_ENABLED="false", DO_NOT_TRACK="1")

    def prefect(self, *args: str, timeout: float = 300, env: dict | None = None) -> str:
        res = subprocess.run([str(BIN / "prefect"), *args], env=env or self.env, cwd=REPO,
                             capture_output=True, text=True, timeout=timeout)
        assert res.returncode == 0, res.stdout + res.stderr
        return res.stdout

    def flow_runs(self, limit: int = 20) -> list[dict]:
        body = json.dumps({"limit": limit}).encode()
        req = urllib.request.Request(f"{self.api}/flow_runs/filter", data=body,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read())


@pytest.fixture(scope="module")
def local_server(tmp_path_factory: pytest.TempPathFactory):
    """One server for the module, with the process work pool and every deployment."""
    root = tmp_path_factory.mktemp("prefect-server")
    srv = LocalServer(root)
    proc = subprocess.Popen([str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1",
                             "--port", str(srv.port)], env=srv.env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        _wait_health(srv.api)
        srv.prefect("work-pool", "create", "calcisvd-local", "--type", "process")
        srv.prefect("--no-prompt", "deploy", "--name", "pipeline")
        yield srv
    finally:
        proc.terminate()
        proc.wait(timeout=60)


@pytest.mark.slow
def test_deploy_and_run_on_local_server(local_server: LocalServer) -> None:
    local_server.prefect("deployment", "run", "calcisvd-pipeline/pipeline",
                         "--param", 'stages=["quantify"]')
    local_server.prefect("worker", "start", "--pool", "calcisvd-local", "--run-once",
                         timeout=600)
    states = {run["name"]: run["state"]["type"] for run in local_server.flow_runs(5)}
    assert "COMPLETED" in states.values(), states
    assert any(name.startswith("pipeline ") for name in states), states


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
    assert all(r["name"].startswith("pipeline ") for r in runs), [r["name"] for r in runs]
    sessions = sorted(p.relative_to(home / "bids_dataset").as_posix()
                      for p in (home / "bids_dataset").glob("sub-*/ses-*"))
    assert len(sessions) == 2 and len({s.split("/")[0] for s in sessions}) == 1, sessions
    for ses in sessions:  # each image once: no duplicate from the second run
        names = [p.name for p in (home / "bids_dataset" / ses / "anat").glob("*.nii.gz")]
        assert len(names) == len(set(names)) >= 2
