"""Ingest benchmark: conversion throughput against plain dcm2niix, and rerun time.

Builds a DICOM export with ``calcisvd simulate`` (default; realistic images, localizers,
dose reports) or with ``bench/support/dicomgen.py`` (``--source synthetic``: noise images,
the worst case for compression), then times

* plain dcm2niix over the whole export (``-b y -ba y -z y``), the reference;
* the first ingest (scan, classify, convert, de-identify, write BIDS, pybids refresh);
* a rerun with nothing new (the median of three).

Targets (issue 5): first ingest <= 1.3 x dcm2niix; rerun <= 5 % of the first ingest.
Writes ``bench/results/ingest.json`` (``ingest_prefect.json`` with ``--prefect``: the Prefect
flow as ``calcisvd ingest`` runs it, in the foreground without heartbeats; the rerun is also
timed with Prefect's default heartbeats, as a deployment run has them).
Run: ``.venv/bin/python -m bench.ingest [--patients N] [--prefect]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def build_export(drop: Path, patients: int, shape: tuple[int, int, int]) -> int:
    """Write the synthetic export; returns the number of DICOM files."""
    from bench.support.dicomgen import Patient, write_clinical, write_study

    rows = []
    for i in range(patients):
        p = Patient(f"BENCH{i:04d}")
        base = dt.date(2024, 1, 1) + dt.timedelta(days=7 * i)
        write_study(drop, p, base, visit="v1", seed=i, shape=shape)
        write_study(drop, p, base + dt.timedelta(days=365), visit="v2", seed=100 + i,
                    shape=shape)
        rows.append(f"BENCH{i:04d},{50 + i % 30},{'MF'[i % 2]},no,yes,no,no,no,no")
    write_clinical(drop, rows)
    return sum(1 for p in drop.rglob("*") if p.is_file()) - 1


def simulate_export(home: Path, subjects: int, resolution: float) -> int:
    """Run ``calcisvd simulate`` into ``home``; returns the number of files in drop/."""
    import os

    env = {**os.environ, "CALCISVD_HOME": str(home)}
    subprocess.run([str(Path(sys.executable).parent / "calcisvd"), "simulate", "--subjects",
                    str(subjects), "--resolution", str(resolution)], env=env, check=True,
                   capture_output=True)
    return sum(1 for p in (home / "drop").rglob("*") if p.is_file() and
               "clinical" not in p.parts)


def time_dcm2niix(drop: Path, out: Path) -> float:
    """Seconds for plain dcm2niix over the whole export (BIDS sidecars, gzip)."""
    from tasks.ingest.convert import find_dcm2niix

    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    t0 = time.perf_counter()
    subprocess.run([find_dcm2niix(), "-b", "y", "-ba", "y", "-z", "y", "-f", "%j",
                    "-o", str(out), str(drop)], check=False, capture_output=True)
    return time.perf_counter() - t0


def _timed(fn, settings) -> tuple[float, dict]:
    """(seconds, summary) of one ingest run."""
    t0 = time.perf_counter()
    summary = fn(settings)
    return time.perf_counter() - t0, summary


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and write bench/results/ingest.json."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", choices=["sim", "synthetic"], default="sim")
    ap.add_argument("--patients", type=int, default=3)
    ap.add_argument("--resolution", type=float, default=2.0, help="simulator voxel size, mm")
    ap.add_argument("--shape", type=int, nargs=3, default=(256, 256, 40),
                    help="synthetic volume shape")
    ap.add_argument("--prefect", action="store_true",
                    help="time the Prefect flow (ephemeral API) instead of the plain runner")
    ap.add_argument("--out", default=None, metavar="NAME",
                    help="result file name in bench/results (default ingest.json, or "
                         "ingest_prefect.json with --prefect)")
    args = ap.parse_args(argv)

    from calcisvd.env import apply_offline_env
    from calcisvd.settings import load_settings

    apply_offline_env()
    from tasks.ingest.pipeline import run_ingest

    tmp = Path(tempfile.mkdtemp(prefix="calcisvd-bench-ingest-"))
    try:
        settings = load_settings(env={}, overrides={"home": tmp / "home"})
        if args.source == "sim":
            n_files = simulate_export(tmp / "home", args.patients, args.resolution)
        else:
            n_files = build_export(settings.drop_dir, args.patients, tuple(args.shape))
        t_ref_before = time_dcm2niix(settings.drop_dir, tmp / "dcm2niix_out")

        extra: dict = {}
        if args.prefect:
            from prefect.testing.utilities import prefect_test_harness

            from calcisvd.orchestration import foreground_flow_runs
            from flows.ingest import ingest_flow

            with prefect_test_harness(server_startup_timeout=180):
                with foreground_flow_runs():  # as `calcisvd ingest` runs it
                    t_first, first = _timed(ingest_flow, settings)
                    reruns = [_timed(ingest_flow, settings) for _ in range(3)]
                # Prefect's default heartbeats, as in a deployment run
                beats = [_timed(ingest_flow, settings)[0] for _ in range(3)]
                extra = {"ingest_rerun_heartbeats_s": round(statistics.median(beats), 3),
                         "ingest_rerun_heartbeats_runs_s": [round(t, 3) for t in beats]}
        else:
            t_first, first = _timed(run_ingest, settings)
            reruns = [_timed(run_ingest, settings) for _ in range(3)]
        t_rerun = statistics.median(t for t, _ in reruns)
        again = reruns[-1][1]

        t_ref_after = time_dcm2niix(settings.drop_dir, tmp / "dcm2niix_out")
        t_ref = (t_ref_before + t_ref_after) / 2
        result = {
            "source": args.source, "patients": args.patients, "subjects": first.get("subjects"),
            "resolution_mm": args.resolution if args.source == "sim" else None,
            "shape": list(args.shape) if args.source == "synthetic" else None,
            "dicom_files": n_files, "n_procs": settings.n_procs,
            "runner": "prefect flow" if args.prefect else "plain (tasks.ingest.pipeline)",
            "dcm2niix_s": round(t_ref, 3),
            "dcm2niix_runs_s": [round(t_ref_before, 3), round(t_ref_after, 3)],
            "ingest_first_s": round(t_first, 3),
            "ingest_rerun_s": round(t_rerun, 3),
            "ingest_rerun_runs_s": [round(t, 3) for t, _ in reruns],
            "ratio_vs_dcm2niix": round(t_first / t_ref, 3),
            "rerun_fraction": round(t_rerun / t_first, 4),
            "target_ratio": 1.3, "target_rerun_fraction": 0.05,
            "ingest_timings_s": first.get("timings_s"),
            "ingested_series": first["ingested"], "rerun_ingested": again["ingested"],
            "skipped": first["skipped"], "quarantined": first["quarantined"],
            "load_avg_1min": round(__import__("os").getloadavg()[0], 2),
            **extra,
        }
        result["pass"] = (result["ratio_vs_dcm2niix"] <= 1.3
                          and result["rerun_fraction"] <= 0.05)
        out = ROOT / "bench" / "results" / (args.out or ("ingest_prefect.json" if args.prefect
                                                          else "ingest.json"))
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2) + "\n")
        print(f"dcm2niix {t_ref:.2f} s | ingest {t_first:.2f} s "
              f"(x{result['ratio_vs_dcm2niix']:.2f}, target <= 1.3) | rerun {t_rerun:.3f} s "
              f"({100 * result['rerun_fraction']:.2f} % of first, target <= 5 %) | "
              f"{n_files} files, {first['ingested']} series")
        if extra:
            print(f"rerun with Prefect's default heartbeats (deployment runs): "
                  f"{extra['ingest_rerun_heartbeats_s']:.3f} s")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
