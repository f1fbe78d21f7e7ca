"""Kill points triggered by observed progress, not by fixed delays (issue 23, item 6).

A command runs in its own process group with its output in a log file. Its progress is a
count of events: log lines written plus paths that appeared (and were seen by a 0.1 s poll)
under the folders its stage writes to. A kill point draws a target event count and a small
jitter; the group is SIGKILLed as soon as the count reaches the target and the jitter has
passed. A point counts only when the command was still running at that moment and had not yet
printed its result (:data:`_RESULT`: it was only reporting and exiting); the line last
written (ids left as they are: pseudonyms, never PHI) says where in its stage it was. Only
time-stamped log lines are events (not printed output), so targets fall inside the work.

When a command exits before the drawn target, the next draw is bounded by the events that
command emitted (it had less to do than the calibration run): the kills adapt to the work
left instead of missing it.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: poll interval of the progress watcher (s); a log line or file is seen at most this late
POLL_S = 0.1
#: the jitter after the target event is drawn in [0, JITTER_S) s: kills land between events
JITTER_S = 0.4

#: a log line (time-stamped: calcisvd, Prefect, Nipype); other lines are prints
_LOGGED = re.compile(r"^\s*\d")
#: the first line of a command's printed result (ingest's summary, load's run line, restore,
#: analyze's report path): from there on it only reports and exits
_RESULT = re.compile(r"^(# Ingest |\d+ ingested, |Status: |calcisvd \w+: run |restored |"
                     r"report: )")
_STAMP = re.compile(r"^[\d:. ]+(\|\s*)?(INFO|WARNING|ERROR|DEBUG)?\s*(\|\s*)?")


def stage_dirs(settings: Any, stage: str) -> list[Path]:
    """The folders a stage writes to (its file events); the warehouse's folder (``var/``,
    which also holds the work folders) as ``<folder>/*``: listed without descending."""
    var = Path(settings.var_dir)
    wh = Path(settings.warehouse_path).parent / "*"
    return {
        "ingest": [Path(settings.bids_dir), var / "ingest", var / "staging",
                   Path(settings.quarantine_dir)],
        "quantify": [Path(settings.work_dir or var / "work"), Path(settings.derivatives_dir)],
        "load": [wh, Path(settings.parquet_dir or var / "parquet")],
        "validate": [wh, Path(settings.gx_dir or var / "gx")],
        "warehouse restore": [wh, Path(settings.parquet_dir or var / "parquet")],
        "analyze": [Path(settings.reports_dir)],
    }[stage]


@dataclass
class Progress:
    """Events of one run: lines of its log plus paths new under ``dirs`` since the start."""

    log: Path
    dirs: Sequence[Path]
    base: set[str] = field(default_factory=set)
    seen: set[str] = field(default_factory=set)
    lines: int = 0
    last_line: str = ""
    result_shown: bool = False

    def __post_init__(self) -> None:
        self.base = set(self._paths())

    def _paths(self):
        for d in self.dirs:
            if d.name == "*":
                yield from (str(p) for p in d.parent.glob("*"))
                continue
            for root, dirs, files in os.walk(d):
                for name in (*dirs, *files):
                    yield os.path.join(root, name)

    def poll(self) -> int:
        """The event count now (monotonic)."""
        try:
            text = self.log.read_bytes().decode("utf-8", "replace")
        except OSError:
            text = ""
        rows = [r for r in text.splitlines() if r.strip()]
        self.lines = sum(bool(_LOGGED.match(r)) for r in rows)
        if rows:
            self.last_line = _STAMP.sub("", rows[-1]).strip()[:120]
        self.result_shown = any(_RESULT.match(r) for r in rows)
        self.seen |= set(self._paths()) - self.base
        return self.lines + len(self.seen)


def run_until(cmd: list[str], *, cwd: Path, env: dict[str, str], log: Path,
              dirs: Sequence[Path], target: int | None, jitter: float = 0.0,
              timeout: float = 3600) -> dict[str, Any]:
    """Run ``cmd``; SIGKILL its process group ``jitter`` s after the ``target``-th event
    (``None``: let it finish). Returns events, whether it was killed while running, the
    phase (last log line) and seconds."""
    log.parent.mkdir(parents=True, exist_ok=True)
    prog = Progress(log, dirs)
    t0 = time.perf_counter()
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=cwd, env={**env, "PYTHONUNBUFFERED": "1"},
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        killed = False
        try:
            while proc.poll() is None and time.perf_counter() - t0 < timeout:
                n = prog.poll()
                if target is not None and n >= target:
                    time.sleep(jitter)
                    if proc.poll() is None:  # alive at the kill: a kill point
                        prog.poll()
                        os.killpg(proc.pid, signal.SIGKILL)
                        killed = True
                    break
                time.sleep(POLL_S)
        finally:
            if proc.poll() is None and not killed:  # timeout: never leave it behind
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=120)
    events = prog.poll()
    return {"target_event": target, "jitter_s": round(jitter, 2), "events": events,
            "killed_while_running": killed, "returncode": proc.returncode,
            "killed_while_working": killed and not prog.result_shown,
            "phase": prog.last_line, "seconds": round(time.perf_counter() - t0, 2)}


def phase_key(line: str) -> str:
    """A kill's phase without ids and numbers (to count kills per phase of a stage)."""
    if not line:
        return "(start-up: no output yet)"
    line = re.sub(r"sub-[^_\s/]+(_ses-[^\s:/,']+)?", "<session>", line)
    line = re.sub(r"'[^']*'", "'<name>'", line)
    return re.sub(r"\d+(\.\d+)?", "#", line)[:70]


def by_phase(points: Sequence[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """stage -> phase -> kill points (killed while working) there."""
    out: dict[str, dict[str, int]] = {}
    for p in points:
        if p["killed_while_working"]:
            phases = out.setdefault(p["stage"], {})
            key = phase_key(p["phase"])
            phases[key] = phases.get(key, 0) + 1
    return out


@dataclass
class StageKiller:
    """Draws kill points for one stage until ``hits`` landed or ``max_attempts`` were made.

    ``span`` is the event count of an uninterrupted run of the stage (calibration); targets
    are drawn in [1, span - 1]; a run that ends before its target lowers ``span`` to the
    events it emitted, one that had printed its result at its target lowers it to the target
    (a command whose events come last, e.g. load's snapshot files)."""

    stage: str
    span: int
    rnd: Any
    points: list[dict[str, Any]]

    def draw(self) -> tuple[int, float]:
        return self.rnd.randint(1, max(1, self.span - 1)), self.rnd.uniform(0.0, JITTER_S)

    def attempt(self, run: Callable[[int, float], dict[str, Any]]) -> bool:
        target, jitter = self.draw()
        r = run(target, jitter)
        if not r["killed_while_working"]:  # it ended, or had printed its result: too late
            self.span = max(2, min(self.span, r["events"], target))
        self.points.append({"stage": self.stage, **r})
        return r["killed_while_working"]

    def until(self, hits: int, max_attempts: int, run: Callable[[int, float], dict[str, Any]],
              before: Callable[[], None] | None = None) -> int:
        got = tries = 0
        while got < hits and tries < max_attempts:
            if before is not None:
                before()
            if self.span <= 0:  # ``before`` found no more work
                break
            got += self.attempt(run)
            tries += 1
        return got
