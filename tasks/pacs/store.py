"""Land received DICOM instances in the drop folder without ever showing a partial file.

Every batch (one association of the receiver, one study of a DICOMweb pull) is written under
``drop/.incoming/<batch>/`` (hidden: the ingest scan leaves hidden folders out), one instance
at a time: a temporary file in the same folder, ``fsync``, ``os.rename`` to its final name,
``fsync`` of the folder. An instance is acknowledged (C-STORE success) only after that, so a
kill of the process never loses an acknowledged instance and never leaves a half-written one
under a visible name. When the batch ends it is moved into ``drop/pacs/<batch>/`` by one
directory rename (atomic on one filesystem), so ingestion sees a whole association or study
at once, never one in the middle of its transfer. Batches a killed process left behind are
published by :func:`recover_incoming` when the receiver or the pull starts again.

Layout of a batch: ``<study>/<series>/<instance>.dcm`` where each level is the first 16 hex
of SHA-256 of the UID (no identifiers in file names; ingestion reads UIDs from the headers).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import secrets
from pathlib import Path

INCOMING = ".incoming"
PUBLISHED = "pacs"


def uid_digest(uid: str) -> str:
    """First 16 hex of SHA-256 of a DICOM UID: a stable, identifier-free file name."""
    return hashlib.sha256(uid.strip().encode("ascii", "replace")).hexdigest()[:16]


def new_batch_name(prefix: str) -> str:
    """``<prefix>-<UTC time>-p<pid>-<random>``: unique, sortable, without identifiers; the
    process id tells recovery whether the batch's writer is still alive."""
    now = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    return f"{prefix}-{now}-p{os.getpid()}-{secrets.token_hex(4)}"


def _writer_alive(name: str) -> bool:
    """True when the batch's name carries the id of a running process other than this one."""
    part = next((p for p in name.split("-") if p.startswith("p") and p[1:].isdigit()), None)
    if part is None:
        return False
    pid = int(part[1:])
    if pid == os.getpid():
        return False
    from calcisvd.io import pid_alive

    return pid_alive(pid)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _makedirs_synced(path: Path, stop: Path) -> None:
    """Create ``path`` (and parents up to ``stop``), fsync-ing each parent that changed."""
    missing: list[Path] = []
    p = path
    while not p.exists() and p != stop:
        missing.append(p)
        p = p.parent
    for d in reversed(missing):
        try:
            d.mkdir()
        except FileExistsError:
            continue
        _fsync_dir(d.parent)


class Batch:
    """One batch of instances being received into ``drop/.incoming/<name>/``."""

    def __init__(self, drop_dir: Path, name: str):
        self.drop_dir = Path(drop_dir)
        self.name = name
        self.path = self.drop_dir / INCOMING / name
        self.count = 0
        self.bytes = 0
        self._folders: set[Path] = set()
        _makedirs_synced(self.path, self.drop_dir.parent)

    def write(self, data: bytes, study_uid: str, series_uid: str, sop_uid: str) -> Path:
        """Write one instance (DICOM Part 10 bytes) durably; returns its path in the batch.

        Returns only once the file has its final name and both the file and its folder are
        on disk; a crash before that leaves at most a hidden ``.tmp-*`` file.
        """
        folder = self.path / uid_digest(study_uid) / uid_digest(series_uid)
        if folder not in self._folders:  # a stat per instance cost ~0.5 ms on a busy machine
            _makedirs_synced(folder, self.path)
            self._folders.add(folder)
        final = folder / f"{uid_digest(sop_uid)}.dcm"
        tmp = folder / f".tmp-{uid_digest(sop_uid)}-{secrets.token_hex(4)}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fdatasync(fd)  # data and size; the rename is made durable by the folder's fsync
        finally:
            os.close(fd)
        os.rename(tmp, final)
        _fsync_dir(folder)
        self.count += 1
        self.bytes += len(data)
        return final

    def publish(self) -> Path | None:
        """Move the batch into ``drop/pacs/`` in one rename; None when it holds nothing."""
        return publish_dir(self.path, self.drop_dir)


def publish_dir(incoming: Path, drop_dir: Path) -> Path | None:
    """Move one incoming batch folder to ``drop/pacs/<name>`` (one rename), or drop it if empty.

    Leftover ``.tmp-*`` files (a write cut by a kill: never acknowledged) are removed first.
    """
    if not incoming.is_dir():
        return None
    n = 0
    for root, _dirs, files in os.walk(incoming):
        for name in files:
            if name.startswith(".tmp-"):
                os.unlink(os.path.join(root, name))
            else:
                n += 1
    if n == 0:
        _remove_empty_tree(incoming)
        return None
    target_root = Path(drop_dir) / PUBLISHED
    _makedirs_synced(target_root, Path(drop_dir).parent)
    target = target_root / incoming.name
    os.rename(incoming, target)
    _fsync_dir(target_root)
    _fsync_dir(incoming.parent)
    return target


def _remove_empty_tree(path: Path) -> None:
    for root, dirs, _files in os.walk(path, topdown=False):
        for d in dirs:
            os.rmdir(os.path.join(root, d))
    os.rmdir(path)


def recover_incoming(drop_dir: Path, prefix: str) -> list[Path]:
    """Publish every ``drop/.incoming/<prefix>-*`` batch a stopped process left behind.

    Batches of another running process (a second receiver on the same drop folder) are left
    to it; this process's own batches are published (call it before receiving, or after).
    """
    root = Path(drop_dir) / INCOMING
    if not root.is_dir():
        return []
    out: list[Path] = []
    for d in sorted(root.iterdir()):
        if d.is_dir() and d.name.startswith(prefix + "-") and not _writer_alive(d.name):
            published = publish_dir(d, drop_dir)
            if published is not None:
                out.append(published)
    return out


def discard_incoming(drop_dir: Path, prefix: str) -> int:
    """Delete every ``drop/.incoming/<prefix>-*`` batch (incomplete pulls); how many."""
    import shutil

    root = Path(drop_dir) / INCOMING
    if not root.is_dir():
        return 0
    n = 0
    for d in sorted(root.iterdir()):
        if d.is_dir() and d.name.startswith(prefix + "-"):
            shutil.rmtree(d)
            n += 1
    return n
