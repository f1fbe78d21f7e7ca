"""How far can FLAIR intensity take WMH segmentation on each simulated protocol? A ceiling.

The WMH bars of issue 16 (Dice >= 0.85 on 3-D 1 mm, >= 0.75 on clinical 2-D thick slices) are
met on the 3-D protocol and missed by far on thick slices. This bench asks whether any rule on
the FLAIR intensity could meet them there. For each session (rendered as
:mod:`bench.accuracy_mri` renders it: same seeds, groups and locations) it runs the pipeline's
own steps (:mod:`tasks.svd.steps`) and scores against the truth:

* ``method``: the pipeline's WMH mask;
* ``threshold``: one global level on the pipeline's FLAIR z-score (NAWM-referenced), inside the
  brain and outside the ventricles, the level chosen *with the truth* (every 0.25 SD from 1 to
  8): an oracle no method can beat by choosing a level;
* ``threshold_clean_reference``: the same on the z-score referred again to the normal WM
  *outside the true lesions* (truth dilated by ``tasks.svd.wmh.LESION_FREE_MARGIN_MM``): what a
  perfect lesion-free reference would add (heavy loads lift the local NAWM level);
* ``boundary_only``: the clean-reference threshold kept within ``BOUNDARY_VOXELS`` in-plane
  voxels of the truth, so every remaining error is a boundary error: the partial-volume limit
  of a slab-averaged, graded, fuzzy-edged lesion against a truth drawn at half occupancy.

None of the oracles is a method (all use the truth); they bound what intensity alone can give.

Run: ``nice -n 10 .venv/bin/python -m bench.wmh_ceiling [--protocols clinical2d ...]
[--n 9] [--seed0 2200]``; writes ``bench/results/wmh_ceiling.json`` and prints a table.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from bench.accuracy_mri import GROUPS, LOCATIONS, dice

#: threshold levels tried by the oracles, robust SD above NAWM
LEVELS = np.arange(1.0, 8.001, 0.25)
#: the boundary-only oracle keeps voxels within this many in-plane voxels of the truth
BOUNDARY_VOXELS = 3
PROTOCOLS = ("paper", "clinical2d", "clinical2d_flair_stripped")


def best_threshold(z: np.ndarray, region: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    """(best Dice, its level) of ``region & (z > level)`` over :data:`LEVELS`."""
    scores = [(dice(region & (z > lv), truth), float(lv)) for lv in LEVELS]
    return max(scores)


def ceiling_of_session(images: dict, truth_full: np.ndarray) -> dict:
    """The method's Dice and the three oracle ceilings of one session (module docstring)."""
    from scipy import ndimage

    from tasks.svd.anatomy import distance_mm, nawm_reference
    from tasks.svd.image import local_reference_z
    from tasks.svd.register import coregister
    from tasks.svd.steps import anatomy_step, cavity_step, wmh_step
    from tasks.svd.wmh import LESION_FREE_MARGIN_MM

    _, affine, full = coregister(images)
    a = anatomy_step(full, affine)
    anat, z, truth = a.anat, a.zimg["FLAIR"], np.asarray(truth_full, bool)[a.box]
    cav = cavity_step(a.zimg, anat, a.spacing, a.crop_affine)
    mask, _, _ = wmh_step(z, anat, a.spacing, t1_z=a.zimg.get("T1w"),
                          lacune_mask=None if cav is None else cav.lacune_mask,
                          cavity_mask=None if cav is None else cav.cavity_mask,
                          wm_prior=a.wm_prior, flair_global_z=a.zglobal.get("FLAIR"))
    region = anat.brain & ~anat.ventricles
    thr, thr_level = best_threshold(z, region, truth)
    _, reference = nawm_reference(anat.brain, anat.tissue, anat.ventricles, anat.depth_mm,
                                  a.wm_prior)
    clean = reference & (distance_mm(truth, a.spacing) > LESION_FREE_MARGIN_MM)
    z_clean, _ = local_reference_z(z, clean, a.spacing, anat.brain)
    cl, cl_level = best_threshold(z_clean, region, truth)
    inplane = [i for i in range(3) if a.spacing[i] < 1.5 * min(a.spacing)]  # never empty
    size = [2 * BOUNDARY_VOXELS + 1 if i in inplane else 1 for i in range(3)]
    near = ndimage.maximum_filter(truth, size=size)
    bo, bo_level = best_threshold(z_clean, region & near, truth)
    vox_ml = float(np.prod(a.spacing)) / 1000.0
    return {"spacing_mm": [round(float(s), 2) for s in a.spacing],
            "true_cm3": round(float(truth.sum()) * vox_ml, 2),
            "method": round(dice(mask, truth), 4),
            "threshold": round(thr, 4), "threshold_level_sd": thr_level,
            "threshold_clean_reference": round(cl, 4), "clean_level_sd": cl_level,
            "boundary_only": round(bo, 4), "boundary_level_sd": bo_level,
            "truth_median_z": round(float(np.median(z[truth])), 2) if truth.any() else None,
            "truth_median_z_clean": (round(float(np.median(z_clean[truth])), 2)
                                     if truth.any() else None)}


def run(protocols: list[str], n: int, seed0: int, resolution: float) -> dict:
    """Render and score ``n`` sessions per protocol."""
    from simulator import render_session

    rows = []
    for protocol in protocols:
        for i in range(n):
            seed = seed0 + i
            s = render_session(seed=seed, group=GROUPS[i % 3], location=LOCATIONS[(i // 3) % 3],
                               resolution_mm=resolution, protocol=protocol)
            images = {k: s.images[k] for k in ("T1w", "T2w", "FLAIR", "T2starw")
                      if k in s.images}
            t0 = time.perf_counter()
            row = {"protocol": protocol, "seed": seed,
                   **ceiling_of_session(images, s.masks["wmh_mask"][0] > 0),
                   "seconds": round(time.perf_counter() - t0, 1)}
            rows.append(row)
            print(f"{protocol:26s} {seed} true {row['true_cm3']:6.2f} cm3  method "
                  f"{row['method']:.3f}  threshold {row['threshold']:.3f}  clean "
                  f"{row['threshold_clean_reference']:.3f}  boundary-only "
                  f"{row['boundary_only']:.3f}", flush=True)
    return {"seeds": [seed0, seed0 + n - 1], "resolution_mm": resolution,
            "summary": summarise(rows), "rows": rows}


def summarise(rows: list[dict]) -> dict:
    """Mean Dice per protocol of the method and of each oracle (sessions with >= 1 cm^3 of
    true WMH apart too: Dice is unstable on tiny loads)."""
    keys = ("method", "threshold", "threshold_clean_reference", "boundary_only")
    out = {}
    for p in dict.fromkeys(r["protocol"] for r in rows):
        sub = [r for r in rows if r["protocol"] == p]
        big = [r for r in sub if r["true_cm3"] >= 1.0]
        out[p] = {"n": len(sub), **{k: round(float(np.mean([r[k] for r in sub])), 4)
                                    for k in keys},
                  "n_at_least_1cm3": len(big),
                  **{f"{k}_at_least_1cm3": (round(float(np.mean([r[k] for r in big])), 4)
                                            if big else None) for k in keys}}
    return out


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--protocols", nargs="+", default=list(PROTOCOLS))
    p.add_argument("--n", type=int, default=9)
    p.add_argument("--seed0", type=int, default=2200)
    p.add_argument("--resolution", type=float, default=1.0)
    p.add_argument("--out", type=Path,
                   default=Path(__file__).parent / "results" / "wmh_ceiling.json")
    a = p.parse_args(argv)
    from calcisvd.env import apply_offline_env

    apply_offline_env()
    res = run(a.protocols, a.n, a.seed0, a.resolution)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(res, indent=2) + "\n")
    print("\nmean Dice (all sessions | sessions with >= 1 cm3 true WMH):")
    for proto, s in res["summary"].items():
        print(f"  {proto:26s} method {s['method']:.3f} | {s['method_at_least_1cm3']}; "
              f"best threshold {s['threshold']:.3f}; clean reference "
              f"{s['threshold_clean_reference']:.3f}; boundary-only {s['boundary_only']:.3f}")
    print(f"written {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
