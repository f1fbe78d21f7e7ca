"""The MRI chain on the real scans of ``../shared/realdata`` (CI has them; skipped, with the
path in the message, on a machine without them).

What must hold on every real scan, checked here through ``bench.accuracy_real``'s functions:

* ``mri_lesions`` (3 real MS cases, 3-D 1 mm, skull-stripped, expert consensus masks), FLAIR
  only and with all contrasts: every case runs to a status of ``ok`` or ``review`` (never an
  exception), and a case with at least ``MIN_LOAD_ML`` of lesions is found at all (Dice >=
  ``MIN_DICE``: the README's "a WMH segmenter that gives Dice 0 on patient19 ... will not
  work on clinical SVD scans either"). The smaller loads are not held to a floor here: on the
  simulator's skull-stripped 3-D FLAIR-only protocol the cortex ribbon can be taken for WMH
  on a low load (tuning seed 2100: 61 mL for 0.7), a known open defect of issue 16;
* ``mri_unlabelled`` (a real FLAIR head with skull and neck): a brain of 1.0-1.8 L (issue 16's
  bar) and a status of ``ok`` or ``review``.

Issue 16's accuracy bars (mean Dice >= 0.60, none < 0.40, AVD <= 30%; the real head not
``review``) are measured by ``bench.accuracy_real`` and reported in the closing notes, not
asserted here. A failure message carries every case's figures (Dice, AVD, true and measured
mL, status, reason and QC).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.accuracy_real import BARS, lesion_cases, unlabelled

REPO = Path(__file__).resolve().parents[2]
CANDIDATES = (REPO.parent / "shared" / "realdata", Path("/work/shared/realdata"))
MIN_LOAD_ML = 20.0  #: patient19 of the README (~50 mL; patient26 ~8 mL, patient07 ~1.3 mL)
MIN_DICE = 0.2  #: "found at all": far below issue 16's per-case bar of 0.40


def _realdata(name: str) -> Path:
    for root in CANDIDATES:
        if (root / name).is_dir():
            return root / name
    return CANDIDATES[0] / name


def _figures(result: dict) -> str:
    """One line per case (and variant): the figures and the session's QC metrics."""
    keep = ("dice", "avd", "true_ml", "est_ml", "svd_status", "reason", "brain_volume_l",
            "mask_ras_min_mm", "mask_ras_max_mm", "qc")
    lines = []
    for case, variants in result.get("cases", {}).items():
        rows = {"": variants} if "svd_status" in variants else variants
        lines += [f"{case} {v}: " + json.dumps({k: r[k] for k in keep if k in r}, default=str)
                  for v, r in rows.items()]
    return "\n" + "\n".join(lines)


@pytest.fixture(scope="module")
def lesions() -> dict:
    r = lesion_cases(_realdata("mri_lesions"))
    if r["status"] == "absent":
        pytest.skip(f"real MS lesion scans absent ({r['path']}): no case with a FLAIR found")
    return r


@pytest.mark.parametrize("variant", ["flair_only", "all"])
def test_wmh_on_real_ms_lesions_runs_and_finds_the_larger_loads(lesions, variant):
    s = lesions.get(variant)
    assert s is not None, f"no case had a lesion mask: {_figures(lesions)}"
    msg = (f"{variant}: mean Dice {s['dice_mean']}, lowest {s['dice_min']}, largest AVD "
           f"{s['avd_max']}; per case: {_figures(lesions)}")
    cases = [c[variant] for c in lesions["cases"].values() if variant in c]
    assert cases and all(c["svd_status"] in ("ok", "review") for c in cases), msg
    loaded = [c for c in cases if c["true_ml"] >= MIN_LOAD_ML]
    assert loaded, msg
    assert all(c["dice"] >= MIN_DICE for c in loaded), msg


def test_real_flair_head_gets_a_plausible_brain():
    r = unlabelled(_realdata("mri_unlabelled"))
    if r["status"] == "absent":
        pytest.skip(f"real unlabelled FLAIR head absent ({r['path']})")
    lo, hi = BARS["brain_volume_l"]
    for name, s in r["cases"].items():
        msg = f"{name}: {_figures({'cases': {name: s}})}"
        assert s["svd_status"] in ("ok", "review"), msg
        assert lo <= (s.get("brain_volume_l") or 0.0) <= hi, msg
