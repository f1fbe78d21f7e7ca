"""Helpers for tests on a real ``prefect server`` (SQLite or PostgreSQL) with process workers.

Not a test module: :class:`LocalServer` starts ``prefect server start`` on 127.0.0.1 (a free
port, a temporary PREFECT_HOME, the log in a file that :meth:`LocalServer.service_errors`
reads); :class:`PostgresCluster` runs ``ops/prefect_postgres.sh`` (the operator's recipe).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

#: a server log line that is a service error: a traceback or an ERROR/CRITICAL log record
SERVICE_ERROR = re.compile(r"Traceback|\|\s*(ERROR|CRITICAL)\s*\||\bERROR:")
#: the start of a server log record (``HH:MM:SS.mmm | LEVEL | ...``)
RECORD_START = re.compile(r"^\d\d:\d\d:\d\d\.\d{3} \| ")
#: see :meth:`LocalServer.service_errors`
SQLITE_HEARTBEAT_LOCK = re.compile(r"\|\s*ERROR\s*\|.*Worker channel heartbeat persistence failed")
#: seconds one API request may take: above the 60 s SQLite ``busy_timeout`` Prefect sets
REQUEST_TIMEOUT_S = 90


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_health(url: str, timeout: float = 180, proc: subprocess.Popen | None = None) -> None:
    """Wait for ``<url>/health``; raise when it does not answer (or the server died)."""
    t0 = time.time()
    while time.time() - t0 < timeout:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"prefect server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(1)
    raise TimeoutError("prefect server did not start")


class LocalServer:
    """A real ``prefect server start`` on a free port, and the CLI pointed at it."""

    def __init__(self, root: Path, database_url: str | None = None,
                 extra_env: dict[str, str] | None = None):
        self.root = root
        self.port = free_port()
        self.api = f"http://127.0.0.1:{self.port}/api"
        self.prefect_home = root / "prefect"
        self.log_path = root / "server.log"
        self.env = dict(os.environ, PREFECT_HOME=str(self.prefect_home), PREFECT_API_URL=self.api,
                        CALCISVD_HOME=str(root / "home"), CALCISVD_REPO=str(REPO),
                        PREFECT_SERVER_ANALYTICS_ENABLED="false", DO_NOT_TRACK="1",
                        NIPYPE_NO_ET="1", GX_ANALYTICS_ENABLED="false")
        self.env.pop("PREFECT_API_DATABASE_CONNECTION_URL", None)
        self.server_env = dict(self.env, **(extra_env or {}))
        if database_url:
            self.server_env["PREFECT_API_DATABASE_CONNECTION_URL"] = database_url
        self.proc: subprocess.Popen | None = None

    def start(self) -> LocalServer:
        """Start the server (log to ``server.log``) and wait until it answers."""
        self.prefect_home.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen([str(BIN / "prefect"), "server", "start", "--host",
                                      "127.0.0.1", "--port", str(self.port)],
                                     env=self.server_env, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        wait_health(self.api, proc=self.proc)
        return self

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 60 s)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)

    def service_errors(self) -> list[str]:
        """Lines of the server log that report an error (tracebacks, ERROR records).

        One record is tolerated on SQLite only: the worker-channel heartbeat write failing
        with ``database is locked``. SQLite allows one writer; under load the heartbeat's
        write transaction can lose the race (Prefect retries it with the next heartbeat, and
        recommends PostgreSQL for a busy server). The PostgreSQL run of the same test
        tolerates nothing."""
        if not self.log_path.is_file():
            return []
        lines = self.log_path.read_text(errors="replace").splitlines()
        sqlite = "PREFECT_API_DATABASE_CONNECTION_URL" not in self.server_env
        out: list[str] = []
        block: list[str] = []
        for line in lines + ["00:00:00.000 | INFO    | end"]:
            if RECORD_START.match(line):  # a new log record: judge the one before it
                text = "\n".join(block)
                if not (sqlite and SQLITE_HEARTBEAT_LOCK.search(block[0] if block else "")
                        and "database is locked" in text):
                    out.extend(ln for ln in block if SERVICE_ERROR.search(ln))
                block = []
            block.append(line)
        return out

    def prefect(self, *args: str, timeout: float = 300, env: dict | None = None) -> str:
        """Run the ``prefect`` CLI against this server; its stdout (asserts exit 0)."""
        res = subprocess.run([str(BIN / "prefect"), *args], env=env or self.env, cwd=REPO,
                             capture_output=True, text=True, timeout=timeout)
        assert res.returncode == 0, res.stdout + res.stderr
        return res.stdout

    def post(self, path: str, body: dict[str, Any], attempts: int = 3) -> Any:
        """POST JSON to the API; the decoded answer.

        A request may wait for the database: on SQLite a write waits up to Prefect's
        ``PRAGMA busy_timeout`` (60 s) for the one writer's lock, and a read waits for the
        connection that write holds. So each attempt waits :data:`REQUEST_TIMEOUT_S`, longer
        than that, and a timed-out request is sent again (as Prefect's own client retries),
        ``attempts`` times in all."""
        data = json.dumps(body).encode()
        for attempt in range(1, attempts + 1):
            req = urllib.request.Request(f"{self.api}/{path}", data=data,
                                         headers={"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(req, timeout=REQUEST_TIMEOUT_S) as r:
                    return json.loads(r.read())
            except (TimeoutError, urllib.error.URLError) as exc:
                timed_out = isinstance(getattr(exc, "reason", exc), TimeoutError)
                if not timed_out or attempt == attempts:
                    raise
                print(f"POST {path}: no answer in {REQUEST_TIMEOUT_S} s, sent again",
                      file=sys.stderr)
        raise AssertionError("unreachable")

    def flow_runs(self, limit: int = 20, deployment_id: str | None = None) -> list[dict]:
        """Flow runs, newest first (optionally of one deployment)."""
        body: dict[str, Any] = {"limit": limit, "sort": "EXPECTED_START_TIME_DESC"}
        if deployment_id:
            body["flow_runs"] = {"deployment_id": {"any_": [deployment_id]}}
        return self.post("flow_runs/filter", body)

    def deployments(self) -> dict[str, dict]:
        """Deployments by name, each with ``full_name`` (``<flow>/<deployment>``)."""
        flows = {f["id"]: f["name"] for f in self.post("flows/filter", {"limit": 200})}
        out = {}
        for d in self.post("deployments/filter", {"limit": 200}):
            d["full_name"] = f"{flows[d['flow_id']]}/{d['name']}"
            out[d["name"]] = d
        return out

    def start_worker(self, pool: str, log_path: Path, env: dict | None = None
                     ) -> subprocess.Popen:
        """A long-running process worker on ``pool`` polling every 2 s (log to ``log_path``)."""
        wenv = dict(env or self.env, PREFECT_WORKER_QUERY_SECONDS="2")
        log = log_path.open("ab")
        try:
            return subprocess.Popen([str(BIN / "prefect"), "worker", "start", "--pool", pool,
                                     "--name", f"test-worker-{self.port}"], env=wenv, cwd=REPO,
                                    stdout=log, stderr=subprocess.STDOUT)
        finally:
            log.close()


def stop_process(proc: subprocess.Popen, timeout: float = 60) -> None:
    """SIGTERM ``proc`` (a process this test started), SIGKILL when it does not end."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)


class PostgresCluster:
    """A PostgreSQL cluster for the Prefect server, through ``ops/prefect_postgres.sh``.

    The cluster lives in a folder under /tmp that the ``postgres`` user can reach (pytest's
    own temporary folders are private to root); :meth:`close` stops it and removes the folder.
    """

    script = REPO / "ops" / "prefect_postgres.sh"

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="calcisvd-pg-", dir="/tmp"))
        self.dir.chmod(0o755)
        self.url = self._run("start").strip().splitlines()[-1]

    def _run(self, *args: str) -> str:
        res = subprocess.run(["bash", str(self.script), args[0], str(self.dir), *args[1:]],
                             capture_output=True, text=True, timeout=120)
        assert res.returncode == 0, res.stdout + res.stderr
        return res.stdout

    def sql(self, query: str) -> str:
        """Run ``query`` in the Prefect database as the cluster owner; psql's unaligned output."""
        bindir = sorted(Path("/usr/lib/postgresql").glob("*/bin"))[-1]
        port = (self.dir / "port").read_text().strip()
        cmd = [str(bindir / "psql"), "-X", "-tA", "-h", str(self.dir / "data"), "-p", port,
               "-d", "prefect", "-c", query]
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        assert res.returncode == 0, res.stderr
        return res.stdout.strip()

    def close(self) -> None:
        """Stop the cluster and remove its folder."""
        try:
            self._run("stop")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)
