"""One run at a time in a session's work folder.

Two runs quantifying the same session in ``var/work/<session>`` (a rerun started while
orphaned workers of a killed run are still busy) overwrite each other's Nipype results and end
with NaN measures (issue 24). :func:`session_lock` holds an exclusive ``flock`` on
``<work_dir>/<session>.lock`` while the session is quantified; the file records the holder's
pid and start time for the message a second run gets. The kernel drops a ``flock`` when its
holder dies, so a lock left by a killed run is stale by construction and taken over; the
caller then removes the folder it left (a node killed halfway may have left partial outputs),
and the session is measured afresh.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class SessionBusy(BlockingIOError):
    """Another live run holds the session's work folder (a transient failure: retried)."""


@contextmanager
def session_lock(work_dir: Path, label: str) -> Iterator[bool]:
    """Hold ``<work_dir>/<label>.lock``; yields True when a stale lock was taken over (the
    caller then removes the session's work folder). Raises :class:`SessionBusy` naming the
    holder when a live process holds it."""
    import fcntl

    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    path = work_dir / f"{label}.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 4096, 0).decode("utf-8", "replace").strip()
            raise SessionBusy(f"work folder of {label} is in use by another run "
                              f"({holder or 'holder unknown'}); retried next run") from None
        previous = os.pread(fd, 4096, 0).strip()
        stale = bool(previous)  # a record left by a holder that died without releasing it
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"pid": os.getpid(), "started": _start_time()}).encode(), 0)
        os.fsync(fd)
        try:
            yield stale
        finally:
            os.ftruncate(fd, 0)  # released cleanly: an empty file is not stale
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _start_time() -> str:
    try:
        import psutil

        created = psutil.Process().create_time()
    except Exception:  # psutil missing or /proc unreadable: the lock still works
        created = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(created))
