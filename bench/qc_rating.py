"""Time to rate 10 sessions and see the effect in the next analysis (issue 20, "Measured").

A fake study (tests/warehouse/conftest.py:make_fake_study; N subjects x 2 sessions) is loaded
into a real warehouse (GX-validated), then 10 baseline sessions are rated ``fail`` through the
real CLI (`calcisvd qc rate`, one process each, as a person would), then the next
`calcisvd analyze` (the real command, small resampling counts; one analyze runs before the
ratings so this one is the "next" run) is timed and its report must leave exactly those 10
subjects out. The report is screenshotted with headless chromium when present. Writes
bench/results/qc_rating.json.

    nice -n 10 .venv/bin/python -m bench.qc_rating [--subjects 30]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    c = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime + c.ru_utime + c.ru_stime


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print a summary; write the JSON."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--subjects", type=int, default=30)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "qc_rating.json")
    ap.add_argument("--screenshot", type=Path,
                    default=ROOT / "docs" / "screenshots" / "report.png")
    args = ap.parse_args(argv)
    from bench.fake_study import make_fake_study
    from calcisvd.settings import load_settings
    from warehouse.load import load_derivatives

    tmp = Path(tempfile.mkdtemp(prefix="qc-bench-", dir="/var/tmp"))
    try:
        settings = load_settings(env={}, overrides={"home": tmp / "home", "n_procs": 1})
        subjects = make_fake_study(settings.bids_dir, settings.derivatives_dir, args.subjects,
                                   seed=11)
        assert load_derivatives(settings.warehouse_paths(), build_docs=False, export=False).ok
        env = {**os.environ, "CALCISVD_HOME": str(settings.home)}
        analyze = [sys.executable, "-m", "calcisvd.cli", "analyze", "--n-boot", "200",
                   "--n-perm", "199"]
        # the analysis as it stands (first run: not timed), then rate, then the next analyze
        subprocess.run(analyze, env=env, check=True, capture_output=True, cwd=ROOT)
        t0, c0 = time.perf_counter(), _cpu()
        for sub in subjects[:10]:
            subprocess.run([sys.executable, "-m", "calcisvd.cli", "qc", "rate",
                            f"sub-{sub}_ses-M00", "--rating", "fail", "--reason", "bench"],
                           env=env, check=True, capture_output=True, cwd=ROOT)
        rate_s, rate_cpu = time.perf_counter() - t0, _cpu() - c0
        t0, c0 = time.perf_counter(), _cpu()
        proc = subprocess.run(analyze, env=env, check=True, capture_output=True, text=True,
                              cwd=ROOT)
        analyze_s, analyze_cpu = time.perf_counter() - t0, _cpu() - c0
        latest = sorted(settings.reports_dir.glob("analysis-*"))[-1]
        import pandas as pd

        excl = pd.read_csv(latest / "qc_exclusions.csv") if (
            latest / "qc_exclusions.csv").is_file() else pd.DataFrame()
        head = (latest / "report.md").read_text().splitlines()[2]
        n_analysed = int(head.split(" subject(s)")[0])
        excluded = len(excl)
        ok = n_analysed == args.subjects - 10 and excluded == 10 and set(
            excl.get("subject", [])) == set(subjects[:10])
        shot = None
        if shutil.which("chromium"):
            args.screenshot.parent.mkdir(parents=True, exist_ok=True)
            subprocess.run(["chromium", "--headless=new", "--no-sandbox", "--disable-gpu",
                            "--force-device-scale-factor=0.6", "--hide-scrollbars",
                            f"--screenshot={args.screenshot}", "--window-size=1400,2400",
                            (latest / "report.html").as_uri()], check=True,
                           capture_output=True, timeout=120)
            shot = str(args.screenshot.relative_to(ROOT))
        out = {"subjects": args.subjects, "sessions": 2 * args.subjects, "ratings": 10,
               "rate_10_wall_s": round(rate_s, 2), "rate_10_cpu_s": round(rate_cpu, 2),
               "analyze_wall_s": round(analyze_s, 2), "analyze_cpu_s": round(analyze_cpu, 2),
               "rate_then_analyze_wall_s": round(rate_s + analyze_s, 2),
               "analysis_options": "calcisvd analyze --n-boot 200 --n-perm 199 (the real "
                                   "command: Prefect flow, embedded API)",
               "analyze_said": [ln for ln in proc.stdout.splitlines() if "excluded" in ln
                                or "left out" in ln][:3],
               "subjects_analysed": n_analysed, "sessions_excluded": excluded,
               "effect_seen": ok, "load_average": list(os.getloadavg()),
               "report_screenshot": shot}
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(out, indent=2) + "\n")
        print(json.dumps(out, indent=2))
        return 0 if ok else 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
