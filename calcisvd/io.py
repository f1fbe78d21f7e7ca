"""Small shared file helpers: atomic writes, hashing, atomic directory swaps."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """Atomic UTF-8 text write."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path, obj: Any) -> None:
    """Atomic JSON write, keys sorted, so identical content gives identical bytes."""
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def sha256_files(paths: Iterable[Path], extra: str = "", hash_file: Any = None) -> str:
    """One SHA-256 over several files (name + content hash each) and an extra string.
    ``hash_file`` (path -> hex SHA-256) replaces :func:`sha256_file`, e.g. a stat cache's."""
    h = hashlib.sha256(extra.encode())
    for p in sorted(Path(p) for p in paths):
        h.update(p.name.encode())
        h.update((hash_file or sha256_file)(p).encode())
    return h.hexdigest()


def swap_dir_into_place(staged: Path, final: Path) -> None:
    """Replace ``final`` by ``staged`` with renames only (readers see old or new, never half).

    The old directory, if any, is renamed aside and removed after the new one is in place.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    if final.exists():
        trash = final.with_name(f".{final.name}.old-{uuid.uuid4().hex[:8]}")
        os.rename(final, trash)
        os.rename(staged, final)
        shutil.rmtree(trash, ignore_errors=True)
    else:
        os.rename(staged, final)


def pid_alive(pid: int) -> bool:
    """True when a process with this id exists (also when it belongs to another user)."""
    import os

    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class LockBusy(RuntimeError):
    """Another run holds the lock and the timeout expired."""


@contextlib.contextmanager
def exclusive_lock(path: Path, timeout_s: float | None = None,
                   poll_s: float = 0.2) -> Iterator[Path]:
    """Hold an exclusive ``fcntl.flock`` on ``path`` for the duration of the block.

    ``timeout_s=None`` waits forever; ``0`` tries once. Raises :class:`LockBusy` on timeout.
    The lock is released by the kernel if the process dies, so a crash never leaves it stuck.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                if deadline is not None and time.monotonic() >= deadline:
                    raise LockBusy(f"another run holds {path}") from None
                time.sleep(poll_s)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield path
    finally:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def source_hash(files: list[str]) -> str:
    """SHA-256 of the sorted source paths (a pseudonymous handle, not the paths)."""
    return hashlib.sha256("\0".join(sorted(files)).encode("utf-8", "surrogateescape")
                          ).hexdigest()
