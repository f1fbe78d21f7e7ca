"""Quarantine: copies of input that could not be ingested, each with a JSON reason.

``<quarantine>/<id>/reason.json`` + ``<quarantine>/<id>/files/<SHA-256 of the path relative to
drop>``. The id is a hash of the reason, the files' contents and their paths, so the same fault
quarantined twice lands in the same folder (and identical files at different paths get folders
of their own). Files are copied, never moved: the drop folder is left as it was. Symbolic links
are never followed: a link is counted in ``reason.json`` but its target is not copied.

Folder and file names of an export may carry identifiers (``NOVAK^WEI H1512204 19570118/``):
no record holds them. ``reason.json`` keeps the SHA-256 of each source path
(``files_sha256``, also the copies' names) and of the sorted set (``source_sha256``), and the
reason with paths replaced and redacted (calcisvd/redact.py); its ``public`` part (reason,
category, counts, ``source_sha256``) is what the warehouse reads. ``calcisvd quarantine show
ID`` finds the item's files in the drop folder again by these hashes, for the person fixing
them. Skipped series are listed in ``<quarantine>/skipped/<id>.json`` (no copies): description
and reason, redacted. ``calcisvd quarantine list | show ID | retry ID | dismiss ID``
(:mod:`calcisvd.commands.quarantine`).
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

from calcisvd.io import source_hash
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


SKIPPED_DIR = "skipped"


def without_paths(reason: str, files: list[str]) -> str:
    """``reason`` with the drop-folder paths it names replaced by ``<file>``, then through the
    one redaction step (calcisvd/redact.py). Reasons never name a folder on their own.

    Folder and file names of an export may hold identifiers (patient names): every record,
    log and the warehouse get this form.
    """
    from calcisvd.redact import redact

    for rel in sorted(files, key=len, reverse=True):
        reason = reason.replace(rel, "<file>")
    return redact(reason)


def path_sha256(rel: str) -> str:
    """SHA-256 of one drop-relative path (its name in records and in ``files/``)."""
    return hashlib.sha256(rel.encode("utf-8", "surrogateescape")).hexdigest()


def find_files(doc: dict, drop_dir: Path) -> list[str]:
    """The drop-relative paths of a quarantine record's files still in ``drop_dir`` (found
    by their ``files_sha256``; links and unlistable folders included by name)."""
    want = set(doc.get("files_sha256", []))
    found: list[str] = []
    for root, dirs, names in os.walk(drop_dir):
        rel_root = os.path.relpath(root, drop_dir)
        for name in [*dirs, *names]:
            rel = name if rel_root == "." else f"{rel_root}/{name}"
            if path_sha256(rel) in want:
                found.append(rel)
        if len(found) == len(want):
            break
    return sorted(found)


def public_record(item: QuarantineItem, run_id: str) -> dict:
    """The path-free part of a quarantine record (what the warehouse and logs may hold)."""
    return {"reason": without_paths(item.reason, item.files), "category": item.category,
            "n_files": len(item.files), "source_sha256": source_hash(item.files),
            "run_id": run_id}


def write_skipped(quarantine_dir: Path, *, key: str, description: str, reason: str,
                  n_files: int, run_id: str) -> Path:
    """List one skipped series in ``<quarantine>/skipped/s-<key>.json`` (once)."""
    path = quarantine_dir / SKIPPED_DIR / f"s-{key[:16]}.json"
    if not path.exists():
        from calcisvd.redact import redact

        doc = {"reason": redact(reason), "category": "skipped",
               "description": redact(description),
               "n_files": n_files, "run_id": run_id, "source_sha256": key,
               "skipped_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
        doc["public"] = dict(doc)
        write_text_atomic(path, json.dumps(doc, indent=2) + "\n")
    return path


def list_items(quarantine_dir: Path) -> list[dict]:
    """Every quarantine folder's ``reason.json`` (plus ``id``), oldest first."""
    out = []
    for path in sorted(Path(quarantine_dir).glob("q-*/reason.json")):
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            doc = {"reason": "unreadable reason.json", "category": "?"}
        doc["id"] = path.parent.name
        out.append(doc)
    return sorted(out, key=lambda d: (str(d.get("quarantined_at", "")), d["id"]))


def quarantined_keys(quarantine_dir: Path) -> set[str]:
    """Ledger path keys of the files named by quarantine folders still on disk."""
    return {k for doc in list_items(quarantine_dir) for k in doc.get("keys", [])}


def mark_resolved(quarantine_dir: Path, series_keys: set[str], run_id: str) -> int:
    """Mark the folders of series now ingested as resolved (``status``); returns how many."""
    n = 0
    for doc in list_items(quarantine_dir):
        if doc.get("series_key") in series_keys and doc.get("status") != "resolved":
            ident = doc.pop("id")
            doc["status"] = "resolved"
            doc["resolved_by"] = run_id
            if isinstance(doc.get("public"), dict):
                doc["public"]["status"] = "resolved"
            write_text_atomic(quarantine_dir / ident / "reason.json",
                              json.dumps(doc, indent=2) + "\n")
            n += 1
    return n


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


def copy_path(files_dir: Path, rel: str) -> Path:
    """Where the copy of ``rel`` goes: ``files/<SHA-256 of rel>`` (no folder or file name of
    the export, and no name longer than the file system allows)."""
    return files_dir / path_sha256(rel)


def quarantine(item: QuarantineItem, drop_dir: Path, quarantine_dir: Path,
               run_id: str, max_bytes: int = 2 << 30) -> Path:
    """Copy ``item``'s files from ``drop_dir`` and write ``reason.json``; returns the folder.

    A sparse file or one over ``max_bytes`` is not copied (a copy would write out every hole):
    ``not_copied`` says so."""
    from tasks.ingest.fsutil import is_sparse

    folder = quarantine_dir / item.ident()
    files_dir = folder / "files"
    not_copied: dict[str, str] = {}
    for rel in item.files:
        src = drop_dir / rel
        dest = copy_path(files_dir, rel)
        try:
            if _has_link(drop_dir, rel):
                continue  # a symbolic link is never followed: its target may be anywhere
            st = os.stat(src) if src.is_file() else None
            if st is not None and (is_sparse(st) or st.st_size > max_bytes):
                not_copied[path_sha256(rel)] = "sparse or larger than the bound: not copied"
                continue
            if st is not None and not dest.exists():
                dest.parent.mkdir(parents=True, exist_ok=True, mode=0o750)
                shutil.copy2(src, dest, follow_symlinks=False)
                os.chmod(dest, 0o640)  # raw DICOM: never the drop file's (world) mode
        except OSError as exc:
            if exc.errno in _RUN_WIDE:
                raise  # disk full / read-only: the caller stops the run with one sentence
            not_copied[path_sha256(rel)] = exc.strerror or type(exc).__name__  # e.g. EACCES
    reason = {
        "reason": without_paths(item.reason, item.files),
        "category": item.category,
        "files_sha256": sorted(path_sha256(rel) for rel in item.files),
        "source_sha256": source_hash(item.files),
        "n_files": len(item.files),
        "run_id": run_id,
        "quarantined_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "keys": sorted(item.keys),
        "series_key": item.series_key,
        "status": "open",
        "what_to_do": f"`calcisvd quarantine show {item.ident()}` names the files in the drop "
                      "folder; fix or replace them there (a changed file is read again and "
                      "its whole series judged anew by the next ingest run), or "
                      f"`calcisvd quarantine retry {item.ident()}` / `dismiss {item.ident()}`",
        "not_copied": not_copied,
        "public": public_record(item, run_id),
    }
    if not (folder / "reason.json").exists():
        write_text_atomic(folder / "reason.json", json.dumps(reason, indent=2) + "\n")
    return folder
