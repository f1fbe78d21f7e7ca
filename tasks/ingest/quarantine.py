"""Quarantine: copies of input that could not be ingested, each with a JSON reason.

``<quarantine>/<id>/reason.json`` + ``<quarantine>/<id>/files/<path relative to drop>``. The id
is a hash of the reason, the files' contents and their paths, so the same fault quarantined
twice lands in the same folder (and identical files at different paths get folders of their
own). Files are copied, never moved: the drop folder is left as it was. Symbolic links are
never followed: a link is named in ``reason.json`` but its target is not copied.
"""

from __future__ import annotations

import datetime as dt
import errno
import hashlib
import json
import os
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


#: errno values that stop the run (see tasks.ingest.isolation.RUN_WIDE)
_RUN_WIDE = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS})
#: bounds of a copy's path inside the quarantine (Linux: NAME_MAX 255 bytes, PATH_MAX 4096)
NAME_MAX = 255
PATH_MAX = 4000


def copy_path(files_dir: Path, rel: str) -> Path:
    """Where the copy of ``rel`` goes: ``files/<rel>``, or ``files/long/<sha256 of rel>``
    when a name or the whole path would be longer than the file system allows."""
    dest = files_dir / rel
    too_long = (len(os.fsencode(dest)) > PATH_MAX
                or any(len(os.fsencode(p)) > NAME_MAX for p in Path(rel).parts))
    if too_long:
        return files_dir / "long" / hashlib.sha256(os.fsencode(rel)).hexdigest()
    return dest


def quarantine(item: QuarantineItem, drop_dir: Path, quarantine_dir: Path,
               run_id: str) -> Path:
    """Copy ``item``'s files from ``drop_dir`` and write ``reason.json``; returns the folder."""
    folder = quarantine_dir / item.ident()
    files_dir = folder / "files"
    not_copied: dict[str, str] = {}
    for rel in item.files:
        src = drop_dir / rel
        dest = copy_path(files_dir, rel)
        try:
            if _has_link(drop_dir, rel):
                continue  # a symbolic link is never followed: its target may be anywhere
            if src.is_file() and not dest.exists():
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, dest, follow_symlinks=False)
        except OSError as exc:
            if exc.errno in _RUN_WIDE:
                raise  # disk full / read-only: the caller stops the run with one sentence
            not_copied[rel] = exc.strerror or type(exc).__name__  # e.g. permission denied
    reason = {
        "reason": item.reason,
        "category": item.category,
        "files": sorted(item.files),
        "n_files": len(item.files),
        "drop_dir": str(drop_dir),
        "run_id": run_id,
        "quarantined_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "not_copied": not_copied,
        "what_to_do": "fix or replace the files in the drop folder (a new copy is picked up "
                      "by the next ingest run), or delete this folder to dismiss it",
    }
    if not (folder / "reason.json").exists():
        write_text_atomic(folder / "reason.json", json.dumps(reason, indent=2) + "\n")
    return folder
