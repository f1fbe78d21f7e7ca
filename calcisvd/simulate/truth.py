"""Ground truth from rendered masks, graded with the project's shared rules.

ICAC: per artery and side, calcium volume is the true deposit volume (analytic, see
:mod:`.vessels`); Agatston, mass score and max HU come from :mod:`tasks.icac.scores` on the
noise-free CT within the plaque label map; severity and dominant location from
:mod:`tasks.icac.severity`. SVD: volumes from the FLAIR-grid masks, split at 10 mm from the
ventricle wall, graded by :mod:`tasks.svd.rules`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage as ndi

from calcisvd.measures import ARTERIES
from tasks.icac import scores, severity
from tasks.svd import rules

PV_SPLIT_MM = 10.0


def icac_truth(ct_clean: NDArray, labels: NDArray, spacing: tuple[float, ...],
               plaques: list, volumes_mm3: list[float]) -> dict[str, Any]:
    """ICAC truth block (names of :data:`calcisvd.measures.ARTERY_MEASURES` and session ones)."""
    arteries = []
    vol_by_seg: dict[tuple[str, str], float] = {}
    for artery, side in ARTERIES:
        idx = [k for k, p in enumerate(plaques) if p.artery == artery and p.side == side]
        mask = np.isin(labels, [k + 1 for k in idx]) if idx else np.zeros(labels.shape, bool)
        vol = float(sum(volumes_mm3[k] for k in idx))
        vol_by_seg[(artery, side)] = vol
        arteries.append({
            "artery": artery, "side": side,
            "calcium_volume_mm3": round(vol, 3),
            "agatston": round(scores.agatston_score(ct_clean, mask, spacing), 3),
            "mass_mg": round(scores.mass_score_mg(ct_clean, mask, spacing), 4),
            "n_plaques": len(idx),
            "max_hu": round(float(ct_clean[mask].max()), 1) if mask.any() else None,
            "circumferential_extent_deg": round(max((plaques[k].arc_deg for k in idx),
                                                    default=0.0), 1),
        })
    total_vol = sum(vol_by_seg.values())
    n_seg = sum(v > 0 for v in vol_by_seg.values())
    max_arc = max((p.arc_deg for p in plaques), default=0.0)
    return {
        "status": "ok", "reason": None, "arteries": arteries,
        "total_calcium_volume_mm3": round(total_vol, 3),
        "total_agatston": round(sum(a["agatston"] for a in arteries), 3),
        "total_mass_mg": round(sum(a["mass_mg"] for a in arteries), 4),
        "total_plaques": len(plaques),
        "n_segments_involved": int(n_seg),
        "max_circumferential_extent_deg": round(float(max_arc), 1),
        "severity_group": severity.severity_group(len(plaques), n_seg, max_arc, total_vol),
        "dominant_location": severity.dominant_location(vol_by_seg),
        "rendered_calcium_volume_mm3": round(float(
            scores.calcium_volume_mm3(ct_clean, labels > 0, spacing)), 3),
    }


def ventricle_distance(vent: NDArray, spacing: tuple[float, ...]) -> NDArray:
    """Distance (mm) of every voxel to the ventricles (0 inside)."""
    return ndi.distance_transform_edt(~vent, sampling=spacing).astype(np.float32)


def label_min_max(values: NDArray, labels: NDArray, n: int) -> tuple[NDArray, NDArray]:
    """Per-label minimum and maximum of ``values`` (labels 1..n), sorting labelled voxels only."""
    sel = labels > 0
    lab, val = labels[sel], values[sel]
    order = np.argsort(lab, kind="stable")
    lab, val = lab[order], val[order]
    starts = np.searchsorted(lab, np.arange(1, n + 1))
    return np.minimum.reduceat(val, starts), np.maximum.reduceat(val, starts)


def svd_truth(wmh: NDArray, vent: NDArray, microbleeds: NDArray, lacunes: NDArray,
              pvs: NDArray, spacing: tuple[float, ...], n_microbleeds: int, n_lacunes: int,
              n_pvs: int, n_bg_pvs: int, dist: NDArray | None = None) -> dict[str, Any]:
    """SVD truth block (names of :data:`calcisvd.measures.SVD_MEASURES`) from FLAIR-grid masks.

    Periventricular = within ``PV_SPLIT_MM`` of the ventricle wall. Deep Fazekas uses the
    largest 26-connected deep component; punctate PV foci are WMH components of at most
    ``rules.PUNCTATE_MAX_MM3`` lying entirely within 10 mm of, and not touching, the ventricles.
    """
    vox = float(np.prod(spacing))
    if dist is None:
        dist = ventricle_distance(vent, spacing)
    pv = wmh & (dist <= PV_SPLIT_MM)
    deep = wmh & (dist > PV_SPLIT_MM)
    pv_cm3 = pv.sum() * vox / 1000.0
    deep_cm3 = deep.sum() * vox / 1000.0
    st = np.ones((3, 3, 3), bool)
    lab, n = ndi.label(deep, structure=st)
    largest = float(np.bincount(lab.ravel())[1:].max() * vox) if n else 0.0
    f_pv = rules.fazekas_pv(pv_cm3)
    f_deep = rules.fazekas_deep(deep_cm3, largest)
    lab, n = ndi.label(wmh, structure=st)
    punct = 0
    if n:
        sizes = np.bincount(lab.ravel())[1:] * vox
        dmin, dmax = label_min_max(dist, lab, n)
        touch = min(spacing) * 1.01
        punct = int(((sizes <= rules.PUNCTATE_MAX_MM3) & (dmax <= PV_SPLIT_MM)
                     & (dmin > touch)).sum())
    return {
        "status": "ok", "reason": None,
        "wmh_volume_cm3": round(pv_cm3 + deep_cm3, 4),
        "wmh_pv_volume_cm3": round(pv_cm3, 4),
        "wmh_deep_volume_cm3": round(deep_cm3, 4),
        "fazekas_pv": f_pv, "fazekas_deep": f_deep, "fazekas_total": f_pv + f_deep,
        "microbleed_count": int(n_microbleeds),
        "microbleed_volume_mm3": round(float((microbleeds > 0).sum() * vox), 3),
        "microbleed_contrast": "T2starw",
        "lacune_count": int(n_lacunes),
        "pvs_count": int(n_pvs),
        "bg_pvs_count": int(n_bg_pvs),
        "pv_punctate_foci": punct,
        "pv_punctate_grade": rules.pv_punctate_grade(punct),
        "svd_score": rules.svd_score(n_lacunes, n_microbleeds, f_pv, f_deep, n_bg_pvs),
        "largest_deep_lesion_mm3": round(largest, 3),
    }


def jsonable(obj: Any) -> Any:
    """Recursively turn numpy scalars/arrays into plain Python values."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return obj
