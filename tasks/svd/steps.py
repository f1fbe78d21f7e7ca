"""The steps of one MRI session, each written once and called by both paths.

The in-memory chain (:func:`tasks.svd.pipeline.quantify_svd`, used by the benchmarks) and the
Nipype interfaces of the production workflow (``tasks/interfaces/svd.py``, one node per step)
call the same functions here, so the two give the same measures (a test runs both on one
session: ``tests/tasks/svd/test_parity.py``):

1. :func:`anatomy_step`: brain mask (MNI152 registration), bias correction, tissue classes,
   ventricles, NAWM-referenced z-scores, the session's QC metrics and the reasons known so far;
2. microbleeds: :func:`tasks.svd.lesions.detect_microbleeds` on :func:`microbleed_contrast`;
3. :func:`cavity_step`: lacunes and PVS, or, on slices too thick to tell them apart, only the
   mask of small cavities whose rim is not WMH;
4. :func:`wmh_step`: WMH on FLAIR, its measures and its contrast above NAWM;
5. :func:`measures_step`: the measures dict, QC attached, status ``review`` with the reasons
   when a QC metric is implausible.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from calcisvd.measures import SVD_MEASURES
from tasks.imaging.space import spacing_from_affine
from tasks.svd import rules
from tasks.svd.anatomy import Anatomy, distance_mm
from tasks.svd.wmh_grades import WMHResult

#: slices thicker than this (mm) cannot resolve PVS (< 3 mm wide) from lacunes (>= 3 mm): STRIVE
#: (Wardlaw JM et al., Lancet Neurol 2013) sizes; lacunes and PVS are then not reported
CAVITY_MAX_SLICE_MM = 3.0
#: contrasts on which cavities (CSF-like, dark on T1w/FLAIR, bright on T2w) are seen
CAVITY_CONTRASTS = frozenset({"T1w", "FLAIR", "T2w"})
#: slices thicker than this (mm): WMH volume and Fazekas grades are still reported, and the
#: session's ``reason`` says they are approximate. Measured on simulator seeds 2200-2208
#: (docs/markers.md, "Per protocol"): 3-D renders at 1-2 mm give WMH Dice 0.94-0.95 and a
#: volume error of 3-4%; 2-D FLAIR with 4.5-10 mm slices gives Dice 0.41-0.50, a volume error
#: of 24-45% and a Fazekas kappa of -0.02 to 0.70 (partial volume across the slice)
WMH_APPROX_SLICE_MM = 3.0


def cavities_measurable(spacing: tuple[float, ...]) -> bool:
    """True when the slice thickness allows telling PVS (< 3 mm) from lacunes (>= 3 mm)."""
    return float(max(spacing)) <= CAVITY_MAX_SLICE_MM


def microbleed_contrast(available: set[str] | list[str]) -> str | None:
    """T2starw when present, else T2w (flagged in ``microbleed_contrast``), else None."""
    if "T2starw" in available:
        return "T2starw"
    return "T2w" if "T2w" in available else None


def session_reasons(contrasts: set[str], spacing: tuple[float, ...],
                    has_ventricles: bool) -> list[str]:
    """What the session's contrasts, slice thickness and ventricles leave unmeasured, in the
    order the measures' ``reason`` lists them."""
    out = [] if has_ventricles else ["no ventricles found: all WMH counted as deep"]
    contrast = microbleed_contrast(contrasts)
    if contrast == "T2w":
        out.append("no T2*w/SWI: microbleeds counted on T2w")
    elif contrast is None:
        out.append("no T2*w or T2w: microbleeds not computed")
    if not cavities_measurable(spacing):
        out.append(f"slices {max(spacing):.1f} mm thick (> {CAVITY_MAX_SLICE_MM:g} mm): "
                   "lacunes and PVS not measurable")
    elif not CAVITY_CONTRASTS & set(contrasts):
        out.append("no T1w/T2w/FLAIR: lacunes and PVS not computed")
    if "FLAIR" not in contrasts:
        out.append("no FLAIR: WMH markers not computed")
    elif float(max(spacing)) > WMH_APPROX_SLICE_MM:
        out.append(f"slices {max(spacing):.1f} mm thick (> {WMH_APPROX_SLICE_MM:g} mm): WMH "
                   "volume and Fazekas grades approximate (partial volume across the slice)")
    return out


def session_qc(brain: NDArray, affine: NDArray, reference_image: NDArray,
               reg_info: Mapping | None, nawm: tuple[float, float] | None,
               wmh_contrast_sd: float | None = None,
               flair_local_sd_ratio: float | None = None) -> dict[str, Any]:
    """QC metrics (:func:`tasks.svd.review.qc_metrics`) of one session on the full grid."""
    from tasks.svd.review import qc_metrics

    return qc_metrics(brain=np.asarray(brain) > 0, affine=affine,
                      reference_image=reference_image, template=reg_info, nawm=nawm,
                      wmh_contrast_sd=wmh_contrast_sd,
                      flair_local_sd_ratio=flair_local_sd_ratio)


@dataclass
class AnatomyStep:
    """The anatomy of a session, cropped to the brain's bounding box ``box``."""

    reference: str  #: the reference contrast
    shape: tuple[int, ...]  #: the full grid
    box: tuple[slice, ...]
    spacing: tuple[float, float, float]
    crop_affine: NDArray  #: voxel -> RAS of the cropped grid
    anat: Anatomy
    zimg: dict[str, NDArray]  #: NAWM-referenced z-scores (cropped)
    #: z-scores against the global NAWM reference of the contrasts whose ``zimg`` is the local
    #: one (cropped; :func:`tasks.svd.anatomy.segment_anatomy`)
    zglobal: dict[str, NDArray]
    wm_prior: NDArray | None  #: registered template WM probability (cropped)
    reg_info: dict | None  #: template registration (tasks.svd.atlas.atlas_masks)
    qc: dict[str, Any]  #: QC metrics without the WMH contrast
    notes: list[str]  #: reasons known after this step (session_reasons)


def anatomy_step(full: Mapping[str, NDArray], affine: NDArray) -> AnatomyStep:
    """Step 1 on the contrasts ``full`` (float32, all on the grid of ``affine``).

    Raises :class:`tasks.svd.image.DegenerateImageError` when no brain is found. SimpleITK
    (template registration, N4) runs on one thread: byte-identical on any thread count.
    """
    from tasks.imaging.registration import sitk_threads

    with sitk_threads():
        return _anatomy_step(full, affine)


def _anatomy_step(full: Mapping[str, NDArray], affine: NDArray) -> AnatomyStep:
    from tasks.svd.anatomy import bounding_box, brain_mask, crop_affine, segment_anatomy, uncrop
    from tasks.svd.register import choose_reference

    spacing = spacing_from_affine(affine)
    brain, prior, info = brain_mask(dict(full), spacing, affine=affine)
    box = bounding_box(brain)
    wm_prior = None if info is None else info["wm_prior"][box]
    anat, zimg, zglobal = segment_anatomy({k: v[box] for k, v in full.items()}, spacing,
                                          brain=brain[box],
                                          ventricle_prior=None if prior is None else prior[box],
                                          wm_prior=wm_prior)
    ref = choose_reference(list(full))
    qc = session_qc(uncrop(anat.brain, box, brain.shape), affine, full[ref], info,
                    (anat.nawm or {}).get(ref),
                    flair_local_sd_ratio=(anat.local_sd_ratio or {}).get("FLAIR"))
    return AnatomyStep(reference=ref, shape=brain.shape, box=box, spacing=spacing,
                       crop_affine=crop_affine(affine, box), anat=anat, zimg=zimg,
                       zglobal=zglobal,
                       wm_prior=wm_prior, reg_info=info, qc=qc,
                       notes=session_reasons(set(zimg), spacing, bool(anat.ventricles.any())))


def anatomy_from_masks(brain: NDArray, tissue: NDArray, ventricles: NDArray,
                       spacing: tuple[float, ...]) -> Anatomy:
    """Rebuild :class:`Anatomy` (with its distance maps) from saved masks."""
    from scipy import ndimage

    brain = np.asarray(brain) > 0
    vent = np.asarray(ventricles) > 0
    depth = ndimage.distance_transform_edt(brain, sampling=spacing).astype(np.float32)
    return Anatomy(brain=brain, tissue=np.asarray(tissue, np.uint8), ventricles=vent,
                   dist_ventricle_mm=distance_mm(vent, spacing), depth_mm=depth)


@dataclass
class CavityStep:
    """Lacunes and PVS of a session (``None`` where not measurable)."""

    lacune_mask: NDArray | None
    pvs_mask: NDArray | None
    #: what WMH must not include: the PVS candidates, or on thick slices every small cavity
    cavity_mask: NDArray
    lacunes: list | None
    pvs: list | None
    bg_pvs_count: int | None


def cavity_step(zimg: Mapping[str, NDArray], anat: Anatomy, spacing: tuple[float, ...],
                affine: NDArray) -> CavityStep | None:
    """Step 3: lacunes, PVS and the basal-ganglia PVS count; on slices thicker than
    :data:`CAVITY_MAX_SLICE_MM` only the cavity mask. None without T1w, T2w or FLAIR."""
    from tasks.svd.lesions import (
        basal_ganglia_region,
        count_in_region,
        detect_lacunes,
        parenchymal_cavities,
    )

    if not CAVITY_CONTRASTS & set(zimg):
        return None
    if not cavities_measurable(spacing):
        return CavityStep(None, None, parenchymal_cavities(dict(zimg), anat, spacing),
                          None, None, None)
    lac_mask, pvs_mask, lac, pvs = detect_lacunes(dict(zimg), anat, spacing, affine)
    bg = count_in_region(pvs, basal_ganglia_region(anat), affine)
    return CavityStep(lac_mask, pvs_mask, pvs_mask, lac, pvs, bg)


def wmh_step(flair_z: NDArray, anat: Anatomy, spacing: tuple[float, ...], *,
             t1_z: NDArray | None, lacune_mask: NDArray | None, cavity_mask: NDArray | None,
             wm_prior: NDArray | None, flair_global_z: NDArray | None = None
             ) -> tuple[NDArray, WMHResult, float | None]:
    """Step 4: (WMH mask, its measures, its median FLAIR z above NAWM).

    Two passes: the second on FLAIR z referred to the NAWM outside the first pass's lesions
    (:func:`tasks.svd.wmh.lesion_free_z`; confluent lesions otherwise lift the local level).
    With ``flair_global_z`` (the FLAIR against the global NAWM reference, the WM intensity
    class, when ``flair_z`` is the local one) the first pass also runs on it and on the same
    FLAIR referred to the mode of the local reference's voxels with the SD of their dark side
    (:func:`tasks.svd.image.global_level_z`); the smaller of the two volumes is the measures'
    ``global_reference_cm3`` (the QC check :data:`tasks.svd.review.WMH_GLOBAL_EXCESS_MAX_CM3`:
    both global levels must see the load the local reference missed). Either alone misfires
    on normal loads: the WM class on FLAIR alone (below), the dark side where residual bias
    brightens the white matter (2 mm ``make demo`` sessions). And once more on the same FLAIR
    referred to the mode of the local reference's voxels
    (:func:`tasks.svd.image.global_level_z`), whose lesions are kept out of the second pass's
    reference too (a confluent load the local blocks absorbed). Not those of the WM-class
    pass: on FLAIR alone that class is the darker part of the white matter, and its 60-141 mL
    of "lesions" lowered the second pass's reference until growth ran through the subcortical
    white matter (simulator seed 2100, skull-stripped 3-D FLAIR-only: 61 mL for 0.7 true).
    """
    from tasks.svd.anatomy import nawm_reference
    from tasks.svd.image import global_level_z
    from tasks.svd.wmh import lesion_free_z, segment_wmh
    from tasks.svd.wmh_grades import lesion_contrast_sd, wmh_measures

    distances: dict = {}  # distance maps shared by the passes (same anatomy and grid)

    def segment(z: NDArray, own_levels: bool = True) -> NDArray:
        return segment_wmh(z, anat, spacing, t1_z=t1_z, exclude=lacune_mask,
                           cavities=cavity_mask, wm_prior=wm_prior, distances=distances,
                           own_levels=own_levels)

    mask = segment(flair_z)
    _, reference = nawm_reference(anat.brain, anat.tissue, anat.ventricles, anat.depth_mm,
                                  wm_prior)
    global_cm3 = seen = None
    if flair_global_z is not None:
        # the QC check's passes: the WM intensity class, and the mode with its dark side
        # lesions' edges at the session's level: with their own levels faint "lesions" of a
        # bias-bright or WM-class-darkened white matter grow (stripped3d 2106: 3 -> 59 mL)
        global_cm3 = min(float(segment(z, own_levels=False).sum()) for z in (
            flair_global_z,
            global_level_z(flair_global_z, reference, anat.brain, dark_side=True)))
        global_cm3 *= float(np.prod(spacing)) / 1000.0
        seen = segment(global_level_z(flair_global_z, reference, anat.brain))
    seen = mask if seen is None else mask | seen
    if seen.any():
        flair_z = lesion_free_z(flair_z, seen, reference, spacing, anat.brain)
        mask = segment(flair_z)
    res = wmh_measures(mask, anat.dist_ventricle_mm, spacing)
    res.global_reference_cm3 = global_cm3
    return mask, res, lesion_contrast_sd(flair_z, mask)


def empty_measures(status: str, reason: str | None) -> dict[str, Any]:
    """A measures dict with every SVD marker ``None``."""
    out: dict[str, Any] = {"status": status, "reason": reason}
    out.update({k: None for k in SVD_MEASURES})
    out["qc"] = None
    return out


def assemble_measures(*, wmh: WMHResult | Mapping | None, microbleeds: list | None,
                      contrast: str | None, lacunes: list | None, pvs: list | None,
                      bg_pvs_count: int | None, reasons: list[str]) -> dict[str, Any]:
    """SVD markers of one session.

    ``wmh`` is a :class:`WMHResult` (or its dict), lesion lists hold :class:`Lesion` records or
    their dicts; ``None`` means "not computed" and leaves the markers that need it ``None``.
    The SVD score (:func:`tasks.svd.rules.svd_score`) needs WMH, microbleeds and lacunes.
    """
    m = empty_measures("ok", None)
    reasons = list(reasons)
    if wmh is not None:
        w = wmh if isinstance(wmh, Mapping) else wmh.__dict__
        m.update(wmh_volume_cm3=round(w["volume_cm3"], 3),
                 wmh_pv_volume_cm3=round(w["pv_volume_cm3"], 3),
                 wmh_deep_volume_cm3=round(w["deep_volume_cm3"], 3),
                 fazekas_pv=int(w["fazekas_pv"]), fazekas_deep=int(w["fazekas_deep"]),
                 fazekas_total=int(w["fazekas_total"]),
                 pv_punctate_grade=int(w["pv_punctate_grade"]))
    if microbleeds is not None:
        vols = [x["volume_mm3"] if isinstance(x, Mapping) else x.volume_mm3 for x in microbleeds]
        m.update(microbleed_count=len(vols), microbleed_volume_mm3=round(float(sum(vols)), 2),
                 microbleed_contrast=contrast)
    if lacunes is not None:
        m["lacune_count"] = len(lacunes)
    if pvs is not None:
        m["pvs_count"] = len(pvs)
    if None not in (m["lacune_count"], m["microbleed_count"], m["fazekas_pv"]):
        m["svd_score"] = rules.svd_score(m["lacune_count"], m["microbleed_count"],
                                         m["fazekas_pv"], m["fazekas_deep"], bg_pvs_count)
    else:
        reasons.append("svd_score needs WMH, microbleeds and lacunes")
    m["reason"] = "; ".join(reasons) or None
    return m


def apply_review(measures: dict[str, Any], qc: dict[str, Any]) -> dict[str, Any]:
    """Attach the QC metrics; status ``review`` with the reasons when any is implausible or
    the WMH volume is implausible for the brain (:func:`tasks.svd.review.wmh_reasons`)."""
    from tasks.svd.review import review_reasons, wmh_reasons

    m = dict(measures)
    m["qc"] = qc
    bad = review_reasons(qc) + wmh_reasons(m.get("wmh_volume_cm3"), qc.get("brain_volume_ml"),
                                           qc.get("wmh_global_reference_cm3"))
    if bad and m.get("status") == "ok":
        m["status"] = "review"
        m["reason"] = "; ".join(bad + ([m["reason"]] if m.get("reason") else []))
    return m


def measures_step(*, wmh: WMHResult | Mapping | None, wmh_contrast_sd: float | None,
                  microbleeds: list | None, contrast: str | None, lacunes: list | None,
                  pvs: list | None, bg_pvs_count: int | None, notes: list[str],
                  qc: Mapping[str, Any] | None) -> dict[str, Any]:
    """Step 5: the measures (:func:`assemble_measures`), the QC metrics with the WMH contrast
    and the WMH volume against the global reference attached, and reviewed
    (:func:`apply_review`)."""
    m = assemble_measures(wmh=wmh, microbleeds=microbleeds, contrast=contrast, lacunes=lacunes,
                          pvs=pvs, bg_pvs_count=bg_pvs_count, reasons=notes)
    if qc is None:
        return m
    qc = dict(qc)
    if wmh_contrast_sd is not None:
        qc["wmh_contrast_sd"] = round(float(wmh_contrast_sd), 2)
    w = {} if wmh is None else (wmh if isinstance(wmh, Mapping) else wmh.__dict__)
    if w.get("global_reference_cm3") is not None:
        qc["wmh_global_reference_cm3"] = round(float(w["global_reference_cm3"]), 3)
    return apply_review(m, qc)
