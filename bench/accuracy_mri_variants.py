"""WMH accuracy on degraded versions of simulated sessions (generalisation check).

Without a simulator protocol for them, this bench degrades rendered sessions itself (bench
code, not simulator and not measurer code), FLAIR only and FLAIR + T1w:

* ``base``: the session as rendered;
* ``thick``: 2-D clinical-like: each ``--slab`` mm slab along the superior axis averaged
  (slice profile), one slice kept every ``--slab + --gap`` mm (a gap), truth = slab majority;
* ``skullstripped``: voxels outside a bench-made brain mask (FLAIR > 20% of its robust maximum,
  eroded 5 mm, largest component, dilated 4 mm, holes filled) set to 0, as in stripped exports;
* ``low_contrast``: lesion voxels pulled towards NAWM, I' = NAWM + ``--alpha`` x (I - NAWM)
  on FLAIR (NAWM = median FLAIR of the truth's non-lesion deep WM is not known here, so the
  median FLAIR over the brain mask's lesion-free voxels is used), giving lesions a few SD
  above NAWM instead of 11-19 SD.

Per variant: mean Dice, mean absolute volume difference (AVD, true >= 1 cm^3) and status.
Run: ``nice -n 10 .venv/bin/python -m bench.accuracy_mri_variants [--n 3] [--resolution 2]``;
writes ``bench/results/accuracy_mri_variants.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from scipy import ndimage

GROUPS = ("none_mild", "moderate", "severe")


def _ball(r_vox: int) -> np.ndarray:
    g = np.ogrid[tuple(slice(-r_vox, r_vox + 1) for _ in range(3))]
    return sum(x ** 2 for x in g) <= r_vox ** 2


def strip_mask(flair: np.ndarray, spacing: float) -> np.ndarray:
    """The bench's own rough brain mask (see module docstring)."""
    hi = np.percentile(flair[flair > np.percentile(flair, 5)], 99.5)
    fg = flair > 0.2 * hi
    core = ndimage.binary_erosion(fg, _ball(max(1, round(5 / spacing))))
    lab, n = ndimage.label(core)
    if n:
        core = lab == (np.bincount(lab.ravel())[1:].argmax() + 1)
    grown = ndimage.binary_dilation(core, _ball(max(1, round(4 / spacing))))
    return ndimage.binary_fill_holes(grown)


def thick(arr: np.ndarray, affine: np.ndarray, slab: int, gap: int, *, majority: bool = False):
    """Average ``slab`` voxels along the superior array axis, keep one every slab + gap."""
    axis = int(np.argmax(np.abs(affine[2, :3])))
    step = slab + gap
    n = (arr.shape[axis] - slab) // step + 1
    out = np.stack([np.take(arr, range(i * step, i * step + slab), axis=axis).mean(axis=axis)
                    for i in range(n)], axis=axis)
    aff = affine.copy()
    aff[:3, axis] = affine[:3, axis] * step
    aff[:3, 3] = affine[:3, 3] + affine[:3, axis] * (slab - 1) / 2.0
    return (out >= 0.5 if majority else out.astype(np.float32)), aff


def variants(s, resolution: float, slab_mm: float, gap_mm: float, alpha: float):
    """(name, images, truth) for each variant of one rendered session."""
    imgs = {k: s.images[k] for k in ("T1w", "FLAIR")}
    truth, aff_t = s.masks["wmh_mask"]
    truth = truth > 0
    yield "base", imgs, truth
    slab, gap = max(1, round(slab_mm / resolution)), max(0, round(gap_mm / resolution))
    th = {k: thick(a, f, slab, gap) for k, (a, f) in imgs.items()}
    yield "thick", th, thick(truth.astype(np.float32), aff_t, slab, gap, majority=True)[0]
    fl, fl_aff = imgs["FLAIR"]
    brain = strip_mask(fl, resolution)
    yield "skullstripped", {k: (np.where(brain, a, 0).astype(np.float32), f)
                            for k, (a, f) in imgs.items()}, truth
    nawm = float(np.median(fl[brain & ~truth]))
    low = np.where(truth, nawm + alpha * (fl - nawm), fl).astype(np.float32)
    yield "low_contrast", {"T1w": imgs["T1w"], "FLAIR": (low, fl_aff)}, truth


def run(n: int, resolution: float, seed0: int, slab_mm: float, gap_mm: float,
        alpha: float) -> dict:
    """Render ``n`` sessions, degrade, quantify, score."""
    from simulator import render_session
    from tasks.svd.pipeline import quantify_svd

    rows = []
    for i in range(n):
        seed = seed0 + i
        s = render_session(seed=seed, group=GROUPS[i % 3], location="MCA",
                           resolution_mm=resolution)
        for name, imgs, truth in variants(s, resolution, slab_mm, gap_mm, alpha):
            for contrasts in (("FLAIR",), ("FLAIR", "T1w")):
                t0 = time.perf_counter()
                r = quantify_svd({k: imgs[k] for k in contrasts})
                est = r.masks.get("wmh")
                if est is None:
                    est = np.zeros_like(truth)
                den = truth.sum() + est.sum()
                dice = float(2 * (truth & est).sum() / den) if den else 1.0
                vox = float(abs(np.linalg.det(imgs["FLAIR"][1][:3, :3]))) / 1000.0
                tv, ev = float(truth.sum()) * vox, float(est.sum()) * vox
                rows.append({"seed": seed, "variant": name, "contrasts": "+".join(contrasts),
                             "dice": round(dice, 4), "true_cm3": round(tv, 3),
                             "est_cm3": round(ev, 3), "status": r.measures["status"],
                             "reason": r.measures["reason"],
                             "wmh_contrast_sd": (r.measures.get("qc") or {}).get(
                                 "wmh_contrast_sd"),
                             "seconds": round(time.perf_counter() - t0, 1)})
                print(f"seed {seed} {name:13s} {'+'.join(contrasts):9s} dice {dice:.3f} "
                      f"vol {tv:.2f}/{ev:.2f} {r.measures['status']}", flush=True)
    summary = {}
    for name in ("base", "thick", "skullstripped", "low_contrast"):
        for c in ("FLAIR", "FLAIR+T1w"):
            sel = [r for r in rows if r["variant"] == name and r["contrasts"] == c]
            big = [r for r in sel if r["true_cm3"] >= 1.0]
            summary[f"{name}/{c}"] = {
                "dice_mean": round(float(np.mean([r["dice"] for r in sel])), 4),
                "avd_mean": round(float(np.mean([abs(r["est_cm3"] - r["true_cm3"])
                                                  / r["true_cm3"] for r in big])), 4)
                if big else None,
                "review": sum(r["status"] == "review" for r in sel), "n": len(sel)}
    return {"resolution_mm": resolution, "n_subjects": n, "seed0": seed0,
            "thick_slab_mm": slab_mm, "thick_gap_mm": gap_mm, "low_contrast_alpha": alpha,
            "summary": summary, "rows": rows}


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=3)
    p.add_argument("--resolution", type=float, default=2.0)
    p.add_argument("--seed0", type=int, default=2100)
    p.add_argument("--slab", type=float, default=6.0)
    p.add_argument("--gap", type=float, default=2.0)
    p.add_argument("--alpha", type=float, default=0.3)
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "results"
                   / "accuracy_mri_variants.json")
    a = p.parse_args(argv)
    from calcisvd.env import apply_offline_env

    apply_offline_env()
    res = run(a.n, a.resolution, a.seed0, a.slab, a.gap, a.alpha)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(res, indent=2, default=float) + "\n")
    for k, v in res["summary"].items():
        print(f"  {k:28s} Dice {v['dice_mean']:.3f}  AVD {v['avd_mean']}  review {v['review']}"
              f"/{v['n']}")
    print(f"written {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
