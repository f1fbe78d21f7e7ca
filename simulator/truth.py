"""Ground truth from the rendered phantom: raw quantities only, no grades.

The simulator does not grade its own truth with the measurer's rules: it stores volumes,
counts, masses, positions and extents. Grades (Fazekas, punctate grade, SVD score, ICAC
severity group, dominant location, Agatston) are computed in ``bench/truth_grades.py`` from
these raw numbers with the published definitions.

ICAC, per artery and side: true deposit volume (analytic, see :mod:`.vessels`), mass
(``volume x HU x 0.001`` mg, the water-equivalent convention of ``calcisvd/measures.py``, on
each deposit's nominal density), plaque count, nominal max HU, largest arc. SVD: volumes from
the FLAIR-grid masks split at 10 mm from the ventricle wall, the largest deep component, and
the volumes of the small separate WMH components near the ventricles.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage as ndi

from calcisvd.measures import ARTERIES

PV_SPLIT_MM = 10.0
#: mg per (mm^3 x HU): the water-equivalent mass convention of the measures contract
MASS_MG_PER_MM3_HU = 0.001
CALCIUM_HU = 130.0  #: the Agatston threshold (paper README)


def icac_truth(ct_clean: NDArray, labels: NDArray, spacing: tuple[float, ...],
               plaques: list, volumes_mm3: list[float]) -> dict[str, Any]:
    """ICAC truth block: raw per-artery and session quantities (no severity, no Agatston)."""
    arteries = []
    vox = float(np.prod(spacing))
    for artery, side in ARTERIES:
        idx = [k for k, p in enumerate(plaques) if p.artery == artery and p.side == side]
        vol = float(sum(volumes_mm3[k] for k in idx))
        mask = np.isin(labels, [k + 1 for k in idx]) if idx else None
        arteries.append({
            "artery": artery, "side": side,
            "calcium_volume_mm3": round(vol, 3),
            "rendered_calcium_volume_mm3": round(float(
                (mask & (ct_clean >= CALCIUM_HU)).sum() * vox) if idx else 0.0, 3),
            "mass_mg": round(sum(volumes_mm3[k] * plaques[k].hu for k in idx)
                             * MASS_MG_PER_MM3_HU, 4),
            "n_plaques": len(idx),
            "max_hu": round(max(plaques[k].hu for k in idx), 1) if idx else None,
            "circumferential_extent_deg": round(max((plaques[k].arc_deg for k in idx),
                                                    default=0.0), 1),
            "n_bone_touching": sum(bool(getattr(plaques[k], "bone_gap_mm", None) is not None
                                        and plaques[k].bone_gap_mm <= 1.0) for k in idx),
        })
    total_vol = sum(a["calcium_volume_mm3"] for a in arteries)
    return {
        "arteries": arteries,
        "total_calcium_volume_mm3": round(total_vol, 3),
        "total_mass_mg": round(sum(a["mass_mg"] for a in arteries), 4),
        "total_plaques": len(plaques),
        "n_segments_involved": int(sum(a["n_plaques"] > 0 for a in arteries)),
        "max_circumferential_extent_deg": round(float(max((p.arc_deg for p in plaques),
                                                          default=0.0)), 1),
        "rendered_calcium_volume_mm3": round(float(
            ((labels > 0) & (ct_clean >= CALCIUM_HU)).sum() * vox), 3),
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
    """SVD truth block from FLAIR-grid masks: raw volumes and counts, no grades.

    Periventricular = within ``PV_SPLIT_MM`` of the ventricle wall. ``largest_deep_lesion_mm3``
    is the largest 26-connected deep component; ``pv_foci_volumes_mm3`` lists the volumes of
    the WMH components lying entirely within 10 mm of, and not touching, the ventricles (the
    punctate-focus candidates; bench/truth_grades.py applies the size limit).
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
    lab, n = ndi.label(wmh, structure=st)
    foci: list[float] = []
    if n:
        sizes = np.bincount(lab.ravel())[1:] * vox
        dmin, dmax = label_min_max(dist, lab, n)
        touch = min(spacing) * 1.01
        sel = (dmax <= PV_SPLIT_MM) & (dmin > touch)
        foci = sorted(round(float(v), 2) for v in sizes[sel])
    return {
        "wmh_volume_cm3": round(pv_cm3 + deep_cm3, 4),
        "wmh_pv_volume_cm3": round(pv_cm3, 4),
        "wmh_deep_volume_cm3": round(deep_cm3, 4),
        "largest_deep_lesion_mm3": round(largest, 3),
        "pv_foci_volumes_mm3": foci,
        "microbleed_count": int(n_microbleeds),
        "microbleed_volume_mm3": round(float((microbleeds > 0).sum() * vox), 3),
        "lacune_count": int(n_lacunes),
        "pvs_count": int(n_pvs),
        "bg_pvs_count": int(n_bg_pvs),
        "ventricle_volume_cm3": round(float(vent.sum() * vox / 1000.0), 3),
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
