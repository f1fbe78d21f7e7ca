"""Prefect's run history for ``calcisvd status``: through the API, or the embedded database.

With ``PREFECT_API_URL`` set (environment or active profile; a Prefect server, the weekly
service) the history is read through
its REST API (standard library HTTP: no Prefect import, no server start). Without it, the
commands use Prefect's embedded API, whose history is the SQLite database under
``PREFECT_HOME`` (``var/prefect/prefect.db`` by default); starting an embedded server only to
read it takes 5-20 s, so that file is read directly, read-only, and the report says so.

Both give the same shape: recent top-level runs grouped by deployment (``command line`` for
runs started by ``calcisvd``), the next scheduled runs, and the workers seen with their last
heartbeat.
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
import tomllib
import urllib.request
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

#: runs read to build the per-deployment lists
RECENT_WINDOW = 200
COMMAND_LINE = "command line"


def _api(base: str, route: str, body: dict[str, Any] | None = None,
         timeout: float = 5.0) -> Any:
    req = urllib.request.Request(
        base.rstrip("/") + route, method="POST" if body is not None else "GET",
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Content-Type": "application/json", "Accept": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 (operator's URL)
        return json.loads(resp.read().decode() or "null")


def _seconds(value: Any) -> float:
    if value is None:
        return 0.0
    if isinstance(value, int | float):
        return float(value)
    text = str(value)
    if text.startswith("1970-01-01"):  # SQLite stores intervals as an offset from the epoch
        return (datetime.fromisoformat(text).replace(tzinfo=UTC)
                - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds()
    try:
        return float(text)
    except ValueError:
        return 0.0


def _stamp(value: Any) -> str:
    if not value:
        return ""
    return str(value).replace("T", " ")[:16]


def _run(name: str, flow: str, deployment: str | None, state: str, start: Any, seconds: Any,
         message: str | None, expected: Any = None) -> dict[str, Any]:
    return {"name": name, "flow": flow, "deployment": deployment or COMMAND_LINE,
            "state": state or "?", "start": _stamp(start or expected),
            "seconds": round(_seconds(seconds), 1),
            "message": (message or "")[:200] if state in ("Failed", "Crashed") else ""}


def from_api(api_url: str, per_deployment: int = 5) -> dict[str, Any]:
    """Runs, schedules and workers read through the REST API of the server at ``api_url``."""
    flows = {f["id"]: f["name"] for f in _api(api_url, "/flows/filter", {"limit": 200})}
    deps = {d["id"]: d for d in _api(api_url, "/deployments/filter", {"limit": 200})}
    recent = _api(api_url, "/flow_runs/filter", {
        "sort": "EXPECTED_START_TIME_DESC", "limit": RECENT_WINDOW,
        "flow_runs": {"parent_task_run_id": {"is_null_": True},
                      "state": {"type": {"not_any_": ["SCHEDULED"]}}}})
    scheduled = _api(api_url, "/flow_runs/filter", {
        "sort": "EXPECTED_START_TIME_ASC", "limit": 10,
        "flow_runs": {"state": {"type": {"any_": ["SCHEDULED"]}}}})

    def conv(r: Mapping[str, Any]) -> dict[str, Any]:
        dep = deps.get(r.get("deployment_id") or "")
        state = r.get("state") or {}
        return _run(r["name"], flows.get(r["flow_id"], "?"), dep["name"] if dep else None,
                    r.get("state_name") or state.get("name", ""), r.get("start_time"),
                    r.get("total_run_time"), state.get("message"),
                    r.get("expected_start_time"))

    workers = []
    for pool in _api(api_url, "/work_pools/filter", {"limit": 50}):
        for w in _api(api_url, f"/work_pools/{pool['name']}/workers/filter", {"limit": 50}):
            workers.append({"pool": pool["name"], "name": w["name"],
                            "status": w.get("status") or "?",
                            "last_heartbeat": _stamp(w.get("last_heartbeat_time"))})
    return {"source": f"Prefect API {api_url}",
            "runs": _group([conv(r) for r in recent], per_deployment),
            "scheduled": [conv(r) for r in scheduled],
            "deployments": sorted(d["name"] + (" (paused)" if d.get("paused") else "")
                                  for d in deps.values()),
            "workers": workers}


def embedded_database(prefect_home: Path, environ: Mapping[str, str]) -> Path | None:
    """The SQLite file of the embedded API (``PREFECT_HOME/prefect.db`` unless a database URL
    is configured); None when another database is configured."""
    url = environ.get("PREFECT_API_DATABASE_CONNECTION_URL") or \
        environ.get("PREFECT_SERVER_DATABASE_CONNECTION_URL")
    if url:
        if not url.startswith("sqlite"):
            return None
        return Path(url.split(":///", 1)[-1])
    return Path(environ.get("PREFECT_HOME") or prefect_home) / "prefect.db"


def from_database(path: Path, per_deployment: int = 5) -> dict[str, Any]:
    """Runs, schedules and workers read directly (read-only) from the embedded SQLite file."""
    source = f"embedded run history {path} (read directly; set PREFECT_API_URL for a server's)"
    if not path.is_file():
        return {"source": source, "runs": {}, "scheduled": [], "deployments": [],
                "workers": [], "note": "no runs recorded yet"}
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=2)
    try:
        base = ("SELECT r.name, f.name, d.name, r.state_name, r.start_time, r.total_run_time, "
                "s.message, r.expected_start_time FROM flow_run r "
                "JOIN flow f ON f.id = r.flow_id LEFT JOIN deployment d ON d.id = r.deployment_id "
                "LEFT JOIN flow_run_state s ON s.id = r.state_id ")
        recent = con.execute(base + "WHERE r.parent_task_run_id IS NULL AND r.state_type != "
                             "'SCHEDULED' ORDER BY r.expected_start_time DESC LIMIT ?",
                             (RECENT_WINDOW,)).fetchall()
        scheduled = con.execute(base + "WHERE r.state_type = 'SCHEDULED' "
                                "ORDER BY r.expected_start_time LIMIT 10").fetchall()
        deployments = [n + (" (paused)" if p else "") for n, p in con.execute(
            "SELECT name, paused FROM deployment ORDER BY name").fetchall()]
        workers = [{"pool": p, "name": n, "status": s or "?", "last_heartbeat": _stamp(h)}
                   for p, n, s, h in con.execute(
                       "SELECT p.name, w.name, w.status, w.last_heartbeat_time FROM worker w "
                       "JOIN work_pool p ON p.id = w.work_pool_id ORDER BY 1, 2").fetchall()]
    finally:
        con.close()
    return {"source": source, "runs": _group([_run(*r) for r in recent], per_deployment),
            "scheduled": [_run(*r) for r in scheduled], "deployments": deployments,
            "workers": workers}


def _group(runs: list[dict[str, Any]], per_deployment: int) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for r in runs:
        key = r["deployment"] if r["deployment"] != COMMAND_LINE else \
            f"{COMMAND_LINE}: {r['flow']}"
        if len(out.setdefault(key, [])) < per_deployment:
            out[key].append(r)
    return out


def api_url(environ: Mapping[str, str]) -> str | None:
    """The Prefect API the commands talk to: Prefect's own settings when Prefect is already
    imported (flows in this process), else ``PREFECT_API_URL`` from the environment or the
    active profile (``profiles.toml``), without importing Prefect (about 1.5 s)."""
    if "prefect.settings" in sys.modules:
        from prefect.settings import get_current_settings

        return get_current_settings().api.url
    if environ.get("PREFECT_API_URL"):
        return environ["PREFECT_API_URL"]
    home = Path(environ.get("PREFECT_HOME") or Path.home() / ".prefect")
    path = Path(environ.get("PREFECT_PROFILES_PATH") or home / "profiles.toml")
    try:
        doc = tomllib.loads(path.read_text())
    except (OSError, ValueError):
        return None
    active = environ.get("PREFECT_PROFILE") or doc.get("active") or "ephemeral"
    url = (doc.get("profiles", {}).get(active) or {}).get("PREFECT_API_URL")
    return str(url) if url else None


def run_history(prefect_home: Path, per_deployment: int = 5,
                environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The run history the commands use: the server's (``PREFECT_API_URL``) or the embedded
    database's. Errors are reported in ``error``, never raised."""
    env = os.environ if environ is None else environ
    api = api_url(env)
    try:
        if api:
            return from_api(api, per_deployment)
        db = embedded_database(prefect_home, env)
        if db is None:
            return {"source": "embedded API on a configured database", "runs": {},
                    "scheduled": [], "deployments": [], "workers": [],
                    "error": "set PREFECT_API_URL to read a server's run history"}
        return from_database(db, per_deployment)
    except (OSError, sqlite3.Error, ValueError, KeyError) as exc:
        return {"source": f"Prefect API {api}" if api else "embedded run history",
                "runs": {}, "scheduled": [], "deployments": [], "workers": [],
                "error": f"run history not readable: {type(exc).__name__}: {exc}"}
