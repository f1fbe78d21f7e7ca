"""ICAC speed: time per CT session at 1 mm on one core, and peak memory.

Loads simulated CTs from the accuracy benchmark's cache (``--cache``; renders them with
``simulator.render_session`` in a child process when missing, so the renderer's memory
is not counted), pins every library to one thread (OpenMP/BLAS variables and SimpleITK's
global thread count) and times :func:`tasks.icac.pipeline.quantify_ct`: a cold first call
(includes loading the MNI152 template) and ``--repeats`` warm calls per session. It also times
one run of the Nipype workflow (``init_ct_icac_wf``, Linear plugin, NIfTI in and out) and a
cached rerun. Both wall-clock and CPU time (``time.process_time``) are recorded: on a shared,
loaded machine the CPU time is what one idle core would take. Peak memory: ``tracemalloc``
peak of the warm call (numpy buffers) and the process's maximum resident set size
(``resource.getrusage``).

Target (issue 17; issue 6 had 10 s): <= 5 s per session at 1 mm on one core.
Writes ``bench/results/speed_ct.json``. Run: ``.venv/bin/python -m bench.speed_ct``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                "ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS", "NUMEXPR_NUM_THREADS")


def _render(args: tuple) -> None:
    from bench.accuracy_ct import load_or_render

    load_or_render(*args)


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    for var in _THREAD_VARS:
        os.environ[var] = "1"
    from calcisvd.env import apply_offline_env

    apply_offline_env()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--resolution", type=float, default=1.0)
    ap.add_argument("--seed0", type=int, default=5000)
    ap.add_argument("--cache", type=Path, default=ROOT / "var" / "bench_cache" / "ct")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "speed_ct.json")
    args = ap.parse_args(argv)

    import multiprocessing as mp
    import resource
    import tempfile
    import tracemalloc

    import nibabel as nib
    import numpy as np
    import SimpleITK as sitk

    from bench.accuracy_ct import load_or_render

    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)
    for i in range(args.sessions):
        with mp.get_context("spawn").Pool(1) as pool:
            pool.map(_render, [(i, args.seed0 + i, args.resolution, args.cache)])

    from tasks.icac.pipeline import quantify_ct

    sessions = []
    load_avg = os.getloadavg()
    for i in range(args.sessions):
        d = load_or_render(i, args.seed0 + i, args.resolution, args.cache)
        aff = np.asarray(d["affine"], float)
        sp = tuple(float(s) for s in np.linalg.norm(aff[:3, :3], axis=0))
        times, cpu = [], []
        peak = 0
        for rep in range(args.repeats + (1 if i == 0 else 0)):
            tracemalloc.start()
            t0, c0 = time.perf_counter(), time.process_time()
            quantify_ct(d["hu"], sp, aff)
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
            peak = max(peak, tracemalloc.get_traced_memory()[1])
            tracemalloc.stop()
            _ = rep
        cold = times.pop(0) if i == 0 else None
        cold_cpu = cpu.pop(0) if i == 0 else None
        sessions.append({"session": i, "shape": list(d["hu"].shape), "spacing_mm": sp,
                         "cold_s": cold, "cold_cpu_s": cold_cpu, "warm_s": times,
                         "warm_cpu_s": cpu, "tracemalloc_peak_mb": peak / 2**20})
        print(f"session {i}: shape {d['hu'].shape}, warm {np.median(times):.2f} s wall, "
              f"{np.median(cpu):.2f} s CPU" + (f", cold {cold:.2f} s" if cold else ""),
              flush=True)

    # the Nipype workflow on NIfTI files (first run and cached rerun)
    from tasks.workflows.ct import init_ct_icac_wf

    d = load_or_render(0, args.seed0, args.resolution, args.cache)
    with tempfile.TemporaryDirectory() as tmp:
        ct = Path(tmp) / "ct.nii.gz"
        nib.save(nib.Nifti1Image(np.round(d["hu"]).astype(np.int16), d["affine"]), str(ct))
        wf_times = []
        for _ in range(2):
            wf = init_ct_icac_wf()
            wf.base_dir = str(Path(tmp) / "work")
            wf.inputs.inputnode.ct_file = str(ct)
            t0 = time.perf_counter()
            wf.run(plugin="Linear")
            wf_times.append(time.perf_counter() - t0)
    maxrss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    warm = [t for s in sessions for t in s["warm_s"]]
    warm_cpu = [t for s in sessions for t in s["warm_cpu_s"]]
    summary = {
        "resolution_mm": args.resolution, "threads": 1,
        "warm_median_s": float(np.median(warm)), "warm_max_s": float(np.max(warm)),
        "warm_cpu_median_s": float(np.median(warm_cpu)),
        "warm_cpu_max_s": float(np.max(warm_cpu)),
        "cold_s": sessions[0]["cold_s"], "cold_cpu_s": sessions[0]["cold_cpu_s"],
        "workflow_first_run_s": wf_times[0], "workflow_cached_rerun_s": wf_times[1],
        "tracemalloc_peak_mb": float(max(s["tracemalloc_peak_mb"] for s in sessions)),
        "max_rss_mb": float(maxrss_mb), "load_average_at_start": list(load_avg),
        "target_s": 5.0, "seeds": [args.seed0, args.seed0 + args.sessions - 1],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"benchmark": "speed_ct", "summary": summary,
                                    "sessions": sessions}, indent=1))
    print(f"\nICAC speed at {args.resolution:g} mm, one thread: median "
          f"{summary['warm_median_s']:.2f} s/session (max {summary['warm_max_s']:.2f}; "
          f"cold first call {summary['cold_s']:.2f} s; target <= 5 s)")
    print(f"  CPU time (what one idle core would take): median "
          f"{summary['warm_cpu_median_s']:.2f} s, max {summary['warm_cpu_max_s']:.2f} s")
    print(f"  Nipype workflow: {wf_times[0]:.2f} s first run, {wf_times[1]:.2f} s cached rerun")
    print(f"  peak memory: {summary['tracemalloc_peak_mb']:.0f} MB (tracemalloc), "
          f"{summary['max_rss_mb']:.0f} MB max RSS; load average at start "
          f"{load_avg[0]:.1f} on {os.cpu_count()} cores")
    print(f"  wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
