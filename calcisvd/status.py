"""Collect the operational status of a calcisvd home: runs, backlog, failures, counts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from calcisvd.settings import Settings


def recent_runs(limit: int) -> list[dict[str, Any]]:
    """The last ``limit`` flow runs from the Prefect API, newest first."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.sorting import FlowRunSort

    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(sort=FlowRunSort.START_TIME_DESC, limit=limit)
        out = []
        for r in runs:
            state = r.state
            out.append({
                "name": r.name, "state": state.name if state else "?",
                "start": r.start_time.strftime("%Y-%m-%d %H:%M") if r.start_time else "",
                "seconds": round(r.total_run_time.total_seconds(), 1),
                "message": (state.message or "")[:160] if state and state.is_failed() else "",
            })
        return out


def quarantine_entries(quarantine_dir: Path, limit: int = 50) -> list[dict[str, Any]]:
    """Reasons recorded for quarantined inputs (JSON files under the quarantine folder)."""
    out = []
    for path in sorted(Path(quarantine_dir).rglob("*.json")) if quarantine_dir.exists() else []:
        try:
            doc = json.loads(path.read_text())
        except (ValueError, OSError):
            continue
        if isinstance(doc, dict):
            out.append({"file": str(doc.get("source") or doc.get("file") or path.parent.name),
                        "reason": str(doc.get("reason", ""))[:160]})
    return out[:limit] if limit else out


def backlog(settings: Settings) -> dict[str, Any]:
    """Sessions waiting for quantification or for the warehouse, and failed measurements."""
    from tasks.quantify.sessions import discover_sessions, measures_path, needs_quantification

    waiting, failed, quantified = [], [], []
    for ses in discover_sessions(settings.bids_dir):
        need, why = needs_quantification(settings.derivatives_dir, ses)
        if need:
            waiting.append(f"{ses.label} ({why})")
            continue
        quantified.append((ses.subject, ses.session))
        doc = json.loads(measures_path(settings.derivatives_dir, ses).read_text())
        for part in ("icac", "svd"):
            if doc.get(part, {}).get("status") == "failed":
                failed.append(f"{ses.label} {part}: {doc[part].get('reason')}")
    loaded = warehouse_sessions(settings)
    not_loaded = [f"sub-{s}_ses-{t}" for s, t in quantified
                  if loaded is not None and (s, t) not in loaded]
    return {"to_quantify": waiting, "to_load": not_loaded, "failed_measurements": failed,
            "warehouse_readable": loaded is not None}


def _connect_ro(settings: Settings):
    import duckdb

    if not settings.warehouse_path.exists():
        return None
    try:
        return duckdb.connect(str(settings.warehouse_path), read_only=True)
    except duckdb.Error:
        return None  # held by a running load


def warehouse_sessions(settings: Settings) -> set[tuple[str, str]] | None:
    """(subject, session) pairs in the curated ``sessions`` table, or None if unreadable."""
    con = _connect_ro(settings)
    if con is None:
        return None
    try:
        rows = con.execute("SELECT subject, session FROM sessions").fetchall()
        return {(str(a), str(b)) for a, b in rows}
    except Exception:
        return None
    finally:
        con.close()


def warehouse_counts(settings: Settings) -> dict[str, int] | None:
    """Row counts of the warehouse's base tables (not views), or None if unreadable."""
    con = _connect_ro(settings)
    if con is None:
        return None
    try:
        tables = [r[0] for r in con.execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_type = 'BASE TABLE' AND table_schema = 'main' ORDER BY 1").fetchall()]
        return {t: con.table(t).aggregate("count(*)").fetchall()[0][0] for t in tables}
    finally:
        con.close()


def collect_status(settings: Settings, runs: int = 10,
                   with_prefect: bool = True) -> dict[str, Any]:
    """Everything ``calcisvd status`` prints, as a dict."""
    report: dict[str, Any] = {"home": str(settings.home)}
    if with_prefect:
        try:
            report["runs"] = recent_runs(runs)
        except Exception as exc:  # API down: say so, show the rest
            report["runs_error"] = f"Prefect API not reachable: {exc}"
    report["backlog"] = backlog(settings)
    report["quarantine"] = quarantine_entries(settings.quarantine_dir, limit=0)
    report["warehouse"] = warehouse_counts(settings)
    report["clinical"] = clinical_status(settings)
    report["held_back"] = held_back_rows(settings)
    return report


def held_back_rows(settings: Settings) -> list[str] | None:
    """Cells the last successful load held back (warehouse.holdback), or None if unreadable."""
    con = _connect_ro(settings)
    if con is None:
        return None
    try:
        rows = con.execute(
            "SELECT path, message FROM ingest_log WHERE run_id = (SELECT run_id FROM "
            "pipeline_runs WHERE kind = 'load' AND status = 'success' ORDER BY started_at "
            "DESC LIMIT 1) AND message LIKE '%held back%' ORDER BY path").fetchall()
        return [f"{p}: {m}" for p, m in rows]
    except Exception:
        return None
    finally:
        con.close()


def clinical_status(settings: Settings) -> dict[str, Any]:
    """The last ingest's clinical report: files, unusable files, held-back rows, conflicts."""
    import json

    from tasks.ingest.pipeline import clinical_report_path

    path = clinical_report_path(settings)
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def format_status(report: dict[str, Any]) -> str:
    """The report as text for a terminal."""
    lines = [f"calcisvd status ({report['home']})", ""]
    if "runs" in report:
        lines.append("recent runs:")
        for r in report["runs"] or [{"name": "(none yet)", "state": "", "start": "",
                                      "seconds": "", "message": ""}]:
            lines.append(f"  {r['start']:<17} {r['state']:<10} {r['seconds']!s:>7} s  "
                         f"{r['name']}")
            if r["message"]:
                lines.append(f"      failure: {r['message']}")
    elif "runs_error" in report:
        lines.append(report["runs_error"])
    b = report["backlog"]
    lines += ["", f"backlog: {len(b['to_quantify'])} session(s) to quantify, "
              f"{len(b['to_load'])} to load"
              + ("" if b["warehouse_readable"] else " (warehouse not readable now)")]
    lines += [f"  quantify: {s}" for s in b["to_quantify"][:20]]
    lines += [f"  load:     {s}" for s in b["to_load"][:20]]
    lines += ["", f"failed measurements: {len(b['failed_measurements'])}"]
    lines += [f"  {s}" for s in b["failed_measurements"][:20]]
    q = report["quarantine"]
    lines += ["", f"quarantine: {len(q)} input(s)"]
    lines += [f"  {e['file']}: {e['reason']}" for e in q[:20]]
    c = report.get("clinical") or {}
    if c:
        held = c.get("held_rows", [])
        lines += ["", f"clinical: {len(c.get('files', []))} file(s) read, "
                  f"{len(c.get('errors', {}))} unusable, {len(held)} row(s) held back, "
                  f"{len(c.get('conflicts', []))} value change(s) between exports"]
        lines += [f"  {name}: {why}" for name, why in c.get("errors", {}).items()]
        lines += [f"  {h['file']} row {h['row']}: {h['reason']}" for h in held[:20]]
    held = report.get("held_back") or []
    if held:
        lines += ["", f"held back by the last load: {len(held)} value(s)"]
        lines += [f"  {h}" for h in held[:20]]
    wh = report["warehouse"]
    lines += ["", "warehouse:" + ("" if wh is not None else " not created yet or busy")]
    if wh:
        lines += [f"  {t:<32} {n:>8}" for t, n in wh.items()]
    return "\n".join(lines)
