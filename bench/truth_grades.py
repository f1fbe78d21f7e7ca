"""Grades of the simulator's raw truth, from the published definitions (not from ``tasks/``).

The simulator (``simulator/truth.py``) stores raw volumes, counts and extents only. The
benchmarks grade them here, written from the definitions in ``../shared/paper/README.md``,
``docs/markers.md`` and ``docs/icac.md``, so the truth side never runs the measurer's code:

* Fazekas (Fazekas F et al., AJR 1987), automated proxies (docs/markers.md): periventricular
  (WMH within 10 mm of the ventricle wall) by volume, < 1 cm^3 -> 0, 1-5 -> 1, 5-12 -> 2,
  >= 12 -> 3; deep: none (< 0.05 cm^3) -> 0, else 1 + (largest deep lesion's equivalent
  diameter >= 10 mm) + (>= 20 mm).
* Periventricular punctate grade (docs/markers.md, after the reference study's 0-1/2/3):
  separate WMH foci <= 65 mm^3 within 10 mm of, not touching, the ventricles; 0 -> 0,
  1-2 -> 1, 3-5 -> 2, >= 6 -> 3.
* Total SVD score (Staals J et al., Neurology 2014): one point each for >= 1 lacune,
  >= 1 microbleed, > 10 basal-ganglia PVS, PV Fazekas 3 or deep Fazekas >= 2.
* Agatston (Agatston AS et al., JACC 1990; paper README): per axial slice, the area of each
  connected >= 130 HU region times the density weight of its peak (1: 130-199 HU,
  2: 200-299, 3: 300-399, 4: >= 400), scaled by slice thickness / 3 mm.
* ICAC severity (paper README): none/mild "no visible calcified spots, or only a few";
  moderate "several calcified spots, widely distributed" (>= 3 plaques over >= 2 artery
  segments); severe "extensive calcification with luminal narrowing": a deposit covering
  >= 180 deg of the wall (half-circumferential, the circumferential-extent reading of
  Kockelkoren R et al., Stroke 2017). No volume cut-point: the paper publishes none.
* Dominant location: the artery (sides pooled) holding the largest true calcium volume.
"""

from __future__ import annotations

import contextlib
import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

PV_CUTS_CM3 = (1.0, 5.0, 12.0)
DEEP_PRESENT_CM3 = 0.05
DEEP_DIAMETER_CUTS_MM = (10.0, 20.0)
PUNCTATE_MAX_MM3 = 65.0
PUNCTATE_CUTS = (1, 3, 6)
BG_PVS_POINT = 11  # "> 10"
CALCIUM_HU = 130.0
SEVERE_ARC_DEG = 180.0
MODERATE_PLAQUES, MODERATE_SEGMENTS = 3, 2


def _cuts(value: float, cuts: tuple[float, ...]) -> int:
    return int(sum(value >= c for c in cuts))


def svd_grades(svd: dict[str, Any]) -> dict[str, int]:
    """Fazekas PV/deep/total, punctate foci and grade, SVD score from a raw ``svd`` truth."""
    f_pv = _cuts(svd["wmh_pv_volume_cm3"], PV_CUTS_CM3)
    if svd["wmh_deep_volume_cm3"] < DEEP_PRESENT_CM3:
        f_deep = 0
    else:
        d = (6.0 * max(svd["largest_deep_lesion_mm3"], 0.0) / math.pi) ** (1 / 3)
        f_deep = 1 + _cuts(d, DEEP_DIAMETER_CUTS_MM)
    foci = sum(v <= PUNCTATE_MAX_MM3 for v in svd.get("pv_foci_volumes_mm3", []))
    score = (int(svd["lacune_count"] >= 1) + int(svd["microbleed_count"] >= 1)
             + int(svd["bg_pvs_count"] >= BG_PVS_POINT) + int(f_pv >= 3 or f_deep >= 2))
    return {"fazekas_pv": f_pv, "fazekas_deep": f_deep, "fazekas_total": f_pv + f_deep,
            "pv_punctate_foci": int(foci), "pv_punctate_grade": _cuts(foci, PUNCTATE_CUTS),
            "svd_score": score}


def severity_group(icac: dict[str, Any]) -> str:
    """ICAC severity group of a raw ``icac`` truth (module doc)."""
    if icac["max_circumferential_extent_deg"] >= SEVERE_ARC_DEG:
        return "severe"
    if (icac["total_plaques"] >= MODERATE_PLAQUES
            and icac["n_segments_involved"] >= MODERATE_SEGMENTS):
        return "moderate"
    return "none_mild"


def dominant_location(icac: dict[str, Any]) -> str | None:
    """Artery (sides pooled) with the largest true calcium volume; None without calcium."""
    tot: dict[str, float] = {}
    for a in icac["arteries"]:
        tot[a["artery"]] = tot.get(a["artery"], 0.0) + a["calcium_volume_mm3"]
    if not tot or max(tot.values()) <= 0:
        return None
    return max(tot, key=lambda k: tot[k])


def agatston(hu: NDArray, mask: NDArray, spacing: tuple[float, ...]) -> float:
    """Agatston score of ``mask`` on a CT (HU, axial = last axis), module doc."""
    from scipy import ndimage as ndi

    m = mask & (hu >= CALCIUM_HU)
    area = spacing[0] * spacing[1]
    total = 0.0
    for k in np.flatnonzero(m.any(axis=(0, 1))):
        lab, n = ndi.label(m[:, :, k])
        if not n:
            continue
        idx = np.arange(1, n + 1)
        peak = ndi.maximum(hu[:, :, k], lab, idx)
        size = ndi.sum(np.ones_like(lab), lab, idx) * area
        w = np.clip(np.floor(np.asarray(peak) / 100.0), 1, 4)
        total += float((np.asarray(size) * w).sum())
    return total * spacing[2] / 3.0


def icac_grades(truth: dict[str, Any], ct_clean: NDArray | None = None,
                labels: NDArray | None = None,
                spacing: tuple[float, ...] | None = None) -> dict[str, Any]:
    """Severity, dominant location and, given the noise-free CT and the plaque label map,
    Agatston per ``artery_side`` and in total, for one session's ``truth``."""
    icac = truth["icac"]
    out: dict[str, Any] = {"severity_group": severity_group(icac),
                           "dominant_location": dominant_location(icac)}
    if ct_clean is not None and labels is not None and spacing is not None:
        per: dict[str, float] = {}
        for a in icac["arteries"]:
            labs = [p["label"] for p in truth["plaques"]
                    if p["artery"] == a["artery"] and p["side"] == a["side"]]
            per[f"{a['artery']}_{a['side']}"] = (
                agatston(ct_clean, np.isin(labels, labs), spacing) if labs else 0.0)
        out["agatston_by_artery"] = per
        out["total_agatston"] = float(sum(per.values()))
    return out


def truth_grades(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Grades of one ``truth.json`` document, per block (``svd``, ``icac``), for the
    analytics report's truth-vs-measured comparison; a block lacking raw fields is left out."""
    out: dict[str, dict[str, Any]] = {}
    with contextlib.suppress(KeyError, TypeError):
        out["svd"] = svd_grades(doc["svd"])
    with contextlib.suppress(KeyError, TypeError):
        icac = doc["icac"]
        out["icac"] = {"severity_group": severity_group(icac),
                       "dominant_location": dominant_location(icac)}
    return out
