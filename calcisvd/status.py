"""Collect the operational status of a calcisvd home: runs, schedules, workers, backlog,
failures, quarantine, skipped series, clinical data, warehouse counts.

Reads the run history (:mod:`calcisvd.run_history`: the server's API when ``PREFECT_API_URL``
is set, else the embedded database file), the BIDS tree and derivatives, the quarantine
folder, the ingest ledger (SQLite, read-only) and the warehouse (read-only DuckDB connection,
or the last Parquet snapshot while a load holds the file). Writes nothing but its image hash
cache (``var/cache/file_hashes.json``: an image is hashed again only when its size, mtime or
inode changed; :mod:`calcisvd.hash_cache`).
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from calcisvd.settings import Settings


def quarantine_entries(quarantine_dir: Path, limit: int = 50) -> list[dict[str, Any]]:
    """Reasons recorded for quarantined inputs (JSON files under the quarantine folder)."""
    out = []
    for path in sorted(Path(quarantine_dir).rglob("*.json")) if quarantine_dir.exists() else []:
        if path.parent.name == "skipped" or "files" in path.relative_to(
                quarantine_dir).parts[:-1]:
            continue  # skipped-series records (skipped_entries); copies of quarantined files
        try:
            doc = json.loads(path.read_text())
        except (ValueError, OSError):
            continue
        if isinstance(doc, dict):
            if isinstance(doc.get("public"), dict):  # ingestion's path-free part
                doc = {**doc["public"], "file": path.parent.name}
            out.append({"file": str(doc.get("source") or doc.get("file") or path.parent.name),
                        "reason": str(doc.get("reason", ""))[:160]})
    return out[:limit] if limit else out


def skipped_entries(quarantine_dir: Path) -> list[dict[str, Any]]:
    """Series skipped by ingestion (``quarantine/skipped/*.json``): description and reason."""
    out = []
    for path in sorted((Path(quarantine_dir) / "skipped").glob("*.json")):
        try:
            doc = json.loads(path.read_text())
        except (ValueError, OSError):
            continue
        out.append({"description": str(doc.get("description", "")),
                    "reason": str(doc.get("reason", ""))[:160]})
    return out


def backlog(settings: Settings, loaded: set[tuple[str, str]] | None) -> dict[str, Any]:
    """Sessions waiting for quantification or for the warehouse, and failed measurements
    (``label part (kind): reason``; data failures stay until their input changes)."""
    from calcisvd.hash_cache import CACHE_NAME, StatHashCache
    from tasks.quantify.sessions import (
        discover_sessions,
        failed_parts,
        measures_path,
        needs_quantification,
    )

    hashes = StatHashCache(Path(settings.var_dir) / "cache" / CACHE_NAME)
    waiting, failed, quantified = [], [], []
    for ses in discover_sessions(settings.bids_dir):
        need, why = needs_quantification(settings.derivatives_dir, ses, hash_file=hashes)
        if need:
            waiting.append(f"{ses.label} ({why})")
        path = measures_path(settings.derivatives_dir, ses)
        if not path.is_file():
            continue
        quantified.append((ses.subject, ses.session))
        try:
            doc = json.loads(path.read_text())
        except ValueError:
            continue
        for part, block in failed_parts(doc).items():
            failed.append(f"{ses.label} {part} ({block.get('failure', 'data')}): "
                          f"{block.get('reason')}")
    hashes.save()
    not_loaded = [f"sub-{s}_ses-{t}" for s, t in quantified
                  if loaded is not None and (s, t) not in loaded]
    return {"to_quantify": waiting, "to_load": not_loaded, "failed_measurements": failed,
            "warehouse_readable": loaded is not None}


def skipped_series(var_dir: Path) -> dict[str, int]:
    """Series the ingest skipped or quarantined, counted by outcome from its ledger."""
    path = Path(var_dir) / "ingest" / "ledger.sqlite"
    if not path.is_file():
        return {}
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=2)
        try:
            return dict(con.execute("SELECT outcome, count(*) FROM series "
                                    "WHERE outcome != 'ingested' GROUP BY 1 ORDER BY 1"))
        finally:
            con.close()
    except sqlite3.Error:
        return {}


def warehouse_facts(settings: Settings) -> dict[str, Any] | None:
    """Counts, loads, loaded sessions, subjects without clinical data and the cells the last
    load held back, read in one short read-only connection (or from the Parquet snapshot while
    a load holds the file)."""
    from warehouse.db import read_sql
    from warehouse.export import open_reader

    if not Path(settings.warehouse_path).is_file():
        return None
    try:
        con, source = open_reader(settings.warehouse_path, settings.parquet_dir)
    except Exception:  # no file and no snapshot yet
        return None
    try:
        tables = ("subjects", "sessions", "scans", "icac_session_measures",
                  "icac_artery_measures", "svd_measures", "ingest_quarantine")
        counts = dict(con.execute(" UNION ALL ".join(
            f"SELECT '{t}', count(*) FROM {t}" for t in tables)).fetchall())
        counts = {t: counts[t] for t in tables}
        loads = [{"run_id": r[0][:12], "started": str(r[1])[:16], "status": r[2],
                  "message": (r[3] or "")[:300]}
                 for r in con.execute(read_sql("sql/status_loads.sql")).fetchall()]
        sessions = {(str(a), str(b)) for a, b in
                    con.execute("SELECT subject, session FROM sessions").fetchall()}
        no_clinical = [r[0] for r in con.execute(read_sql("sql/status_no_clinical.sql"))
                       .fetchall()]
        try:
            held: list[str] | None = [f"{p}: {m}" for p, m in
                                      con.execute(read_sql("sql/status_held_back.sql")).fetchall()]
        except Exception:  # a snapshot without the log tables
            held = None
    finally:
        con.close()
    return {"source": source, "counts": counts, "loads": loads, "sessions": sessions,
            "no_clinical": no_clinical, "held_back": held}


def collect_status(settings: Settings, runs: int = 5, with_prefect: bool = True,
                   environ: dict[str, str] | None = None) -> dict[str, Any]:
    """Everything ``calcisvd status`` prints, as a dict."""
    from calcisvd.run_history import run_history

    report: dict[str, Any] = {"home": str(settings.home)}
    if with_prefect:
        report["prefect"] = run_history(settings.prefect_home, runs, environ)
    wh = warehouse_facts(settings)
    report["backlog"] = backlog(settings, wh["sessions"] if wh else None)
    report["quarantine"] = quarantine_entries(settings.quarantine_dir, limit=0)
    report["skipped_series"] = skipped_series(settings.var_dir)
    report["skipped"] = skipped_entries(settings.quarantine_dir)
    held = wh.get("held_back") if wh else None
    if wh:
        wh = {k: v for k, v in wh.items() if k not in ("sessions", "held_back")}
    report["warehouse"] = wh
    report["clinical"] = clinical_status(settings)
    report["waiting"] = waiting_status(settings)
    report["possible_duplicates"] = _var_json(settings, "identity_report.json").get(
        "possible_duplicates", [])
    report["held_back"] = held
    return report


def _var_json(settings: Settings, name: str) -> dict[str, Any]:
    """A JSON report of the last ingest in ``<var>/ingest/`` ({} when absent)."""
    try:
        doc = json.loads((Path(settings.var_dir or "") / "ingest" / name).read_text())
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


#: the last ingest's reports under ``<var>/ingest/`` (``tasks.ingest.pipeline.waiting_path``,
#: ``clinical_report_path``; named here so that status does not import ingestion, 50 ms)
WAITING_FILE, CLINICAL_FILE = "waiting.json", "clinical_report.json"


def waiting_status(settings: Settings) -> list[dict[str, Any]]:
    """Series the last ingest left for later (still arriving or incomplete)."""
    try:
        return list(_var_json(settings, WAITING_FILE).get("waiting", []))
    except (TypeError, ValueError):
        return []


def clinical_status(settings: Settings) -> dict[str, Any]:
    """The last ingest's clinical report: files, unusable files, held-back rows, conflicts."""
    return _var_json(settings, CLINICAL_FILE)


def _runs_lines(p: dict[str, Any]) -> list[str]:
    lines = [f"run history: {p['source']}"]
    if p.get("error"):
        lines.append(f"  {p['error']}")
    if p.get("note"):
        lines.append(f"  {p['note']}")
    if p.get("deployments"):
        lines.append("  deployments: " + ", ".join(p["deployments"]))
    for group, items in p.get("runs", {}).items():
        lines.append(f"  {group}:")
        for r in items:
            lines.append(f"    {r['start']:<16} {r['state']:<10} {r['seconds']:>7} s  {r['name']}")
            if r["message"]:
                lines.append(f"        failure: {r['message']}")
    lines.append("  next scheduled: " + ("none" if not p.get("scheduled") else ""))
    lines += [f"    {r['start']:<16} {r['deployment']}  {r['name']}" for r in p["scheduled"]]
    lines.append("  workers: " + ("none seen" if not p.get("workers") else ""))
    lines += [f"    {w['pool']}/{w['name']}: {w['status']}, last heartbeat {w['last_heartbeat']}"
              for w in p["workers"]]
    return lines


def format_status(report: dict[str, Any]) -> str:
    """The report as text for a terminal."""
    lines = [f"calcisvd status ({report['home']})", ""]
    if "prefect" in report:
        lines += _runs_lines(report["prefect"]) + [""]
    b = report["backlog"]
    lines += [f"backlog: {len(b['to_quantify'])} session(s) to quantify, "
              f"{len(b['to_load'])} to load"
              + ("" if b["warehouse_readable"] else " (warehouse not created yet)")]
    lines += [f"  quantify: {s}" for s in b["to_quantify"][:20]]
    lines += [f"  load:     {s}" for s in b["to_load"][:20]]
    lines += ["", f"failed sessions: {len(b['failed_measurements'])}"]
    lines += [f"  {s}" for s in b["failed_measurements"][:20]]
    wh = report["warehouse"]
    failed_loads = [r for r in (wh or {}).get("loads", [])
                     if r["status"] in ("failed", "partial")]
    last = (wh or {}).get("loads", [None])[0] if wh and wh.get("loads") else None
    lines += ["", "warehouse loads: " + (f"last {last['status']} at {last['started']} "
                                         f"(run {last['run_id']})" if last else "none yet")]
    lines += [f"  {r['status'].upper()} {r['started']} run {r['run_id']}: {r['message']}"
              for r in failed_loads]
    q = report["quarantine"]
    lines += ["", f"quarantine: {len(q)} input(s)"]
    lines += [f"  {e['file']}: {e['reason']}" for e in q[:20]]
    sk = report["skipped_series"]
    lines += ["", "series not ingested: " + (", ".join(f"{n} {k}" for k, n in sk.items())
                                             if sk else "none")
              + (" (each with its description and reason below)"
                 if sk.get("skipped") else "")]
    sk_list = report.get("skipped", [])
    if sk_list:
        lines.append(f"skipped series: {len(sk_list)}")
    lines += [f"  {e['description'] or '(no description)'}: {e['reason']}" for e in sk_list[:20]]
    dups = report.get("possible_duplicates") or []
    if dups:
        lines += ["", f"possible duplicate patients: {len(dups)} group(s) (same name, birth "
                  "year and sex under different PatientIDs; nothing merged)"]
        lines += ["  " + " = ".join(g) for g in dups[:20]]
    waiting = report.get("waiting") or []
    if waiting:
        lines += ["", f"waiting for the next ingest: {len(waiting)} series"]
        lines += [f"  {w.get('description') or '(series)'} ({w.get('files')} file(s)): "
                  f"{w.get('reason')}" for w in waiting[:20]]
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
    if wh:
        nc = wh["no_clinical"]
        lines += ["", f"subjects without clinical data: {len(nc)}"]
        lines += [f"  sub-{s}" for s in nc[:20]]
        lines += ["", f"warehouse ({wh['source']}):"]
        lines += [f"  {t:<24} {n:>8}" for t, n in wh["counts"].items()]
    else:
        lines += ["", "warehouse: not created yet"]
    return "\n".join(lines)
