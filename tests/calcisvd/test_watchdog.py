"""calcisvd.watchdog: processes started by a command die when the command is SIGKILLed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[2]

# a command that starts a plain subprocess, a forkserver pool worker (whose process is a child of
# the forkserver, not of the command) and a grandchild, then waits to be killed
_CHILD = r"""
import json, subprocess, sys, time
from calcisvd.watchdog import children_die_with_me
from calcisvd.processes import safe_context

def _sleep(_):
    import os, time
    return os.getpid()

if __name__ == "__main__":
    with children_die_with_me():
        pids = [subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"]).pid]
        pids.append(subprocess.Popen(["sh", "-c", "sleep 120 & wait"]).pid)
        pool = safe_context().Pool(1)
        pids.append(pool.apply(_sleep, (0,)))
        time.sleep(3.0)  # >> POLL_S: the watchdog has started and seen everyone (loaded CI)
        print(json.dumps(pids), flush=True)
        time.sleep(120)
"""


def _start(tmp_path: Path) -> tuple[subprocess.Popen, list[int]]:
    script = tmp_path / "cmd.py"
    script.write_text(_CHILD)
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True,
                            cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
    pids = json.loads(proc.stdout.readline())
    return proc, pids


def test_sigkill_of_the_command_ends_its_children(tmp_path):
    proc, pids = _start(tmp_path)
    tree = [p.pid for p in psutil.Process(proc.pid).children(recursive=True)]
    assert set(pids) <= set(tree)
    assert len(tree) >= 5  # 2 subprocesses, sleep grandchild, forkserver, pool worker, watchdog
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 20  # GRACE_S and a loaded machine; ends when all are gone
    alive = tree
    while alive and time.monotonic() < deadline:
        time.sleep(0.2)
        alive = [p for p in tree if psutil.pid_exists(p)
                 and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
    assert alive == [], f"orphans left: {alive}"


def test_a_normal_end_stops_the_watchdog_without_signals():
    from calcisvd.watchdog import children_die_with_me

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        with children_die_with_me():
            time.sleep(0.6)
        watchdogs = [p for p in psutil.Process().children()
                     if "calcisvd.watchdog" in " ".join(p.cmdline())]
        assert watchdogs == []
        assert child.poll() is None  # not reaped: the command ended normally
    finally:
        child.kill()
        child.wait()
