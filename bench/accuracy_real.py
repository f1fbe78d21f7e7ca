"""MRI markers on real scans: WMH against expert masks, brain mask and status on real heads.

Inputs (``--realdata``, default ``../shared/realdata`` next to the repository):

* ``mri_lesions/open_ms_data/patient*/``: 3-D 1 mm FLAIR, T1, T2 with a consensus lesion mask
  (``consensus_gt``/``GOLD_STANDARD``); WMH Dice and absolute volume difference (AVD) per case,
  FLAIR only and all contrasts (issue 16 bars: mean Dice >= 0.60, no case < 0.40, AVD <= 30%);
* ``mri_unlabelled/*.nii.gz``: a real FLAIR head with skull and neck; brain volume (bar
  1.0-1.8 L), mask position and status (bar: not ``review``);
* ``dicom/dcm_qa_ge/In/05_3D_Ax_T1_MP_RAGE_R22``: a GE 3-D T1w series, converted with
  dcm2niix; brain volume, mask position and status.

A missing input is recorded as ``"absent"`` with its path, never skipped silently.
Run: ``nice -n 10 .venv/bin/python -m bench.accuracy_real``; writes
``bench/results/accuracy_real.json`` and prints a summary.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
BARS = {"dice_mean": 0.60, "dice_min": 0.40, "avd_max": 0.30,
        "brain_volume_l": (1.0, 1.8)}
_NAMES = {"FLAIR": ("flair", "FLAIR"), "T1w": ("t1w", "T1W", "T1", "t1"),
          "T2w": ("t2w", "T2W", "T2", "t2")}


def _find(folder: Path, keys: tuple[str, ...]) -> Path | None:
    for f in sorted(folder.glob("*.nii*")):
        stem = f.name.split(".")[0]
        if any(stem == k or stem.endswith("_" + k) or stem.startswith(k) for k in keys):
            return f
    return None


def _load(path: Path):
    import nibabel as nib

    img = nib.load(str(path))
    return np.asarray(img.get_fdata(dtype=np.float32)), np.asarray(img.affine, float)


def _mask_summary(res) -> dict:
    brain = res.masks.get("brain")
    out = {"svd_status": res.measures["status"], "reason": res.measures["reason"],
           "qc": res.measures.get("qc")}
    if brain is not None and brain.any():
        idx = np.argwhere(brain > 0)
        ras = idx @ res.affine[:3, :3].T + res.affine[:3, 3]
        out["brain_volume_l"] = round(float(brain.sum()) * float(
            abs(np.linalg.det(res.affine[:3, :3]))) / 1e6, 3)
        out["mask_ras_min_mm"] = [round(float(v), 1) for v in ras.min(0)]
        out["mask_ras_max_mm"] = [round(float(v), 1) for v in ras.max(0)]
    return out


def lesion_cases(folder: Path) -> dict:
    """Dice/AVD per labelled case, FLAIR only and all contrasts."""
    from tasks.svd.pipeline import quantify_svd

    cases = sorted(p for p in folder.rglob("*") if p.is_dir() and _find(p, _NAMES["FLAIR"]))
    if not cases:
        return {"status": "absent", "path": str(folder)}
    out: dict = {"status": "present", "path": str(folder), "cases": {}}
    for variant, keys in (("flair_only", ("FLAIR",)), ("all", ("FLAIR", "T1w", "T2w"))):
        dices, avds = [], []
        for case in cases:
            gt_file = _find(case, ("consensus_gt", "GOLD_STANDARD", "gold_standard", "mask"))
            if gt_file is None:
                continue
            images = {k: _load(f) for k in keys if (f := _find(case, _NAMES[k])) is not None}
            t0 = time.perf_counter()
            res = quantify_svd(images)
            gt = _load(gt_file)[0] > 0.5
            est = res.masks.get("wmh", np.zeros_like(gt))
            den = gt.sum() + est.sum()
            dice = float(2 * (gt & est).sum() / den) if den else 1.0
            avd = float(abs(int(est.sum()) - int(gt.sum())) / max(int(gt.sum()), 1))
            vox = float(abs(np.linalg.det(images["FLAIR"][1][:3, :3]))) / 1000.0
            dices.append(dice)
            avds.append(avd)
            out["cases"].setdefault(case.name, {})[variant] = {
                "dice": round(dice, 4), "avd": round(avd, 4),
                "true_ml": round(float(gt.sum()) * vox, 2),
                "est_ml": round(float(est.sum()) * vox, 2),
                "seconds": round(time.perf_counter() - t0, 1), **_mask_summary(res)}
            print(f"{case.name} {variant}: Dice {dice:.3f} AVD {avd:.2f}", flush=True)
        if dices:
            out[variant] = {"dice_mean": round(float(np.mean(dices)), 4),
                            "dice_min": round(float(np.min(dices)), 4),
                            "avd_mean": round(float(np.mean(avds)), 4),
                            "avd_max": round(float(np.max(avds)), 4),
                            "passed": bool(np.mean(dices) >= BARS["dice_mean"]
                                           and np.min(dices) >= BARS["dice_min"]
                                           and np.max(avds) <= BARS["avd_max"])}
    return out


def unlabelled(folder: Path) -> dict:
    """Brain volume, mask position and status of each unlabelled real head (FLAIR)."""
    from tasks.svd.pipeline import quantify_svd

    files = sorted(folder.glob("*.nii*")) if folder.is_dir() else []
    if not files:
        return {"status": "absent", "path": str(folder)}
    out: dict = {"status": "present", "path": str(folder), "cases": {}}
    for f in files:
        name = "T1w" if "t1" in f.name.lower() else "FLAIR"
        res = quantify_svd({name: _load(f)})
        s = _mask_summary(res)
        lo, hi = BARS["brain_volume_l"]
        vol = s.get("brain_volume_l", 0)
        s["passed"] = bool(s["svd_status"] != "review" and lo <= vol <= hi)
        out["cases"][f.name] = s
        print(f"{f.name}: {s['svd_status']} brain {s.get('brain_volume_l')} L", flush=True)
    return out


def ge_t1w(series: Path) -> dict:
    """The GE 3-D T1w series: convert with dcm2niix, then run the T1w-only session."""
    from tasks.svd.pipeline import quantify_svd

    if not series.is_dir():
        return {"status": "absent", "path": str(series)}
    exe = shutil.which("dcm2niix") or str(Path(sys.executable).with_name("dcm2niix"))
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([exe, "-z", "y", "-o", tmp, str(series)], check=True,
                       capture_output=True)
        nii = sorted(Path(tmp).glob("*.nii.gz"))
        if not nii:
            return {"status": "conversion failed", "path": str(series)}
        arr, aff = _load(nii[0])
    res = quantify_svd({"T1w": (arr, aff)})
    out = {"status": "present", "path": str(series), "shape": list(arr.shape),
           **_mask_summary(res)}
    print(f"GE T1w: {res.measures['status']}: {res.measures['reason']}")
    return out


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--realdata", type=Path, default=ROOT.parent / "shared" / "realdata")
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results"
                   / "accuracy_real.json")
    a = p.parse_args(argv)
    from calcisvd.env import apply_offline_env

    apply_offline_env()
    rd = a.realdata if a.realdata.is_dir() else Path("/work/shared/realdata")
    res = {"realdata": str(rd), "bars": BARS,
           "mri_lesions": lesion_cases(rd / "mri_lesions"),
           "mri_unlabelled": unlabelled(rd / "mri_unlabelled"),
           "ge_t1w": ge_t1w(rd / "dicom" / "dcm_qa_ge" / "In" / "05_3D_Ax_T1_MP_RAGE_R22")}
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(res, indent=2, default=float) + "\n")
    for key in ("mri_lesions", "mri_unlabelled", "ge_t1w"):
        r = res[key]
        print(f"{key}: {r['status']} ({r['path']})")
    print(f"written {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
