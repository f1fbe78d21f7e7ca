"""The deployed service runs by itself: a real ``prefect server`` (SQLite, the embedded default,
and PostgreSQL, the service recipe ``ops/prefect_postgres.sh``) with a real process worker.

Deploy from ``prefect.yaml`` -> the server's scheduler creates the scheduled runs of
``ingest-scheduled`` and ``analytics-nightly`` from their cron schedules -> with the ingest
schedule shortened, a scheduled ingest runs on the worker over a small simulated drop -> its
``calcisvd.ingest.new-sessions`` event triggers ``quantify-and-load`` -> with the nightly
schedule shortened, the analytics run writes the report. Any error in the server log (a
scheduler traceback, an ERROR record of any service) fails the test.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.flows.service import BIN, REPO, LocalServer, PostgresCluster, stop_process

pytestmark = pytest.mark.slow

#: the scheduler's loop, shortened from 60 s so that the test window is short
SERVER_ENV = {"PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "5"}
POOL = "calcisvd-local"


def _parse(ts: str) -> datetime:
    return datetime.fromisoformat(ts.replace("Z", "+00:00"))


def _wait_for(what: str, check, timeout: float, logs: list[Path]):
    """Poll ``check()`` every second until it returns something truthy; fail with the logs."""
    t0 = time.time()
    while time.time() - t0 < timeout:
        got = check()
        if got:
            print(f"{time.time() - t0:6.1f} s waiting for {what}")
            return got
        time.sleep(1)
    tails = "\n".join(f"--- {p.name}\n" + "\n".join(p.read_text(errors="replace")
                                                      .splitlines()[-40:])
                      for p in logs if p.is_file())
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}\n{tails}")


def _finished_run(srv: LocalServer, deployment_id: str, *, at: datetime | None = None):
    """The first finished run of the deployment (the scheduler's run due ``at``), or None."""
    for run in srv.flow_runs(50, deployment_id):
        if at is not None and (not run.get("auto_scheduled")
                               or _parse(run["expected_start_time"]) != at):
            continue
        if run["state"]["type"] in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED"):
            return run
    return None


def _shorten(srv: LocalServer, dep: dict, interval_s: int, lead_s: float = 20) -> datetime:
    """Replace the deployment's schedule by an interval one whose first run is due in
    ``lead_s`` seconds (the operator's CLI); the time that run is due. Retried, with a lead of
    twice what the CLI took, when the CLI itself took so long (a loaded machine) that the due
    time had (nearly) passed."""
    for _ in range(3):
        t0 = datetime.now(UTC)
        due = (t0 + timedelta(seconds=lead_s)).replace(microsecond=0)
        srv.prefect("deployment", "schedule", "create", dep["full_name"], "--interval",
                    str(interval_s), "--anchor-date", due.isoformat(), "--replace", "-y")
        if datetime.now(UTC) < due - timedelta(seconds=5):
            return due
        lead_s = max(lead_s, 2 * (datetime.now(UTC) - t0).total_seconds() + 5)
    pytest.fail("`prefect deployment schedule create` took longer than the lead time 3 times")


def exercise_service(srv: LocalServer, subjects: int = 3) -> dict[str, int]:
    """The scenario of the module docstring on a started server, over a drop of ``subjects``
    simulated subjects; counts for the report."""
    home = Path(srv.env["CALCISVD_HOME"])
    # the drop is simulated while the deployments are created and scheduled (no run reads it
    # before the worker starts, after the simulation ended)
    sim = subprocess.Popen([str(BIN / "calcisvd"), "simulate", "--subjects", str(subjects),
                            "--seed", "7", "--resolution", "4", "--no-follow-up"],
                           env=srv.env, cwd=REPO,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    scheduled: set[str] = set()  # ids of the runs the scheduler created
    try:
        _deploy_and_check_cron_runs(srv, sim, scheduled)
    finally:
        stop_process(sim)
    _scheduled_ingest_trigger_nightly(srv, home, scheduled)
    return {"scheduled_runs_created": len(scheduled)}


def _auto_runs(srv: LocalServer, dep: dict, seen: set[str]) -> list[dict]:
    """The deployment's runs created by the scheduler (their ids added to ``seen``)."""
    runs = [r for r in srv.flow_runs(200, dep["id"]) if r.get("auto_scheduled")]
    seen.update(r["id"] for r in runs)
    return runs


def _deploy_and_check_cron_runs(srv: LocalServer, sim: subprocess.Popen,
                                scheduled: set[str]) -> None:
    srv.prefect("work-pool", "create", POOL, "--type", "process", "--overwrite")
    srv.prefect("--no-prompt", "deploy", "--all")
    deps = srv.deployments()
    ingest, nightly = deps["ingest-scheduled"], deps["analytics-nightly"]
    logs = [srv.log_path, srv.root / "worker.log"]

    def auto_runs(dep: dict) -> list[dict]:
        return _auto_runs(srv, dep, scheduled)

    # 1. the scheduler creates the runs of the cron schedules of prefect.yaml
    ing_runs = _wait_for("the scheduler's ingest runs", lambda: auto_runs(ingest), 120, logs)
    night_runs = _wait_for("the scheduler's nightly runs", lambda: auto_runs(nightly), 120, logs)
    for run in ing_runs:  # */15 * * * *
        t = _parse(run["expected_start_time"])
        assert t.minute % 15 == 0 and t.second == 0, run["expected_start_time"]
    for run in night_runs:  # 0 2 * * *
        t = _parse(run["expected_start_time"])
        assert (t.hour, t.minute) == (2, 0), run["expected_start_time"]
    assert len(ing_runs) >= 3 and len(night_runs) >= 1, (len(ing_runs), len(night_runs))
    out, _ = sim.communicate(timeout=600)
    assert sim.returncode == 0, out


def _scheduled_ingest_trigger_nightly(srv: LocalServer, home: Path,
                                      scheduled: set[str]) -> None:
    deps = srv.deployments()
    ingest, nightly = deps["ingest-scheduled"], deps["analytics-nightly"]
    qload = deps["quantify-and-load"]
    logs = [srv.log_path, srv.root / "worker.log"]

    def auto_runs(dep: dict) -> list[dict]:
        return _auto_runs(srv, dep, scheduled)

    # 2. the ingest schedule shortened: one run due in 20 s, the next one an hour later
    due = _shorten(srv, ingest, 3600)
    _wait_for("the scheduler's run of the shortened ingest schedule",
              lambda: [r for r in auto_runs(ingest)
                       if _parse(r["expected_start_time"]) == due], 60, logs)
    worker = srv.start_worker(POOL, srv.root / "worker.log")
    try:
        run = _wait_for("the scheduled ingest run on the worker",
                        lambda: _finished_run(srv, ingest["id"], at=due), 300, logs)
        assert run["state"]["type"] == "COMPLETED", run["state"]
        assert sorted((home / "bids_dataset").glob("sub-*/ses-*")), "nothing ingested"

        # 3. its event triggered quantify-and-load, which the worker runs
        run = _wait_for("quantify-and-load triggered by the ingest event",
                        lambda: _finished_run(srv, qload["id"]), 900, logs)
        assert run["state"]["type"] == "COMPLETED", run["state"]
        assert (home / "var" / "calcisvd.duckdb").is_file()

        # 4. the nightly schedule shortened: the analytics run writes the report
        due = _shorten(srv, nightly, 86400)
        _wait_for("the scheduler's run of the shortened nightly schedule",
                  lambda: [r for r in auto_runs(nightly)
                           if _parse(r["expected_start_time"]) == due], 60, logs)
        run = _wait_for("the scheduled analytics run",
                        lambda: _finished_run(srv, nightly["id"], at=due), 300, logs)
        assert run["state"]["type"] == "COMPLETED", run["state"]
        assert (home / "reports" / "latest" / "report.html").is_file()
    finally:
        stop_process(worker)
    auto_runs(ingest)
    auto_runs(nightly)
    errors = srv.service_errors()
    if errors:  # keep the whole log where a person finds it, and show the first traceback
        lines = srv.log_path.read_text(errors="replace").splitlines()
        first = next(i for i, ln in enumerate(lines) if ln in errors)
        pytest.fail("errors in the Prefect server log:\n" + "\n".join(lines[first:first + 60]))


@pytest.fixture
def sqlite_server(tmp_path: Path) -> Iterator[LocalServer]:
    srv = LocalServer(tmp_path, extra_env=SERVER_ENV).start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def postgres_server(tmp_path: Path) -> Iterator[tuple[LocalServer, PostgresCluster]]:
    cluster = PostgresCluster()
    try:
        srv = LocalServer(tmp_path, database_url=cluster.url, extra_env=SERVER_ENV).start()
        try:
            yield srv, cluster
        finally:
            srv.stop()
    finally:
        cluster.close()


def test_scheduler_worker_trigger_and_nightly_on_sqlite(sqlite_server: LocalServer) -> None:
    counts = exercise_service(sqlite_server)
    assert (sqlite_server.prefect_home / "prefect.db").is_file()  # the embedded default
    print(f"sqlite: {counts}")


def test_scheduler_worker_trigger_and_nightly_on_postgres(
        postgres_server: tuple[LocalServer, PostgresCluster]) -> None:
    srv, cluster = postgres_server
    # one subject: the database is what differs from the SQLite run, not the drop's size
    # (saves ~40 s of quantification)
    counts = exercise_service(srv, subjects=1)
    assert not (srv.prefect_home / "prefect.db").exists()  # nothing went to SQLite
    n_runs = int(cluster.sql("SELECT count(*) FROM flow_run WHERE auto_scheduled"))
    assert n_runs >= 3, n_runs
    print(f"postgres: {counts}, auto-scheduled flow_run rows in PostgreSQL: {n_runs}")
