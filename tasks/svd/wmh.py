"""White-matter hyperintensities on FLAIR: segmentation, PV/deep split, Fazekas, punctate foci.

Segmentation (unsupervised outlier detection, after e.g. Jack CR et al., Stroke 2001 and
de Boer R et al., NeuroImage 2009): on the bias-corrected FLAIR, robust z relative to the
normal-appearing white matter (NAWM; median 0, MAD-SD 1),

1. seeds: z > ``k_seed`` at least ``ribbon_mm`` below the brain surface (no cortex);
2. growth: hysteresis into voxels with z > ``k_grow`` (not ventricle, not CSF-like);
   both thresholds are raised to at least the grey-matter level + 3 SD (+ 1.5 SD for
   growth), with the GM level and SD the robust median/SD of FLAIR z in the GM class (FLAIR:
   WMH > GM > WM), so cortex is not taken for lesion however low the noise is; seeds are
   detected on z smoothed with a Gaussian of sigma 0.5 voxel;
3. partial-volume edge at half the lesion level: keep voxels with
   z > max(k_grow, ``half`` x L), L = the 75th percentile of z over the seed voxels (the
   session's pure-lesion level), i.e. voxels at least half lesion by intensity;
4. lesions smaller than ``min_volume_mm3`` are dropped; with a T1w, voxels brighter than NAWM
   on T1w (z > 1.5, e.g. fat or enhancing vessels) are removed; the gliotic FLAIR rim of
   lacunes (voxels within ``exclude_mm`` of a given ``exclude`` mask) is not WMH, and neither
   is a lesion at least half of which lies within ``exclude_mm`` plus one voxel of a lacune or
   of a ``cavities`` voxel (PVS candidates: a small lacune can pass for a PVS).

Split: periventricular (PV) = WMH within 10 mm of the ventricle wall, deep = the rest
(Fazekas 1987; the usual 10 mm rule, e.g. DeCarli C et al., Stroke 2005).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from tasks.svd import rules
from tasks.svd.anatomy import Anatomy
from tasks.svd.components import CONN26, components
from tasks.svd.image import robust_stats

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


def segment_wmh(flair_z: NDArray, anat: Anatomy, spacing: tuple[float, ...], *,
                t1_z: NDArray | None = None, k_seed: float = 4.0, k_grow: float = 2.0,
                half: float = 0.5, ribbon_mm: float = 3.0,
                min_volume_mm3: float = 4.0, exclude: NDArray | None = None,
                exclude_mm: float = 3.0, cavities: NDArray | None = None
                ) -> NDArray[np.bool_]:
    """WMH mask from the NAWM-referenced FLAIR z-score (see module docstring)."""
    from tasks.svd.anatomy import GM

    region = anat.brain & ~anat.ventricles & (anat.dist_ventricle_mm > 0.0)
    gm = (anat.tissue == GM) & (anat.depth_mm >= ribbon_mm)
    if gm.sum() > 100:
        gm_med, gm_sd = robust_stats(flair_z[gm])
        k_seed = max(k_seed, gm_med + 3.0 * gm_sd)
        k_grow = max(k_grow, gm_med + 1.5 * gm_sd)
    zs = ndimage.gaussian_filter(flair_z, 0.5)
    seeds = region & (zs > k_seed) & (anat.depth_mm >= ribbon_mm)
    grow = region & (flair_z > k_grow)
    if t1_z is not None:
        seeds &= t1_z < 1.5
        grow &= t1_z < 1.5
    if exclude is not None and np.any(exclude):
        from tasks.svd.anatomy import distance_mm

        near = distance_mm(np.asarray(exclude, bool), spacing) <= exclude_mm
        seeds &= ~near
        grow &= ~near
    if not seeds.any():
        return np.zeros(flair_z.shape, bool)
    level = float(np.percentile(flair_z[seeds], 75))
    grow &= flair_z > max(k_grow, half * level)
    lab, n = ndimage.label(grow, structure=CONN26)
    keep_ids = np.unique(lab[seeds & grow])
    mask = np.isin(lab, keep_ids[keep_ids > 0])
    vox = float(np.prod(spacing))
    lab2, n2 = ndimage.label(mask, structure=CONN26)
    if n2:
        sizes = np.bincount(lab2.ravel()) * vox
        small = np.flatnonzero(sizes < min_volume_mm3)
        mask[np.isin(lab2, small[small > 0])] = False
    rims = [m for m in (exclude, cavities) if m is not None and np.any(m)]
    if rims and mask.any():
        from tasks.svd.anatomy import distance_mm

        # a lesion lying mostly in the rim zone of a cavity (a lacune missed or taken for a
        # PVS, or a lacune's rim reaching past exclude_mm) is that cavity's gliotic rim
        near = distance_mm(np.logical_or.reduce(rims), spacing) <= exclude_mm + max(spacing)
        lab3, n3 = ndimage.label(mask, structure=CONN26)
        frac = ndimage.mean(near, lab3, np.arange(1, n3 + 1))
        rim = np.flatnonzero(np.asarray(frac) >= 0.5) + 1
        mask[np.isin(lab3, rim)] = False
    return mask


def punctate_foci(wmh: NDArray[np.bool_], dist_ventricle_mm: NDArray,
                  spacing: tuple[float, ...]) -> tuple[int, NDArray[np.bool_]]:
    """Periventricular punctate foci: separate WMH components of <= 65 mm^3 lying entirely
    within 10 mm of the ventricle wall but not touching it (every voxel farther than one voxel,
    1.01 x the smallest spacing, from the ventricles). Returns (count, mask of the foci)."""
    lab, comps = components(wmh, spacing)
    touch = float(min(spacing)) * 1.01
    out = np.zeros(wmh.shape, bool)
    n = 0
    for c in comps:
        if c.volume_mm3 > rules.PUNCTATE_MAX_MM3:
            continue
        m = lab[c.slices] == c.label
        d = dist_ventricle_mm[c.slices][m]
        if float(d.min()) > touch and float(d.max()) <= PV_DISTANCE_MM:
            n += 1
            out[c.slices] |= m
    return n, out


def wmh_measures(wmh: NDArray[np.bool_], dist_ventricle_mm: NDArray,
                 spacing: tuple[float, ...]) -> WMHResult:
    """Volumes (cm^3), PV/deep split at 10 mm, Fazekas proxies and punctate grade.

    Fazekas and punctate rules are those of :mod:`tasks.svd.rules`. The largest deep lesion is
    the largest 26-connected component of the deep part of the mask.
    """
    vox_cm3 = float(np.prod(spacing)) / 1000.0
    pv = wmh & (dist_ventricle_mm <= PV_DISTANCE_MM)
    deep = wmh & ~pv
    _, deep_comps = components(deep, spacing)
    largest = max((c.volume_mm3 for c in deep_comps), default=0.0)
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
