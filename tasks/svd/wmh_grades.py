"""The measures of a WMH mask: volumes, periventricular/deep split, Fazekas proxies and
periventricular punctate foci (the rules of :mod:`tasks.svd.rules`), and the mask's contrast.

Split: periventricular (PV) = WMH within 10 mm of the ventricle wall, deep = the rest
(Fazekas 1987; the usual 10 mm rule, e.g. DeCarli C et al., Stroke 2005). Lesions are sized
for the grades by :func:`lesion_size_mm3` (on thick slices no deeper than a round lesion of
their in-plane size).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from tasks.svd import rules
from tasks.svd.components import components

PV_DISTANCE_MM = 10.0


@dataclass
class WMHResult:
    """WMH mask and its measures."""

    mask: NDArray[np.bool_]
    volume_cm3: float
    pv_volume_cm3: float
    deep_volume_cm3: float
    largest_deep_lesion_mm3: float
    n_punctate: int
    fazekas_pv: int
    fazekas_deep: int
    fazekas_total: int
    pv_punctate_grade: int
    punctate_mask: NDArray[np.bool_] = field(repr=False, default=None)  # type: ignore[assignment]
    #: WMH volume (cm^3) of a first pass against the global NAWM reference, when the mask's own
    #: reference is the local one (:func:`tasks.svd.steps.wmh_step`); QC, not a marker
    global_reference_cm3: float | None = None


def lesion_contrast_sd(flair_z: NDArray, wmh: NDArray[np.bool_]) -> float | None:
    """Median FLAIR z (robust SD above NAWM) of the WMH voxels; ``None`` without WMH (QC)."""
    return float(np.median(flair_z[wmh])) if np.any(wmh) else None


def lesion_size_mm3(lesion: NDArray[np.bool_], spacing: tuple[float, ...]) -> float:
    """Volume (mm^3) of one lesion for the grading rules (deep Fazekas, punctate foci), each
    slab along the coarsest axis counted only as deep as a round lesion of its in-plane size:
    per slab, area x min(slab thickness, max(2/3 x d, in-plane voxel)), d = 2 sqrt(area / pi)
    the area's equivalent diameter (2/3 d: a sphere's mean depth over its equator, so a round
    focus inside one slab gets its own volume).

    Fazekas grades and the punctate/confluent distinction are read on axial slices from the
    lesions' in-plane size (Fazekas F et al., AJR 1987; STRIVE: small round or ovoid foci,
    Wardlaw JM et al., Lancet Neurol 2013), and the truth they are scored against is the
    lesion's 3-D volume. A 5 mm focus (65 mm^3, punctate) seen in one 8 mm slab measures
    157 mm^3 by voxels (a 6.7 mm sphere: not punctate); by this rule 65 mm^3. Isotropic grids
    are unchanged: a slab's depth there is one voxel, and 2/3 d reaches a voxel from two voxels
    of area on (a one-voxel area keeps its voxel), so the size is the voxel volume sum.
    """
    sp = np.asarray(spacing, float)
    ax = int(np.argmax(sp))
    other = [i for i in range(lesion.ndim) if i != ax]
    areas = np.asarray(lesion, bool).sum(axis=tuple(other)) * float(np.prod(sp[other]))
    round_depth = np.maximum(2.0 / 3.0 * 2.0 * np.sqrt(areas / np.pi), float(sp[other].max()))
    return float((areas * np.minimum(sp[ax], round_depth)).sum())


def punctate_foci(wmh: NDArray[np.bool_], dist_ventricle_mm: NDArray,
                  spacing: tuple[float, ...]) -> tuple[int, NDArray[np.bool_]]:
    """Periventricular punctate foci: separate WMH components of <= 65 mm^3
    (:func:`lesion_size_mm3`) lying entirely within 10 mm of the ventricle wall but not
    touching it (every voxel farther than one voxel, 1.01 x the smallest spacing, from the
    ventricles). Returns (count, mask of the foci)."""
    lab, comps = components(wmh, spacing)
    touch = float(min(spacing)) * 1.01
    out = np.zeros(wmh.shape, bool)
    n = 0
    for c in comps:
        m = lab[c.slices] == c.label
        if lesion_size_mm3(m, spacing) > rules.PUNCTATE_MAX_MM3:
            continue
        d = dist_ventricle_mm[c.slices][m]
        if float(d.min()) > touch and float(d.max()) <= PV_DISTANCE_MM:
            n += 1
            out[c.slices] |= m
    return n, out


def wmh_measures(wmh: NDArray[np.bool_], dist_ventricle_mm: NDArray,
                 spacing: tuple[float, ...]) -> WMHResult:
    """Volumes (cm^3), PV/deep split at 10 mm, Fazekas proxies and punctate grade.

    Fazekas and punctate rules are those of :mod:`tasks.svd.rules`. The largest deep lesion is
    the largest 26-connected component of the deep part of the mask, sized by
    :func:`lesion_size_mm3` (on thick slices no deeper than it is wide).
    """
    vox_cm3 = float(np.prod(spacing)) / 1000.0
    pv = wmh & (dist_ventricle_mm <= PV_DISTANCE_MM)
    deep = wmh & ~pv
    lab, deep_comps = components(deep, spacing)
    largest = max((lesion_size_mm3(lab[c.slices] == c.label, spacing) for c in deep_comps),
                  default=0.0)
    n_punct, punct_mask = punctate_foci(wmh, dist_ventricle_mm, spacing)
    pv_cm3 = float(pv.sum() * vox_cm3)
    deep_cm3 = float(deep.sum() * vox_cm3)
    fpv = rules.fazekas_pv(pv_cm3)
    fdeep = rules.fazekas_deep(deep_cm3, largest)
    return WMHResult(mask=wmh, volume_cm3=float(wmh.sum() * vox_cm3), pv_volume_cm3=pv_cm3,
                     deep_volume_cm3=deep_cm3, largest_deep_lesion_mm3=float(largest),
                     n_punctate=n_punct, fazekas_pv=fpv, fazekas_deep=fdeep,
                     fazekas_total=fpv + fdeep, pv_punctate_grade=rules.pv_punctate_grade(n_punct),
                     punctate_mask=punct_mask)
