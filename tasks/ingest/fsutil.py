"""File-system helpers for ingestion: atomic writes, directory swaps, sparse files, hashes."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

#: a file is sparse when it holds fewer than half its size in disk blocks (st_blocks counts
#: 512-byte units, POSIX stat); files under 1 MiB are never judged (small files may sit in
#: inode-inline or compressed storage)
SPARSE_MIN_BYTES = 1 << 20


def is_sparse(st: os.stat_result) -> bool:
    """True for a regular file with holes: its size claims more than its blocks hold."""
    return st.st_size > SPARSE_MIN_BYTES and st.st_blocks * 512 < st.st_size // 2


def write_bytes_atomic(path: Path, data: bytes, *, mode: int | None = None) -> bool:
    """Write ``data`` to ``path`` via a temporary file and :func:`os.replace`.

    Returns False (and leaves the file untouched, mtime included) when the content is already
    identical, so reruns with nothing new keep the tree byte-identical.
    """
    path = Path(path)
    if path.is_file() and path.read_bytes() == data:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode if mode is not None else 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return True


def write_text_atomic(path: Path, text: str, *, mode: int | None = None) -> bool:
    """UTF-8 text version of :func:`write_bytes_atomic`."""
    return write_bytes_atomic(path, text.encode("utf-8"), mode=mode)


def replace_dir(staged: Path, target: Path) -> None:
    """Move the staged directory ``staged`` to ``target`` (same file system).

    A new target appears with one atomic :func:`os.rename`. An existing target is swapped:
    rename it to ``<target>.old-<pid>``, rename the staged one in, then delete the old one;
    :func:`recover_dirs` undoes a swap interrupted between the two renames.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists():
        os.rename(staged, target)
        return
    backup = target.with_name(f".{target.name}.old-{os.getpid()}")
    os.rename(target, backup)
    os.rename(staged, target)
    shutil.rmtree(backup)


def recover_dirs(root: Path) -> int:
    """Finish or undo interrupted :func:`replace_dir` swaps under ``root``; returns how many."""
    fixed = 0
    if not root.is_dir():
        return 0
    backups = [*root.glob(".sub-*.old-*")]  # a subject swapped whole (tasks/ingest/relabel)
    for sub in root.glob("sub-*"):
        backups += sub.glob(".ses-*.old-*")
    for backup in backups:
        target = backup.with_name(backup.name[1:].split(".old-")[0])
        if target.exists():
            shutil.rmtree(backup)
        else:
            os.rename(backup, target)
        fixed += 1
    return fixed
