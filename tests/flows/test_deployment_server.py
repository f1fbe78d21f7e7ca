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


@pytest.mark.slow
def test_deploy_and_run_on_local_server(tmp_path: Path) -> None:
    port = _free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = dict(os.environ, PREFECT_HOME=str(tmp_path / "prefect"), PREFECT_API_URL=api,
               CALCISVD_HOME=str(tmp_path / "home"), CALCISVD_REPO=str(REPO),
               PREFECT_SERVER_ANALYTICS_ENABLED="false", DO_NOT_TRACK="1")
    server = subprocess.Popen([str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1",
                               "--port", str(port)], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        _wait_health(api)

        def prefect(*args: str, timeout: float = 300) -> str:
            res = subprocess.run([str(BIN / "prefect"), *args], env=env, cwd=REPO,
                                 capture_output=True, text=True, timeout=timeout)
            assert res.returncode == 0, res.stdout + res.stderr
            return res.stdout

        prefect("work-pool", "create", "calcisvd-local", "--type", "process")
        prefect("--no-prompt", "deploy", "--name", "pipeline")
        prefect("deployment", "run", "calcisvd-pipeline/pipeline",
                "--param", 'stages=["quantify"]')
        prefect("worker", "start", "--pool", "calcisvd-local", "--run-once", timeout=600)

        body = json.dumps({"limit": 5}).encode()
        req = urllib.request.Request(f"{api}/flow_runs/filter", data=body,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as r:
            runs = json.loads(r.read())
        states = {run["name"]: run["state"]["type"] for run in runs}
        assert "COMPLETED" in states.values(), states
        assert any(name.startswith("pipeline ") for name in states), states
    finally:
        server.terminate()
        server.wait(timeout=60)
