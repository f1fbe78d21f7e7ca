"""tasks.quantify.worklock: one run per session work folder; a killed holder's lock is stale."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tasks.quantify.sessions import failure_kind
from tasks.quantify.worklock import SessionBusy, session_lock

REPO = Path(__file__).resolve().parents[3]

_HOLDER = """
import sys, time
from tasks.quantify.worklock import session_lock
with session_lock(sys.argv[1], "sub-001_ses-M00"):
    print("held", flush=True)
    time.sleep(60)
"""


def _hold(work: Path) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", _HOLDER, str(work)], stdout=subprocess.PIPE,
                            text=True, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_live_holder_makes_the_session_busy_and_transient(tmp_path):
    proc = _hold(tmp_path)
    try:
        with pytest.raises(SessionBusy, match=f"pid.*{proc.pid}") as info, \
                session_lock(tmp_path, "sub-001_ses-M00"):
            pass
        assert failure_kind(info.value) == "transient"  # redone by the next run
        with session_lock(tmp_path, "sub-002_ses-M00") as stale:  # other sessions are free
            assert stale is False
    finally:
        proc.kill()
        proc.wait()


def test_the_lock_of_a_killed_run_is_taken_over_as_stale(tmp_path):
    proc = _hold(tmp_path)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    time.sleep(0.1)
    with session_lock(tmp_path, "sub-001_ses-M00") as stale:
        assert stale is True
        assert str(os.getpid()) in (tmp_path / "sub-001_ses-M00.lock").read_text()
    with session_lock(tmp_path, "sub-001_ses-M00") as stale:  # released cleanly: not stale
        assert stale is False
