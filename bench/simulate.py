"""Benchmark `calcisvd simulate`: wall time, CPU time and disk for a cohort export.

Run as ``.venv/bin/python -m bench.simulate [--subjects 126] [--resolution 2] [--procs 2]``;
writes ``bench/results/simulate.json`` and prints a short summary. The default is the paper's
cohort (126 patients, baseline + follow-up) at the demo resolution (2 mm); the issue's bar is
<= 10 minutes on 2 cores and <= 3 GB of disk. With fewer subjects the result is also
extrapolated linearly to 126 patients.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import tempfile
import time
from pathlib import Path

from bench.truth_grades import dominant_location, severity_group, svd_grades

RESULTS = Path(__file__).resolve().parent / "results" / "simulate.json"
PAPER_N = 126


def disk_bytes(root: Path) -> int:
    """Allocated bytes of every file under ``root``."""
    return sum(p.stat().st_blocks * 512 for p in root.rglob("*") if p.is_file())


def realisation(truth_dir: Path) -> dict:
    """How closely the rendered truth realises the sampled targets, over every visit."""
    rows = []
    for f in sorted(truth_dir.glob("*/*/truth.json")):
        t = json.loads(f.read_text())
        sv, tg = dict(t["svd"], **svd_grades(t["svd"])), t["targets"]
        rows.append({
            "group": t["group"],
            "faz_equal": sv["fazekas_total"] == tg["fazekas_total"],
            "faz_diff": sv["fazekas_total"] - tg["fazekas_total"],
            "wmh_rel_err": abs(sv["wmh_volume_cm3"] - tg["wmh_volume_cm3"])
            / max(tg["wmh_volume_cm3"], 0.5),
            "mb_equal": sv["microbleed_count"] == tg["microbleed_count"],
            "lac_equal": sv["lacune_count"] == tg["lacune_count"],
            "punct_grade_equal": sv["pv_punctate_grade"] == (
                0 if tg["pv_punctate_foci"] == 0 else 1 if tg["pv_punctate_foci"] < 3
                else 2 if tg["pv_punctate_foci"] < 6 else 3),
            "severity_ok": severity_group(t["icac"]) == t["group"],
            "location_ok": dominant_location(t["icac"]) == t["location"],
        })
    if not rows:
        return {}
    n = len(rows)

    def frac(key: str) -> float:
        return round(sum(bool(r[key]) for r in rows) / n, 3)

    return {"visits": n, "fazekas_total_equal": frac("faz_equal"),
            "fazekas_total_mean_diff": round(sum(r["faz_diff"] for r in rows) / n, 3),
            "wmh_volume_mean_rel_error": round(sum(r["wmh_rel_err"] for r in rows) / n, 3),
            "microbleed_count_equal": frac("mb_equal"), "lacune_count_equal": frac("lac_equal"),
            "pv_punctate_grade_equal": frac("punct_grade_equal"),
            "severity_group_equal": frac("severity_ok"),
            "dominant_location_equal": frac("location_ok")}


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark once and record it."""
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--subjects", type=int, default=PAPER_N)
    ap.add_argument("--resolution", type=float, default=2.0)
    ap.add_argument("--procs", type=int, default=2)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--keep", type=Path, default=None, help="write here and keep the output")
    args = ap.parse_args(argv)

    from calcisvd.env import apply_offline_env
    from simulator.export import simulate_cohort

    apply_offline_env()
    root = args.keep or Path(tempfile.mkdtemp(prefix="calcisvd-bench-sim-"))
    t0 = time.perf_counter()
    c0 = os.times()
    summary = simulate_cohort(args.subjects, args.seed, args.resolution, root / "drop",
                              root / "simulated_truth", follow_up=True, n_procs=args.procs)
    wall = time.perf_counter() - t0
    c1 = os.times()
    cpu = (c1.user - c0.user) + (c1.system - c0.system) + (c1.children_user - c0.children_user) \
        + (c1.children_system - c0.children_system)
    drop_b, truth_b = disk_bytes(root / "drop"), disk_bytes(root / "simulated_truth")
    n_files = sum(1 for p in (root / "drop").rglob("*") if p.is_file())
    scale = PAPER_N / args.subjects
    load = os.getloadavg()
    result = {
        "subjects": args.subjects, "sessions": summary["n_sessions"],
        "resolution_mm": args.resolution, "procs": args.procs, "seed": args.seed,
        "wall_s": round(wall, 1), "cpu_s": round(cpu, 1),
        "s_per_session_wall": round(wall / summary["n_sessions"], 2),
        "drop_gb": round(drop_b / 1e9, 3), "truth_gb": round(truth_b / 1e9, 3),
        "files": n_files,
        "extrapolated_126": {"wall_min": round(wall * scale / 60, 1),
                             "cpu_min": round(cpu * scale / 60, 1),
                             "wall_min_if_2_free_cores": round(cpu * scale / 60 / 2, 1),
                             "disk_gb": round((drop_b + truth_b) * scale / 1e9, 2)},
        "bars": {"wall_min": 10, "disk_gb": 3},
        "load_average_1_5_15": [round(x, 2) for x in load],
        "max_rss_mb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1),
        "truth_vs_targets": realisation(root / "simulated_truth"),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=1))
    if args.keep is None:
        shutil.rmtree(root, ignore_errors=True)
    e = result["extrapolated_126"]
    print(f"simulate: {args.subjects} patients x 2 visits at {args.resolution:g} mm on "
          f"{args.procs} procs: {wall:.0f} s wall, {cpu:.0f} s CPU, "
          f"{(drop_b + truth_b) / 1e9:.2f} GB; for 126 patients: {e['wall_min']} min wall "
          f"({e['wall_min_if_2_free_cores']} min on 2 free cores), {e['disk_gb']} GB "
          f"(bars: 10 min, 3 GB); load average {load[0]:.1f}")
    print(f"truth vs targets: {result['truth_vs_targets']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
