"""bench/killpoints.py: kills triggered by observed progress hit a live process, counted only
then; a run that ends before its target lowers the next draws."""

from __future__ import annotations

import random
import sys
from pathlib import Path

from bench.killpoints import StageKiller, by_phase, phase_key, run_until

#: a command that logs a line and writes a file every 0.2 s for ``n`` steps, then prints its
#: result and takes 1.5 s to exit
STEPS = ("import sys, time, pathlib\n"
         "d = pathlib.Path(sys.argv[1]); n = int(sys.argv[2])\n"
         "for i in range(n):\n"
         "    print(f'10:00:{i:02d} INFO step {i} of sub-ab12_ses-M00', flush=True)\n"
         "    (d / f'f{i}').write_text('x'); time.sleep(0.2)\n"
         "print('note: sub-ab12_ses-M00 measured afresh', flush=True)\n"
         "print('Status: ok; all steps', flush=True); time.sleep(1.5)\n")


def _run(tmp_path: Path, n: int, target: int | None, name: str, jitter: float = 0.05) -> dict:
    out = tmp_path / name
    out.mkdir()
    return run_until([sys.executable, "-c", STEPS, str(out), str(n)], cwd=tmp_path, env={},
                     log=tmp_path / f"{name}.log", dirs=[out], target=target, jitter=jitter)


def test_kill_at_an_event_hits_the_running_process(tmp_path):
    r = _run(tmp_path, 20, 6, "a")
    assert r["killed_while_running"] and r["killed_while_working"] and r["returncode"] == -9
    assert 6 <= r["events"] < 40  # 20 lines + 20 files when it is not killed
    assert r["phase"].startswith("step ")
    full = _run(tmp_path, 3, None, "b")
    assert not full["killed_while_running"] and full["returncode"] == 0
    assert full["events"] == 6  # the printed result is no event
    # the last event, then 0.7 s: it has printed its result and is exiting: no kill point
    late = _run(tmp_path, 3, 6, "c", jitter=0.7)
    assert late["killed_while_running"] and not late["killed_while_working"]
    assert late["phase"] == "Status: ok; all steps"


def test_a_run_ending_before_its_target_is_no_kill_point_and_lowers_the_span(tmp_path):
    points: list[dict] = []
    killer = StageKiller("demo", 100, random.Random(1), points)
    n = iter(range(100))
    got = killer.until(2, 6, lambda target, jitter: _run(tmp_path, 3, target, f"r{next(n)}"))
    misses = [p for p in points if not p["killed_while_working"]]
    assert misses and all(not p["killed_while_running"] or p["phase"].startswith("Status")
                          for p in misses)
    assert killer.span == 6  # the events of a whole 3-step run
    assert got == 2 and sum(p["killed_while_working"] for p in points) == 2
    phases = by_phase(points)["demo"]
    assert sum(phases.values()) == 2 and all(k.startswith("step # of <session>") for k in phases)


def test_phase_key_drops_ids_and_numbers():
    assert phase_key("calcisvd.ingest: sub-c63c70b4a8_ses-M00: FLAIR,T1w") == \
        "calcisvd.ingest: <session>: FLAIR,T#w"
    assert phase_key("") == "(start-up: no output yet)"


def test_a_kill_after_the_result_lowers_the_span_to_its_target():
    """Load writes its files last: killed at its target after it printed its result, the next
    targets are drawn below that target."""
    points: list[dict] = []
    killer = StageKiller("load", 40, random.Random(3), points)
    seen: list[int] = []

    def run(target, jitter):
        seen.append(target)
        late = target > 10  # its result is printed after event 10
        return {"events": 40, "killed_while_running": True, "killed_while_working": not late,
                "phase": "calcisvd load: run x: success" if late else "", "returncode": -9}

    assert killer.until(3, 10, run) == 3
    assert all(t < prev for prev, t in zip(seen, seen[1:], strict=False) if prev > 10)
    assert killer.span < 40 and len(seen) < 10
