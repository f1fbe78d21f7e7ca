"""Quarantine: copies of input that could not be ingested, each with a JSON reason.

``<quarantine>/<id>/reason.json`` + ``<quarantine>/<id>/files/<path relative to drop>``. The id
is a hash of the reason, the files' contents and their paths, so the same fault quarantined
twice lands in the same folder (and identical files at different paths get folders of their
own). Files are copied, never moved: the drop folder is left as it was. Symbolic links are
never followed: a link is named in ``reason.json`` but its target is not copied.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from tasks.ingest.fsutil import write_text_atomic


@dataclass
class QuarantineItem:
    """Files (paths relative to the drop folder) that share one reason."""

    reason: str
    category: str
    files: list[str] = field(default_factory=list)
    hashes: list[str] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)  # ledger path keys of the files
    series_key: str = ""  # ledger key of the series, when a whole series is quarantined

    def ident(self) -> str:
        """Stable folder name: ``q-`` + 16 hex of SHA-256 over reason, hashes and paths."""
        h = hashlib.sha256(self.reason.encode())
        for value in sorted(self.hashes):
            h.update(value.encode())
        for rel in sorted(self.files):
            h.update(b"\0path:" + rel.encode())
        return "q-" + h.hexdigest()[:16]


def _has_link(drop_dir: Path, rel: str) -> bool:
    """True when ``rel`` or one of its parent folders (below ``drop_dir``) is a symlink."""
    path = Path(drop_dir)
    for part in Path(rel).parts:
        path = path / part
        if path.is_symlink():
            return True
    return False


def quarantine(item: QuarantineItem, drop_dir: Path, quarantine_dir: Path,
               run_id: str) -> Path:
    """Copy ``item``'s files from ``drop_dir`` and write ``reason.json``; returns the folder."""
    folder = quarantine_dir / item.ident()
    files_dir = folder / "files"
    for rel in item.files:
        src = drop_dir / rel
        dest = files_dir / rel
        if _has_link(drop_dir, rel):
            continue  # a symbolic link is never followed: its target may be anywhere
        dest.parent.mkdir(parents=True, exist_ok=True)
        if src.is_file() and not dest.exists():
            shutil.copy2(src, dest, follow_symlinks=False)
    reason = {
        "reason": item.reason,
        "category": item.category,
        "files": sorted(item.files),
        "n_files": len(item.files),
        "drop_dir": str(drop_dir),
        "run_id": run_id,
        "quarantined_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "what_to_do": "fix or replace the files in the drop folder (a new copy is picked up "
                      "by the next ingest run), or delete this folder to dismiss it",
    }
    if not (folder / "reason.json").exists():
        write_text_atomic(folder / "reason.json", json.dumps(reason, indent=2) + "\n")
    return folder
