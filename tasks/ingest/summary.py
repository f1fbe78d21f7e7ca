"""The ingest run's summary as Markdown (counts and reasons only, no identifying value): the
Prefect artifact of the ingest flow and the output of ``calcisvd ingest``."""

from __future__ import annotations

from typing import Any


def summary_markdown(summary: dict[str, Any]) -> str:
    """The ingest summary as Markdown (counts and reasons only)."""
    lines = [f"# Ingest {summary.get('run_id', '')}", "",
             "| ingested series | skipped series | quarantined items | new files | "
             "unchanged files | re-sent duplicate files |", "|---|---|---|---|---|---|",
             f"| {summary.get('ingested', 0)} | {summary.get('skipped', 0)} | "
             f"{summary.get('quarantined', 0)} | {summary.get('files_new', 0)} | "
             f"{summary.get('files_unchanged', 0)} | {summary.get('duplicate_files', 0)} |",
             ""]
    for title, key in (("Skipped", "skip_reasons"), ("Quarantined", "quarantine_reasons")):
        reasons = summary.get(key) or {}
        if reasons:
            lines += [f"## {title}", ""] + [f"- {r}: {n}" for r, n in reasons.items()] + [""]
    if summary.get("skipped_series"):
        lines += ["## Skipped series", "", "| description | files | reason |", "|---|---|---|"]
        lines += [f"| {s['description']} | {s['files']} | {s['reason']} |"
                  for s in summary["skipped_series"]] + [""]
    if summary.get("waiting_series"):
        lines += ["## Waiting (ingested by a later run)", "", "| description | files | reason |",
                  "|---|---|---|"]
        lines += [f"| {w['description']} | {w['files']} | {w['reason']} |"
                  for w in summary["waiting_series"]] + [""]
    if summary.get("merged_sessions"):
        lines += ["## Sessions of several studies", ""]
        lines += [f"- {m}" for m in summary["merged_sessions"]] + [""]
    if summary.get("files_in_quarantine"):
        lines += [f"{summary['files_in_quarantine']} unchanged file(s) still in quarantine "
                  "(`calcisvd quarantine list`).", ""]
    clinical = summary.get("clinical") or {}
    if clinical.get("errors") or clinical.get("held_rows"):
        lines += ["## Clinical CSVs", ""]
        lines += [f"- {name}: {why}" for name, why in clinical.get("errors", {}).items()]
        lines += [f"- {h['file']} row {h['row']} held back: {h['reason']}"
                  for h in clinical.get("held_rows", [])] + [""]
    lines.append(f"{summary.get('ingested', 0)} ingested, {summary.get('quarantined', 0)} "
                 f"quarantined, {summary.get('failed_sessions', 0)} failed session(s).")
    lines.append(f"Status: {summary.get('status')}; {summary.get('seconds', 0)} s.")
    return "\n".join(lines) + "\n"
