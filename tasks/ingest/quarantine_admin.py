"""What `calcisvd quarantine` does: list items, retry or dismiss one (under the ingest lock)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from tasks.ingest.config import IngestConfig
from tasks.ingest.quarantine import SKIPPED_DIR, find_files, list_items


def listing(settings: IngestConfig, *, skipped: bool = False) -> list[dict[str, Any]]:
    """Items as ``{id, status, category, n_files, reason, quarantined_at}`` (oldest first)."""
    qdir = Path(settings.quarantine_dir or "")
    out = [{"id": d["id"], "status": d.get("status", "open"),
            "category": d.get("category", ""), "n_files": d.get("n_files", 0),
            "reason": str(d.get("reason", "")), "quarantined_at": d.get("quarantined_at", "")}
           for d in list_items(qdir)]
    if skipped:
        for path in sorted((qdir / SKIPPED_DIR).glob("*.json")):
            doc = json.loads(path.read_text(encoding="utf-8"))
            out.append({"id": path.stem, "status": "skipped", "category": "skipped",
                        "n_files": doc.get("n_files", 0),
                        "reason": f"{doc.get('description', '')}: {doc.get('reason', '')}",
                        "quarantined_at": doc.get("skipped_at", "")})
    return out


def show(settings: IngestConfig, ident: str) -> tuple[bool, list[str]]:
    """The drop-folder paths of item ``ident``'s files, found again by their hashes (records
    keep no path); for the person fixing them, on the terminal only."""
    folder = Path(settings.quarantine_dir or "") / ident
    if not ident.startswith("q-") or "/" in ident or not (folder / "reason.json").is_file():
        return False, []
    doc = json.loads((folder / "reason.json").read_text(encoding="utf-8"))
    return True, find_files(doc, Path(settings.drop_dir or ""))


def act(settings: IngestConfig, action: str, ident: str) -> tuple[bool, str]:
    """``retry`` or ``dismiss`` item ``ident``; returns (done, message for the user)."""
    from tasks.ingest.ledger import Ledger
    from tasks.ingest.pipeline import ingest_lock, ledger_path

    qdir = Path(settings.quarantine_dir or "")
    folder = qdir / ident
    if not ident.startswith("q-") or "/" in ident or not (folder / "reason.json").is_file():
        return False, f"no quarantine item {ident!r} in {qdir} (see `calcisvd quarantine list`)"
    doc = json.loads((folder / "reason.json").read_text(encoding="utf-8"))
    keys = list(doc.get("keys", []))
    with ingest_lock(settings, timeout_s=60):
        ledger = Ledger(ledger_path(settings))
        try:
            if action == "retry":
                missing = len(doc.get("files_sha256", [])) - len(
                    find_files(doc, Path(settings.drop_dir or "")))
                ledger.set_outcome(keys, doc.get("series_key", ""), None)
                message = (f"{ident}: its {len(keys)} file(s) will be read again by the next "
                           "`calcisvd ingest`")
                if missing:
                    message += (f"; {missing} of them are no longer in the drop folder "
                                f"(copies remain in {folder / 'files'})")
                    return True, message  # the copies are kept: nothing is lost
            elif action == "dismiss":
                ledger.set_outcome(keys, doc.get("series_key", ""), "dismissed")
                message = (f"{ident}: dismissed; its {len(keys)} file(s) stay out of the "
                           "dataset until they change")
            else:
                return False, f"unknown action {action!r}"
        finally:
            ledger.close()
        shutil.rmtree(folder)
    return True, message
