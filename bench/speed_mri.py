"""MRI small-vessel-disease speed: seconds and peak memory per session at 1 mm on one core.

Renders ``--n`` simulated sessions (seeds ``--seed0`` ...), each in a child process that
writes a temporary ``.npz``, and runs :func:`tasks.svd.pipeline.quantify_svd` in another fresh
child process limited to one thread (SimpleITK, BLAS), so the peak resident memory
(``ru_maxrss``) is the pipeline's own. Linux carries a parent's peak resident memory over to
a child it starts (fork, then exec), so rendering in this process made the measured peak the
renderer's (2.8 GB before 2026-12-05; the pipeline's own was 0.9 GB).
Reports wall time, CPU time (user + system; on a shared machine CPU time is the fairer one-core
figure) and peak memory, with a per-step breakdown from the first session. The times include
the image-quality-metric node (one N4 field per contrast and the metrics, as
``tasks/interfaces/qc.py`` runs them); ``svd_*`` and ``iqm_*`` give the two parts.
The derived MNI152 template arrays are kept on disk between processes
(:func:`tasks.imaging.templates.cached_arrays`); the bench builds them once in a fresh
temporary cache folder before timing and reports that one-off cost apart
(``template_cache_build_cpu_s``), as a machine pays it once.

Run: ``.venv/bin/python -m bench.speed_mri [--n 3] [--resolution 1.0]``; writes
``bench/results/speed_mri.json`` and prints a summary.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

TARGET_S = 30.0
#: the steps of tasks.svd.pipeline timed one by one (names it imports; tests/bench checks them)
STEPS = ("coregister", "anatomy_step", "detect_microbleeds", "cavity_step", "wmh_step")
_CHILD = r"""
import json, os, resource, sys, time
import numpy as np
import SimpleITK as sitk
sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)
d = np.load(sys.argv[1])
images = {k: (d[k], d["affine_" + k]) for k in ("T1w", "T2w", "FLAIR", "T2starw")}
from tasks.svd import pipeline
steps = {}
def timed(name, fn):
    def wrap(*a, **k):
        t = time.perf_counter()
        out = fn(*a, **k)
        steps[name] = steps.get(name, 0.0) + time.perf_counter() - t
        return out
    return wrap
for name in STEPS:
    setattr(pipeline, name, timed(name, getattr(pipeline, name)))
t0, c0 = time.perf_counter(), time.process_time()
r = pipeline.quantify_svd(images)
wall, cpu = time.perf_counter() - t0, time.process_time() - c0
# the IQM node (tasks/interfaces/qc.py): one N4 field per contrast on the full grid + metrics
from tasks.qc.iqm import mr_session_iqms
from tasks.svd.bias import bias_correct
from tasks.imaging.space import spacing_from_affine
t1, c1 = time.perf_counter(), time.process_time()
brain = r.masks["brain"] > 0
grid = {k: np.asarray(r.images[k], np.float32) for k in r.images}
sp = spacing_from_affine(r.affine)
fields = {k: np.where(brain, v / np.maximum(bias_correct(np.maximum(v, 0), brain, sp), 1e-3),
                      1.0) for k, v in grid.items()}
mr_session_iqms(grid, brain, np.asarray(r.masks["tissue"]), fields)
iqm_wall, iqm_cpu = time.perf_counter() - t1, time.process_time() - c1
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
print(json.dumps({"wall_s": wall + iqm_wall, "cpu_s": cpu + iqm_cpu, "peak_mb": peak,
                  "svd_wall_s": wall, "svd_cpu_s": cpu, "iqm_wall_s": iqm_wall,
                  "iqm_cpu_s": iqm_cpu, "steps_s": steps,
                  "shape": list(d["FLAIR"].shape), "status": r.measures["status"]}))
"""


_WARM = r"""
import json, time
t = time.process_time()
from tasks.imaging.templates import mni152
from tasks.svd.atlas import ventricle_prior, wm_prior
mni152(2); ventricle_prior(2); wm_prior(2)
print(json.dumps({"cpu_s": time.process_time() - t}))
"""

_RENDER = r"""
import sys
import numpy as np
from simulator import render_session
seed, group, res, path = int(sys.argv[1]), sys.argv[2], float(sys.argv[3]), sys.argv[4]
s = render_session(seed=seed, group=group, location="MCA", resolution_mm=res)
arrays = {}
for k in ("T1w", "T2w", "FLAIR", "T2starw"):
    arrays[k], arrays["affine_" + k] = s.images[k]
np.savez(path, **arrays)
"""


def run(n: int, resolution: float, seed0: int) -> dict:
    """Time ``n`` sessions, each rendered in one child process and measured in another,
    single-threaded (this process stays small: its peak memory would pass to the children)."""
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1",
               ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS="1")
    root = Path(__file__).resolve().parent.parent
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        env["CALCISVD_CACHE_DIR"] = str(Path(tmp, "cache"))
        warm = subprocess.run([sys.executable, "-c", _WARM], env=env, capture_output=True,
                              text=True, check=True, cwd=root)
        build_cpu = json.loads(warm.stdout.strip().splitlines()[-1])["cpu_s"]
        print(f"template cache built once: {build_cpu:.1f} s CPU", flush=True)
        for i in range(n):
            path = Path(tmp, f"s{i}.npz")
            subprocess.run([sys.executable, "-c", _RENDER, str(seed0 + i),
                            ("none_mild", "moderate", "severe")[i % 3], str(resolution),
                            str(path)], cwd=root, check=True)
            out = subprocess.run([sys.executable, "-c", f"STEPS = {STEPS!r}\n" + _CHILD,
                                  str(path)], env=env,
                                 capture_output=True, text=True, check=True, cwd=root)
            row = json.loads(out.stdout.strip().splitlines()[-1])
            row["seed"] = seed0 + i
            rows.append(row)
            print(f"seed {row['seed']}: wall {row['wall_s']:.1f} s, cpu {row['cpu_s']:.1f} s "
                  f"(IQM {row['iqm_cpu_s']:.1f} s), "
                  f"peak {row['peak_mb']:.0f} MB, grid {row['shape']}", flush=True)
    walls = [r["wall_s"] for r in rows]
    cpus = [r["cpu_s"] for r in rows]
    return {"resolution_mm": resolution, "threads": 1, "n_sessions": n,
            "target_s": TARGET_S, "template_cache_build_cpu_s": round(build_cpu, 2),
            "wall_s_mean": sum(walls) / n, "wall_s_max": max(walls),
            "cpu_s_mean": sum(cpus) / n, "cpu_s_max": max(cpus),
            "peak_mb_max": max(r["peak_mb"] for r in rows),
            "meets_target_cpu": max(cpus) <= TARGET_S,
            "load_average_1min": os.getloadavg()[0], "sessions": rows}


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=3)
    p.add_argument("--resolution", type=float, default=1.0)
    p.add_argument("--seed0", type=int, default=4000)
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "results"
                   / "speed_mri.json")
    a = p.parse_args(argv)
    from calcisvd.env import apply_offline_env

    apply_offline_env()
    res = run(a.n, a.resolution, a.seed0)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(res, indent=2) + "\n")
    print(f"\nMRI speed at {res['resolution_mm']} mm, 1 thread, {res['n_sessions']} sessions "
          f"(load average {res['load_average_1min']:.1f} on a shared machine):")
    print(f"  wall mean {res['wall_s_mean']:.1f} s (max {res['wall_s_max']:.1f}); "
          f"CPU mean {res['cpu_s_mean']:.1f} s (max {res['cpu_s_max']:.1f}); "
          f"target {TARGET_S:.0f} s: {'PASS' if res['meets_target_cpu'] else 'FAIL'}")
    print(f"  peak memory {res['peak_mb_max']:.0f} MB")
    steps = res["sessions"][0]["steps_s"]
    print("  steps (first session, wall s): "
          + ", ".join(f"{k} {v:.1f}" for k, v in steps.items()))
    print(f"written {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
