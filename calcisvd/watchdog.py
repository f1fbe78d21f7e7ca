"""Children die with the command: a watchdog process that reaps orphans of a killed ``calcisvd``.

A ``calcisvd run`` starts processes of its own: the temporary Prefect server (uvicorn, started
by Prefect), the ``forkserver`` and its pool workers, Nipype ``MultiProc`` workers. When the
main process is killed with SIGKILL it cannot stop them; they are re-parented to init and keep
running, racing the next run in ``var/work`` (issue 24).

``PR_SET_PDEATHSIG`` would need code in every child (Prefect starts uvicorn itself) and fires
when the *thread* that forked the child exits, which in a Prefect task-runner thread is before
the process ends. A process group would need the command to leave the terminal's foreground
group (Ctrl-C would no longer reach it). So a small watchdog process, started by
:func:`children_die_with_me`, holds the read end of a pipe from the command: it records the
command's descendants every :data:`POLL_S` seconds and, when the pipe closes without the word
``stop`` (the command died), sends SIGTERM to every recorded process still alive and its own
children, then SIGKILL after :data:`GRACE_S` seconds. ``psutil`` compares process start
times, so a recycled pid is never signalled. The watchdog runs in its own session, so a Ctrl-C
in the terminal does not stop it before it has done its work.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress

#: seconds between two snapshots of the command's descendants (a child started in the last
#: POLL_S before a SIGKILL is still found, as a descendant of a recorded process, unless it is
#: a direct child of the command)
POLL_S = 0.25
#: seconds between SIGTERM and SIGKILL for an orphan
GRACE_S = 2.0


@contextmanager
def children_die_with_me() -> Iterator[None]:
    """Inside this block, a SIGKILL of this process also ends every process it started."""
    proc = subprocess.Popen([sys.executable, "-m", "calcisvd.watchdog", str(os.getpid())],
                            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                            start_new_session=True, close_fds=True)
    try:
        yield
    finally:
        try:
            proc.stdin.write(b"stop\n")  # a normal end: the watchdog exits without signals
            proc.stdin.close()
            proc.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            proc.kill()


def _descendants(parent, me: int) -> dict[int, object]:
    try:
        return {p.pid: p for p in parent.children(recursive=True) if p.pid != me}
    except Exception:  # the parent is gone: keep the last snapshot
        return {}


def reap(procs: list, grace_s: float = GRACE_S) -> list[int]:
    """SIGTERM ``procs`` (psutil processes) and their children, SIGKILL the survivors after
    ``grace_s``; returns the pids signalled."""
    import psutil

    everyone: dict[int, psutil.Process] = {}
    for p in procs:
        try:
            if p.is_running():
                everyone[p.pid] = p
                everyone.update({c.pid: c for c in p.children(recursive=True)})
        except psutil.Error:
            continue
    everyone.pop(os.getpid(), None)
    for p in everyone.values():
        with suppress(psutil.Error):
            p.terminate()  # psutil checks the start time: a recycled pid is not signalled
    _gone, alive = psutil.wait_procs(list(everyone.values()), timeout=grace_s)
    for p in alive:
        with suppress(psutil.Error):
            p.kill()
    psutil.wait_procs(alive, timeout=grace_s)
    return sorted(everyone)


def watch(parent_pid: int) -> int:
    """Body of the watchdog process: see the module docstring."""
    import signal

    import psutil

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    me = os.getpid()
    try:
        parent = psutil.Process(parent_pid)
    except psutil.Error:
        return 0
    known: dict[int, psutil.Process] = {}
    done = threading.Event()

    def snapshot() -> None:
        while not done.is_set():
            known.update(_descendants(parent, me))
            done.wait(POLL_S)

    t = threading.Thread(target=snapshot, daemon=True)
    t.start()
    word = sys.stdin.buffer.readline()  # blocks until the command writes "stop" or dies
    done.set()
    t.join()
    if word.strip() == b"stop":
        return 0
    known.update(_descendants(parent, me))
    reap(list(known.values()))
    return 0


if __name__ == "__main__":  # pragma: no cover - run as a process by children_die_with_me
    sys.exit(watch(int(sys.argv[1])))
