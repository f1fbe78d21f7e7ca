"""The failure alert sees command-line runs: a real ``prefect server``, the automation of
``ops.notifications``, a webhook receiver on 127.0.0.1 and ``calcisvd load`` failing on a bad
batch. The CLI run is named and tagged like every calcisvd run (flow ``calcisvd-load``, run
``load-<UTC time>``, tags ``calcisvd`` + ``load``), so the automation fires for it."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.flows.service import BIN, REPO, LocalServer
from tests.warehouse.conftest import edit_measures, make_fake_study

pytestmark = pytest.mark.slow


class _Hook(BaseHTTPRequestHandler):
    received: list[dict] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        type(self).received.append({"path": self.path, "body": body.decode(errors="replace")})
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args) -> None:  # quiet
        pass


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict]]]:
    """An HTTP receiver on 127.0.0.1 that keeps the bodies POSTed to it."""
    _Hook.received = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/hook", _Hook.received
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LocalServer]:
    srv = LocalServer(tmp_path).start()
    try:
        yield srv
    finally:
        srv.stop()


def test_failed_cli_run_is_tagged_named_and_alerted(server: LocalServer, webhook) -> None:
    from calcisvd.settings import load_settings

    url, received = webhook
    res = subprocess.run([sys.executable, "-m", "ops.notifications", "--webhook", url,
                          "--allow-private"], env=server.env, cwd=REPO, capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    home = Path(server.env["CALCISVD_HOME"])
    settings = load_settings(env={}, overrides={"home": home})
    subjects = make_fake_study(settings.bids_dir, settings.derivatives_dir, 3, seed=1)
    edit_measures(settings.derivatives_dir, subjects[0], "M00",
                  lambda d: d["svd"].update(status=None))  # no status: load fails
    t0 = time.time()
    cli = subprocess.run([str(BIN / "calcisvd"), "load", "--home", str(home)], env=server.env,
                         cwd=REPO, capture_output=True, text=True, timeout=600)
    assert cli.returncode != 0, cli.stdout + cli.stderr

    runs = [r for r in server.flow_runs(20) if r["name"].startswith("load-")]
    assert len(runs) == 1, [r["name"] for r in server.flow_runs(20)]
    run = runs[0]
    assert re.fullmatch(r"load-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\dZ", run["name"]), run["name"]
    assert run["state"]["type"] == "FAILED", run["state"]
    assert {"calcisvd", "load"} <= set(run["tags"]), run["tags"]
    flows = {f["id"]: f["name"] for f in server.post("flows/filter", {"limit": 50})}
    assert flows[run["flow_id"]] == "calcisvd-load"

    while time.time() - t0 < 120 and not any(run["name"] in h["body"] for h in received):
        time.sleep(1)
    hits = [h for h in received if run["name"] in h["body"]]
    assert hits, f"no alert for {run['name']} within 120 s; received: {received}"
    text = json.loads(hits[0]["body"])["text"]
    assert "Failed" in text and "calcisvd-load" in text, text
    assert server.service_errors() == []
