"""Brain mask, tissue classes, ventricles and the NAWM reference on the reference grid (bias
correction: :mod:`tasks.svd.bias`).

All thresholds act on per-scan normalised intensities (robust z-scores or fractions of a robust
maximum inside the head), never on absolute scanner values.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from tasks.svd.bias import bias_correct, polynomial_bias_correct
from tasks.svd.image import (
    LOCAL_REF_MAX_SD_RATIO,
    DegenerateImageError,
    ball,
    blanked,
    local_reference_z,
    robust_stats,
)

CSF, GM, WM = 1, 2, 3
#: local NAWM reference voxels: registered MNI152 2009 WM probability (Fonov VS et al.,
#: NeuroImage 2011) at least this (the WMH seed territory, tasks.svd.wmh.WM_PRIOR_SEED)
LOCAL_REF_WM_PRIOR = 0.5
#: sign of "white-matter-ness" per contrast (WM bright on T1w, dark on T2w and FLAIR vs GM)
_WM_SIGN = {"T1w": 1.0, "T2w": -1.0, "FLAIR": -1.0, "T2starw": -1.0}
#: sign of "CSF-ness" per contrast (CSF dark on T1w and FLAIR, bright on T2w/T2*w)
_CSF_SIGN = {"T1w": -1.0, "T2w": 1.0, "FLAIR": -1.0, "T2starw": 1.0}


@dataclass
class Anatomy:
    """Anatomical labels on the reference grid."""

    brain: NDArray[np.bool_]
    tissue: NDArray[np.uint8]  #: 0 background, 1 CSF, 2 GM, 3 WM
    ventricles: NDArray[np.bool_]
    dist_ventricle_mm: NDArray[np.float32]  #: distance to the ventricle wall (mm)
    depth_mm: NDArray[np.float32]  #: distance to the brain surface (mm)
    #: contrast -> (median, robust SD) of the bias-corrected intensity in NAWM (QC)
    nawm: dict | None = None
    #: contrast -> robust SD of its locally re-referenced NAWM (template WM territory) in
    #: units of its global NAWM SD (WM class); above image.LOCAL_REF_MAX_SD_RATIO lesions
    #: filled the local reference and the global one was kept (QC; figures at the constant)
    local_sd_ratio: dict | None = None


def _largest_component(mask: NDArray[np.bool_]) -> NDArray[np.bool_]:
    lab, n = ndimage.label(mask)
    if n <= 1:
        return mask.astype(bool)
    sizes = np.bincount(lab.ravel())
    sizes[0] = 0
    return lab == int(sizes.argmax())


def brain_mask(images: dict[str, NDArray], spacing: tuple[float, ...], *,
               affine: NDArray | None = None, trim_mm: float = 2.0
               ) -> tuple[NDArray[np.bool_], NDArray[np.float32] | None, dict | None]:
    """Brain mask, ventricle prior and registration summary (MNI152 registration when
    ``affine`` is given).

    The intensity mask (:func:`intensity_brain_mask`) initialises the registration
    (:func:`tasks.svd.atlas.atlas_masks`) and is the fallback (with no prior and no summary)
    when the registration fails or gives an implausible volume. The summary (``scale``,
    ``fov_fraction``, ``metric``, ``warped_t1``) feeds the QC metrics (:mod:`tasks.svd.review`).
    Voxels a skull-stripped export blanked in the reference contrast
    (:func:`tasks.svd.image.blanked`) are never brain.
    """
    from tasks.svd.register import choose_reference

    brain, prior, info = _brain_mask(images, spacing, affine, trim_mm)
    return brain & ~blanked(images[choose_reference(list(images))]), prior, info  # not resampled


def _brain_mask(images: dict[str, NDArray], spacing: tuple[float, ...], affine: NDArray | None,
                trim_mm: float) -> tuple[NDArray[np.bool_], NDArray[np.float32] | None,
                                         dict | None]:
    rough = intensity_brain_mask(images, spacing)
    if affine is None:
        return rough, None, None
    from tasks.svd.atlas import atlas_masks

    try:
        brain, prior, info = atlas_masks(images, affine, rough)
    except (RuntimeError, OSError, ValueError):
        return rough, None, None
    vox_ml = float(np.prod(spacing)) / 1000.0
    # a collapsed registration: less than half the intensity mask, counted at most at the
    # largest plausible brain (on thick slices the 4 mm erosion cannot detach the scalp in z,
    # so the intensity mask can hold the whole head: 3.3 L on simulator seed 2104 clinical2d)
    from tasks.svd.review import PLAUSIBLE

    rough_ml = min(float(rough.sum()) * vox_ml, float(PLAUSIBLE["brain_volume_ml"][1]))
    if brain.sum() * vox_ml < 0.5 * rough_ml or brain.sum() * vox_ml < 50:
        return rough, None, None
    # the template mask is generous (it includes the outer CSF): trim its outer 2 mm
    depth = ndimage.distance_transform_edt(brain, sampling=spacing)
    return brain & (depth > trim_mm), prior, info


def intensity_brain_mask(images: dict[str, NDArray], spacing: tuple[float, ...], *,
                         erode_mm: float = 4.0, frac: float = 0.3) -> NDArray[np.bool_]:
    """Brain mask by thresholding, morphology and the largest connected component.

    Contrasts with dark CSF (T1w, FLAIR) are used when present, so that CSF and the inner skull
    table separate the brain from the diploe and scalp (T2w/T2*w only as a fallback). Per
    contrast, head voxels are those above ``frac`` (30%) of the robust maximum (99.5th
    percentile of voxels above the 5th-percentile background), the union over contrasts is
    eroded by ``erode_mm`` (detaches scalp and dura bridges), the largest component kept,
    dilated back inside the union and holes filled (ventricles). Raises
    :class:`~tasks.svd.image.DegenerateImageError` when the mask is implausibly small.
    """
    dark_csf = [n for n in ("T1w", "FLAIR") if n in images]
    head = None
    for arr in (images[n] for n in (dark_csf or list(images))):
        sm = ndimage.gaussian_filter(arr, 1.0 / np.asarray(spacing))
        hi = np.percentile(sm[sm > np.percentile(sm, 5)], 99.5) if (sm > 0).any() else 0.0
        fg = sm > frac * hi
        head = fg if head is None else head | fg
    assert head is not None
    se = ball(erode_mm, spacing)
    core = ndimage.binary_erosion(head, se)
    if not core.any():
        raise DegenerateImageError("brain mask: nothing left after erosion")
    core = _largest_component(core)
    brain = ndimage.binary_dilation(core, se) & head
    brain = _fill_holes(brain)
    vol_ml = brain.sum() * float(np.prod(spacing)) / 1000.0
    if vol_ml < 50:
        raise DegenerateImageError(f"brain mask: implausible volume {vol_ml:.1f} cm^3")
    return brain


def _fill_holes(mask: NDArray[np.bool_]) -> NDArray[np.bool_]:
    out = ndimage.binary_fill_holes(mask)
    for k in range(mask.shape[2]):  # slice-wise too: ventricles open to the surface (4th)
        out[:, :, k] = ndimage.binary_fill_holes(out[:, :, k])
    return out


def _kmeans_1d_init(x: NDArray, k: int) -> NDArray:
    return np.percentile(x, np.linspace(100 / (2 * k), 100 - 100 / (2 * k), k))


def kmeans(features: NDArray, k: int, *, iterations: int = 25, seed: int = 0,
           max_samples: int = 200_000) -> tuple[NDArray, NDArray]:
    """Lloyd's k-means on (n, d) features; returns (labels, centres).

    Centres start at the quantiles of the first principal component, which makes the result
    deterministic; the fit uses at most ``max_samples`` random rows, all rows are then assigned.
    """
    rng = np.random.default_rng(seed)
    x = features if len(features) <= max_samples else features[
        rng.choice(len(features), max_samples, replace=False)]
    mu = x.mean(0)
    _, _, vt = np.linalg.svd(x - mu, full_matrices=False)
    pc = (x - mu) @ vt[0]
    qs = _kmeans_1d_init(pc, k)
    centres = mu + np.outer(qs, vt[0])
    for _ in range(iterations):
        lab = np.argmin(((x[:, None, :] - centres[None]) ** 2).sum(-1), axis=1)
        new = np.array([x[lab == c].mean(0) if (lab == c).any() else centres[c]
                        for c in range(k)])
        if np.allclose(new, centres, atol=1e-4):
            break
        centres = new
    labels = np.empty(len(features), np.int64)
    for s in range(0, len(features), 500_000):
        chunk = features[s:s + 500_000]
        labels[s:s + 500_000] = np.argmin(((chunk[:, None, :] - centres[None]) ** 2).sum(-1), 1)
    return labels, centres


def tissue_classes(zimages: dict[str, NDArray], brain: NDArray[np.bool_],
                   fit_mask: NDArray[np.bool_] | None = None) -> NDArray[np.uint8]:
    """CSF / GM / WM labels by k-means on the robust z-scores of the available contrasts.

    Voxels beyond |z| = 6 on any contrast (lesions, vessels) are clipped before clustering.
    k = 3 clusters are named by their centres: CSF has the largest CSF-ness score
    (sum over contrasts of sign x centre, with CSF dark on T1w/FLAIR, bright on T2w/T2*w), WM
    the largest WM-ness score (WM bright on T1w, darker than GM on T2w/FLAIR) of the other two.
    With FLAIR alone WM and GM are poorly separated; the WMH step relies on depth instead.
    ``fit_mask`` restricts the fit (e.g. to voxels >= 5 mm deep, away from skull partial
    volume); every brain voxel is then given its nearest centre.
    """
    names = [n for n in ("T1w", "T2w", "FLAIR") if n in zimages] or list(zimages)
    feats = np.stack([np.clip(zimages[n][brain], -6, 6) for n in names], axis=1)
    if fit_mask is not None and (fit_mask & brain).sum() > 1000:
        fit = np.stack([np.clip(zimages[n][fit_mask & brain], -6, 6) for n in names], axis=1)
        _, centres = kmeans(fit, 3)
        labels = np.argmin(((feats[:, None, :] - centres[None]) ** 2).sum(-1), axis=1)
    else:
        labels, centres = kmeans(feats, 3)
    csf_score = centres @ np.array([_CSF_SIGN[n] for n in names])
    wm_score = centres @ np.array([_WM_SIGN[n] for n in names])
    csf = int(np.argmax(csf_score))
    rest = [c for c in range(3) if c != csf]
    wm = max(rest, key=lambda c: wm_score[c])
    gm = [c for c in rest if c != wm][0]
    lut = np.zeros(3, np.uint8)
    lut[csf], lut[gm], lut[wm] = CSF, GM, WM
    out = np.zeros(brain.shape, np.uint8)
    out[brain] = lut[labels]
    return out


def csf_like(zimages: dict[str, NDArray], brain: NDArray[np.bool_],
             tissue: NDArray[np.uint8]) -> NDArray[np.bool_]:
    """Voxels closer to CSF than to white matter on every available structural contrast.

    Per contrast with sign s (CSF dark on T1w and FLAIR: s = -1; bright on T2w: s = +1), the
    CSF level is the 95th percentile of s x z in the brain (CSF is the extreme tissue) and the
    WM level the median of s x z in the WM class; the cut is their midpoint. T2*w is not used.
    """
    out = brain.copy()
    wm_mask = tissue == WM
    for name, z in zimages.items():
        if name not in ("T1w", "T2w", "FLAIR"):
            continue
        s = _CSF_SIGN[name]
        sz = s * z
        level = float(np.percentile(sz[brain], 95))
        w = float(np.median(sz[wm_mask])) if wm_mask.any() else 0.0
        out &= sz > 0.5 * (level + w)
    return out


def distance_mm(mask: NDArray[np.bool_], spacing: tuple[float, ...]) -> NDArray[np.float32]:
    """Euclidean distance (mm) from every voxel to the nearest voxel of ``mask``.

    Infinity everywhere when ``mask`` is empty.
    """
    if not mask.any():
        return np.full(mask.shape, np.inf, np.float32)
    return ndimage.distance_transform_edt(~mask, sampling=spacing).astype(np.float32)


#: ventricles from the image: CSF-like voxels connected to the registered template ventricles,
#: at least this deep below the brain-mask surface (keeps sulcal and cisternal CSF out; the
#: lateral ventricles lie >= 15 mm deep in adults, MNI152 template) ...
VENTRICLE_MIN_DEPTH_MM = 8.0
#: ... and within this distance of the template ventricles: enlarged ventricles (atrophy,
#: hydrocephalus: Evans index up to ~0.4 vs 0.25-0.3 normal) extend up to ~20 mm beyond the
#: template's; the affine registration already absorbs head size
VENTRICLE_REACH_MM = 25.0


#: the image's ventricles (from the prior) are kept when they hold at least this fraction of the
#: registered template's ventricle volume; below it prior and image disagree and the intensity
#: rule (:func:`ventricles`) takes over. Lateral ventricle volume varies about 5-fold between
#: healthy adults (roughly 5-50 mL; e.g. Kaye JA et al., Neurology 2000 for its growth with
#: age), so small ventricles are a third of the template's or less: with 0.3, simulator seed
#: 2100 (clinical2d, 5.7 mL of ventricles vs 15 mL of template) went to the intensity rule,
#: which took the frontal interhemispheric fissure (ventricle Dice 0), moving the PV/deep
#: split and the periventricular growth zone
VENTRICLE_MIN_PRIOR_FRACTION = 0.1


def ventricles_from_prior(csf: NDArray[np.bool_], prior: NDArray, spacing: tuple[float, ...],
                          *, depth_mm: NDArray | None = None,
                          min_depth_mm: float = VENTRICLE_MIN_DEPTH_MM,
                          reach_mm: float = VENTRICLE_REACH_MM, min_volume_cm3: float = 0.5
                          ) -> NDArray[np.bool_]:
    """Ventricles from the image: the connected components of CSF-like voxels (at least
    ``min_depth_mm`` below the brain surface and within ``reach_mm`` of the registered template
    ventricles) that overlap the template ventricles themselves (the seed region), so enlarged
    ventricles are covered whole; components under ``min_volume_cm3`` are dropped."""
    p = prior > 0.5
    if not p.any():
        return np.zeros_like(csf)
    near = ndimage.distance_transform_edt(~p, sampling=spacing) <= reach_mm
    allowed = csf & near
    if depth_mm is not None:
        allowed &= (depth_mm >= min_depth_mm) | p
    lab, n = ndimage.label(allowed)
    if n == 0:
        return allowed
    sizes = np.bincount(lab.ravel()) * float(np.prod(spacing)) / 1000.0
    sizes[0] = 0
    core = np.zeros(n + 1, bool)
    core[np.unique(lab[p & allowed])] = True  # connected to the template's ventricles
    core[0] = False
    return np.isin(lab, np.flatnonzero((sizes >= min_volume_cm3) & core))


def ventricles(csf: NDArray[np.bool_], brain: NDArray[np.bool_], spacing: tuple[float, ...],
               *, depth_mm: NDArray | None = None, min_depth_mm: float = 12.0,
               min_volume_cm3: float = 2.5, grow_mm: float = 10.0) -> NDArray[np.bool_]:
    """Lateral/third ventricles: large CSF components deep in the brain.

    Seeds are connected components of CSF at least ``min_depth_mm`` from the brain surface with
    at least ``min_volume_cm3`` (bigger than the largest lacune, a 15 mm sphere = 1.8 cm^3);
    the ventricles are the seeds grown back (geodesic reconstruction) inside CSF that lies at
    least 8 mm deep and within ``grow_mm`` of a seed, so sulcal CSF (Sylvian fissure) is not
    included. Empty when no component qualifies.
    """
    if depth_mm is None:
        depth_mm = ndimage.distance_transform_edt(brain, sampling=spacing)
    vox_cm3 = float(np.prod(spacing)) / 1000.0
    deep = csf & (depth_mm >= min_depth_mm)
    lab, n = ndimage.label(deep)
    if n == 0:
        return np.zeros_like(brain)
    sizes = np.bincount(lab.ravel()) * vox_cm3
    sizes[0] = 0
    keep = np.flatnonzero(sizes >= min_volume_cm3)
    if keep.size == 0:
        return np.zeros_like(brain)
    seeds = np.isin(lab, keep)
    near = ndimage.distance_transform_edt(~seeds, sampling=spacing) <= grow_mm
    allowed = (csf & (depth_mm >= 8.0) & near) | seeds
    lab2, _ = ndimage.label(allowed)
    ids = np.unique(lab2[seeds])
    return np.isin(lab2, ids[ids > 0])


def bounding_box(mask: NDArray[np.bool_], margin: int = 4) -> tuple[slice, ...]:
    """Slices of the bounding box of ``mask`` grown by ``margin`` voxels (whole image if empty)."""
    if not mask.any():
        return tuple(slice(0, n) for n in mask.shape)
    idx = np.argwhere(mask)
    lo = np.maximum(idx.min(0) - margin, 0)
    hi = np.minimum(idx.max(0) + margin + 1, mask.shape)
    return tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))


def crop_affine(affine: NDArray, box: tuple[slice, ...]) -> NDArray:
    """Affine of the sub-volume ``arr[box]``."""
    out = np.asarray(affine, float).copy()
    out[:3, 3] = affine[:3, :3] @ np.array([s.start for s in box], float) + affine[:3, 3]
    return out


def uncrop(arr: NDArray, box: tuple[slice, ...], shape: tuple[int, ...]) -> NDArray:
    """Place a cropped array back into a zero array of ``shape``."""
    out = np.zeros(shape, arr.dtype)
    out[box] = arr
    return out


def nawm_reference(brain: NDArray[np.bool_], tissue: NDArray, vent: NDArray[np.bool_],
                   depth_mm: NDArray, wm_prior: NDArray | None
                   ) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """(global, local) normal-appearing WM reference voxels.

    Global: WM-class voxels deeper than 8 mm, not ventricle (else all non-CSF brain). Local:
    the registered template's WM territory (``wm_prior`` >= ``LOCAL_REF_WM_PRIOR``, > 3 mm deep,
    not ventricle) when it holds at least 1000 voxels, else the global set.
    """
    ref_mask = (tissue == WM) & (depth_mm > 8) & ~vent
    if ref_mask.sum() < 100:
        ref_mask = brain & (tissue != CSF)
    local_ref = ref_mask
    if wm_prior is not None:
        territory = brain & (wm_prior >= LOCAL_REF_WM_PRIOR) & ~vent & (depth_mm > 3.0)
        if territory.sum() >= 1000:
            local_ref = territory
    return ref_mask, local_ref


def segment_anatomy(images: dict[str, NDArray], spacing: tuple[float, ...], *,
                    brain: NDArray[np.bool_] | None = None,
                    ventricle_prior: NDArray | None = None,
                    wm_prior: NDArray | None = None,
                    bias_for: tuple[str, ...] = ("FLAIR", "T1w", "T2w")
                    ) -> tuple[Anatomy, dict[str, NDArray], dict[str, NDArray]]:
    """Brain mask, bias-corrected robust z-scores, tissue classes, ventricles and distances.

    ``brain`` and the registered template ``ventricle_prior`` may be given (e.g. computed
    before cropping); without a prior the ventricles come from :func:`ventricles`. N4 runs on
    the contrasts named in ``bias_for`` (microbleeds use a local contrast and need none); their
    z-scores are then referred to the *local* NAWM level
    (:func:`tasks.svd.image.local_reference_z`) over the registered template's WM territory
    ``wm_prior`` >= ``LOCAL_REF_WM_PRIOR`` when given (intensity classes mislabel bright
    frontal WM as GM under a residual bias field), else over the WM class; not when that local
    reference is wider than ``LOCAL_REF_MAX_SD_RATIO`` x the global one (a confluent load
    filled it): then the global z is kept.
    Returns the :class:`Anatomy`, the z-scored images (z = 0 outside the brain; each contrast is
    relative to its normal-appearing white matter: median 0, MAD-SD 1) and, for the contrasts
    whose z is the local one, their z against the global reference (the WMH step's check that
    a confluent load did not fill the local reference, :func:`tasks.svd.steps.wmh_step`).
    """
    from tasks.svd.image import robust_zscore

    if brain is None:
        brain, ventricle_prior, _ = brain_mask(images, spacing)
    corrected = {}
    for name, arr in images.items():
        corrected[name] = arr
        if name in bias_for:
            with contextlib.suppress(RuntimeError):
                corrected[name] = bias_correct(arr, brain, spacing)
    depth = ndimage.distance_transform_edt(brain, sampling=spacing).astype(np.float32)
    inner = brain & (depth >= 5.0)
    z0 = {n: robust_zscore(a, inner, brain) for n, a in corrected.items()}
    tissue = tissue_classes(z0, brain, inner)
    corrected = {n: polynomial_bias_correct(a, tissue, z0[n]) if n in bias_for else a
                 for n, a in corrected.items()}
    z0 = {n: robust_zscore(a, inner, brain) for n, a in corrected.items()}
    tissue = tissue_classes(z0, brain, inner)
    csf = csf_like(z0, brain, tissue)
    vent = None
    if ventricle_prior is not None and (ventricle_prior > 0.5).any():
        vent = ventricles_from_prior(csf, ventricle_prior, spacing, depth_mm=depth)
        if vent.sum() < VENTRICLE_MIN_PRIOR_FRACTION * (ventricle_prior > 0.5).sum():
            vent = None  # prior and image disagree: fall back to the intensity rule
    if vent is None:
        vent = ventricles(csf, brain, spacing, depth_mm=depth)
    dist_v = distance_mm(vent, spacing)
    # re-reference each contrast to its normal-appearing WM (deep WM-class voxels)
    ref_mask, local_ref = nawm_reference(brain, tissue, vent, depth, wm_prior)
    zimg = {}
    zglobal = {}
    nawm = {}
    local_sd = {}
    for name, arr in corrected.items():
        med, sd = robust_stats(arr[ref_mask])
        nawm[name] = (float(med), float(sd))
        z = np.zeros(arr.shape, np.float32)
        z[brain] = (arr[brain] - med) / sd
        if name in bias_for:  # smooth residual bias (thick slices): local NAWM reference
            z_local, ratio = local_reference_z(z, local_ref, spacing, brain)
            local_sd[name] = float(ratio)
            if ratio <= LOCAL_REF_MAX_SD_RATIO:  # else lesions filled it: keep the global
                zglobal[name] = z
                z = z_local
        zimg[name] = z
    anat = Anatomy(brain=brain, tissue=tissue, ventricles=vent, dist_ventricle_mm=dist_v,
                   depth_mm=depth, nawm=nawm, local_sd_ratio=local_sd)
    return anat, zimg, zglobal
