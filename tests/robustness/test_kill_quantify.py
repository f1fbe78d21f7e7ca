"""SIGKILL of ``calcisvd run`` during quantify: no orphans, and the rerun measures the session
completely (issue 24, item 4). A real run: one simulated subject at 4 mm, the temporary
Prefect server, the forkserver pool; about 1 min on 2 shared cores."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import time
from pathlib import Path

import psutil
import pytest

from bench.support.cli import REPO, cli_command, cli_env, make_settings, run_cli


def _numbers(block: dict) -> list[float]:
    return [v for v in block.values() if isinstance(v, float)]


@pytest.mark.slow
def test_sigkill_during_quantify_leaves_no_orphans_and_the_rerun_completes(tmp_path):
    settings = make_settings(tmp_path / "home")
    home = settings.home
    sim = run_cli(home, "simulate", "--subjects", "1", "--seed", "7", "--resolution", "4",
                  "--no-follow-up")
    assert sim.returncode == 0, sim.stdout + sim.stderr
    proc = subprocess.Popen(cli_command("run", "--home", str(home)), cwd=REPO,
                            env=cli_env(home), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    work = Path(settings.work_dir)
    deadline = time.monotonic() + 300
    while not any(work.glob("sub-*/*")) and time.monotonic() < deadline:  # quantify started
        assert proc.poll() is None, "the run ended before quantify"
        time.sleep(0.2)
    time.sleep(2.0)  # the pool and Nipype are at work
    assert proc.poll() is None, "the run ended before the kill"
    tree = psutil.Process(proc.pid).children(recursive=True)
    names = " ".join(" ".join(p.cmdline()) for p in tree)
    assert "uvicorn" in names and "forkserver" in names, names  # what used to be orphaned
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 10
    alive = tree
    while alive and time.monotonic() < deadline:
        time.sleep(0.2)
        alive = [p for p in tree if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert alive == [], f"orphans: {[' '.join(p.cmdline())[:80] for p in alive]}"

    rerun = run_cli(home, "run")
    assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-3000:]
    [measures] = Path(settings.derivatives_dir).rglob("*_measures.json")
    doc = json.loads(measures.read_text())
    for part in ("icac", "svd"):
        assert doc[part]["status"] in ("ok", "review"), doc[part]
        values = _numbers(doc[part])
        assert values and all(math.isfinite(v) for v in values), doc[part]
