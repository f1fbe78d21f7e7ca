"""Part 2 of the robustness benchmark (``bench/robustness.py``): SIGKILL each stage at
moments drawn in its observed progress, rerun, compare with the reference home."""

from __future__ import annotations

import os
import random
import shutil
import time
from pathlib import Path
from typing import Any

from bench.robustness import CODE, OK_INGEST, _cli, _env, _require, snapshot, warehouse_differences

#: events (log lines + new paths) drawn after a warm idle ingest's when a drop folder arrived:
#: a whole PACS export of the simulator (3 subjects, 4 mm) gave 43-44 events against 19 idle,
#: but its session is written in the last ~2 s and the run then ends; with targets in the
#: first 12 events (planning, the start of the conversion) a kill leaves the folder to do
#: and the next kill has the same input (2026-12-04: 25 gave 3 hits in 28 tries)
INGEST_EVENTS_PER_FOLDER = 12
#: events of a quantify run of one session before it finishes: ~175 paths per session under
#: var/work and derivatives (1061 for 6 sessions, 3 subjects, 4 mm, measured 2026-12-04)
QUANTIFY_SPAN = 150

#: analyze options of the kill runs (small resampling counts: the run is short, still real;
#: review sessions kept: at 4 mm every session of the small cohort is `review`, and without
#: them there is nothing to analyse, 2026-12-04)
ANALYZE_ARGS = ("--n-boot", "200", "--n-perm", "199", "--include-review")


def _timed(home: Path, *argv: str) -> float:
    t0 = time.perf_counter()
    _require(_cli(home, *argv), " ".join(argv))
    return time.perf_counter() - t0


def report_tables(settings) -> dict[str, str] | None:
    """CSV tables of the latest analysis report (name -> text), None when there is none."""
    latest = Path(settings.reports_dir) / "latest"
    if not latest.exists():
        return None
    return {p.name: p.read_text() for p in sorted(latest.resolve().glob("*.csv"))}


def kill_and_converge(root: Path, reference: Path, kills: dict[str, int], requantify: int,
                      seed: int, ingest_s: float | None = None) -> dict[str, Any]:
    """Kill each stage at moments drawn in its observed progress, rerun, compare with the
    reference home.

    Ingest: the killed home's drop folder receives the reference drop one top-level folder
    (one PACS export, the clinical CSVs) at a time, and each folder's arrival is followed by
    killed ingests until ``kills["ingest"] / folders`` landed, so every kill has fresh input
    to interrupt. Quantify: the derivatives of ``requantify`` sessions plus one more session
    per attempt are deleted first. Load and validate always have work. Warehouse restore: the
    file is truncated, then restores are killed. Analyze: ``--force`` runs are killed. Only
    kills that hit a command still working are counted as kill points
    (``bench/killpoints.py``).
    """
    from bench.killpoints import StageKiller, by_phase, run_until, stage_dirs
    from bench.support.cli import cli_command, make_settings

    rnd = random.Random(seed)
    ref = make_settings(reference)
    if not Path(ref.warehouse_path).exists():
        _require(_cli(reference, "load", "--no-flow"), "reference load")
    ref_snap = snapshot(ref)
    home = root / "killed"
    (home / "drop").mkdir(parents=True)
    (home / "secrets").mkdir(parents=True)
    shutil.copy2(ref.pseudonym_key_path, home / "secrets" / "pseudonym.key")
    if Path(ref.truth_dir).is_dir():  # the simulator's output, like the drop: same inputs
        shutil.copytree(ref.truth_dir, home / Path(ref.truth_dir).name)
    settings = make_settings(home)
    points: list[dict[str, Any]] = []
    timings: dict[str, float] = {}
    spans: dict[str, int] = {}
    logs = root / "kill-logs"
    runs = iter(range(10_000))

    def run(stage: str, argv: tuple[str, ...], target: int | None, jitter: float = 0.0):
        log = logs / f"{next(runs):03d}-{stage.replace(' ', '-')}.log"
        return run_until(cli_command(*stage.split(), *argv, "--home", str(home)),
                         cwd=CODE["root"], env=_env(home), log=log,
                         dirs=stage_dirs(settings, stage), target=target, jitter=jitter)

    def calibrate(stage: str, *argv: str) -> int:
        """An uninterrupted run: its seconds and event count (the span targets are drawn in)."""
        r = run(stage, argv, None)
        if r["returncode"] not in (OK_INGEST if stage == "ingest" else (0,)):
            raise RuntimeError(f"{stage} failed ({r['returncode']}): {r['phase']}")
        timings[stage] = r["seconds"]
        spans[stage] = r["events"]
        return r["events"]

    def killer(stage: str, span: int) -> StageKiller:
        return StageKiller(stage, span, rnd, points)

    def attempt(stage: str, *argv: str):
        return lambda target, jitter: run(stage, argv, target, jitter)

    # ---- ingest: the drop arrives one folder at a time (the clinical CSVs with the first
    # PACS export); the next folder arrives when an attempt found nothing left to interrupt
    # (it ran to its end or printed its result), so every kill has input to interrupt; the
    # span of a folder is an idle run's events plus INGEST_EVENTS_PER_FOLDER
    calibrate("ingest", "--no-prefect")  # the first run of a home creates its var/ files
    idle = calibrate("ingest", "--no-prefect")
    folders = sorted(p.name for p in ref.drop_dir.iterdir())
    waiting = sorted(folders, key=lambda n: (n.startswith("pacs"), n))  # CSVs first
    ingest = killer("ingest", idle + INGEST_EVENTS_PER_FOLDER)

    def arrive() -> bool:
        """Copy the next folder(s) of the drop; False when none is left."""
        while waiting:
            name = waiting.pop(0)
            src = ref.drop_dir / name
            if src.is_dir():
                shutil.copytree(src, settings.drop_dir / name, symlinks=True)
            else:
                shutil.copy2(src, settings.drop_dir / name)
            if name.startswith("pacs") or not waiting:
                ingest.span = idle + INGEST_EVENTS_PER_FOLDER
                return True
        return False

    def fresh_input() -> None:
        mine = [p for p in points if p["stage"] == "ingest"]
        if (not mine or not mine[-1]["killed_while_working"]) and not arrive():
            ingest.span = 0  # the drop is all in: no more input to interrupt

    ingest.until(kills["ingest"], 2 * kills["ingest"], attempt("ingest", "--no-prefect"),
                 fresh_input)
    while arrive():
        pass
    _require(_cli(home, "ingest", "--no-prefect"), "ingest rerun")
    after_ingest = snapshot(settings)
    # ---- quantify: reference derivatives for all but `requantify` sessions, one more
    # session's derivatives deleted before each attempt (a killed run may have finished one)
    shutil.copytree(ref.derivatives_dir, settings.derivatives_dir)
    sessions = sorted(settings.derivatives_dir.glob("sub-*/ses-*"))
    redo = rnd.sample(sessions, min(requantify, len(sessions)))
    for ses in redo:
        shutil.rmtree(ses)

    def more_work() -> None:
        extra = rnd.choice(sessions)
        shutil.rmtree(extra, ignore_errors=True)
        redo.append(extra)

    killer("quantify", QUANTIFY_SPAN).until(kills["quantify"], 2 * kills["quantify"],
                                            attempt("quantify", "--n-procs", "1"), more_work)
    _require(_cli(home, "quantify", "--n-procs", "1"), "quantify rerun")
    # ---- load and validate (each always has work: a load restages, validate revalidates)
    for stage, n in (("load", kills["load"]), ("validate", kills.get("validate", 0))):
        if n:
            span = calibrate(stage, "--no-flow")
            killer(stage, span).until(n, 2 * n, attempt(stage, "--no-flow"))
        _require(_cli(home, stage, "--no-flow"), f"{stage} rerun")
    # ---- warehouse restore of a truncated file
    restore: dict[str, Any] = {}
    if kills.get("restore"):
        span = calibrate("warehouse restore", "--force")
        wh = Path(settings.warehouse_path)

        def damage() -> None:
            """Truncate the file before each attempt: a restore that finished (it did in
            every attempt after the first two on 2026-12-04) leaves the next nothing to do."""
            if wh.exists():
                os.truncate(wh, wh.stat().st_size // 3)

        killer("warehouse restore", span).until(kills["restore"], 2 * kills["restore"],
                                                attempt("warehouse restore"), damage)
        proc = _cli(home, "warehouse", "check")
        restore["damaged_after_kills"] = proc.returncode == 1
        _require(_cli(home, "warehouse", "restore"), "warehouse restore rerun")
        restore["healthy_after_rerun"] = _cli(home, "warehouse", "check").returncode == 0
        restore["restoring_leftovers"] = sorted(p.name for p in wh.parent.glob("*.restoring*"))
    # ---- analyze
    analyze: dict[str, Any] = {}
    if kills.get("analyze"):
        proc = _cli(reference, "analyze", *ANALYZE_ARGS)
        if proc.returncode != 0:
            analyze["not_run"] = ("reference analyze failed: "
                                  + (proc.stderr.strip().splitlines() or [""])[-1][:300])
        else:
            span = calibrate("analyze", *ANALYZE_ARGS, "--force")
            killer("analyze", span).until(kills["analyze"], 2 * kills["analyze"],
                                          attempt("analyze", *ANALYZE_ARGS, "--force"))
            _require(_cli(home, "analyze", *ANALYZE_ARGS), "analyze rerun")
            mine, theirs = report_tables(settings), report_tables(ref)
            analyze["tables"] = len(theirs or {})
            analyze["truth_tables"] = sorted(k for k in theirs or {} if k.startswith("truth_"))
            analyze["tables_differing"] = sorted(
                k for k in set(mine or {}) | set(theirs or {})
                if (mine or {}).get(k) != (theirs or {}).get(k))
    final = snapshot(settings)
    # other sessions edit the measuring code while this runs: bring the reference to the same
    # code (quantify reruns only sessions whose inputs or code changed), then compare
    _require(_cli(reference, "quantify", "--n-procs", "1"), "reference quantify refresh")
    _require(_cli(reference, "load", "--no-flow"), "reference load refresh")
    ref_before = ref_snap.get("warehouse")
    ref_snap = snapshot(ref)
    lost = sorted(set(ref_snap["sessions"]) - set(final["sessions"]))
    lost_wh = sorted(set(ref_snap.get("warehouse_sessions", []))
                     - set(final.get("warehouse_sessions", [])))
    stages = list(dict.fromkeys(p["stage"] for p in points))
    return {
        "reference_home": str(reference), "killed_home": str(home),
        "kill_points": sum(p["killed_while_working"] for p in points),
        "killed_after_result_printed": sum(p["killed_while_running"]
                                           and not p["killed_while_working"] for p in points),
        "kill_attempts_total": len(points),
        "kill_points_by_stage": {st: sum(p["killed_while_working"] for p in points
                                         if p["stage"] == st) for st in stages},
        "kill_attempts": points,
        "kill_points_by_phase": by_phase(points),
        "kill_points_alive_check": "a kill point: SIGKILL sent while the command ran and "
                                   "before it printed its result",
        "ingest_folders": folders,
        "calibration": {k: {"seconds": round(timings[k], 1), "events": spans[k]}
                        for k in timings},
        "requantified_sessions": len(set(redo)),
        "bids_equal_after_ingest_rerun": after_ingest["bids"] == ref_snap["bids"],
        "bids_equal": final["bids"] == ref_snap["bids"],
        "reid_map_equal": (Path(settings.reid_map_path).read_bytes()
                           == Path(ref.reid_map_path).read_bytes()),
        "measures_equal": final["measures"] == ref_snap["measures"],
        "warehouse_equal": final.get("warehouse") == ref_snap.get("warehouse"),
        "reference_changed_by_code_edits": ref_before != ref_snap.get("warehouse"),
        "warehouse_value_differences": warehouse_differences(ref.warehouse_path,
                                                             settings.warehouse_path),
        "restore": restore, "analyze": analyze,
        "sessions": len(final["sessions"]),
        "sessions_lost": len(lost) + len(lost_wh),
        "duplicate_rows": final.get("duplicate_rows"),
        "lost_rows": sum(max(0, n - (final.get("rows") or {}).get(t, 0))
                         for t, n in (ref_snap.get("rows") or {}).items()),
        "partial_files": final["partial_files"],
        "leftovers": final["leftovers"],
        "rows": final.get("rows"),
    }
