"""One MRI session in memory: coregistration, anatomy, WMH, microbleeds, lacunes, measures.

:func:`quantify_svd` chains the steps that the Nipype workflow (``tasks/workflows/mri.py``) runs
as separate nodes; the benchmarks and unit tests call it directly. :func:`assemble_measures`
builds the measures dict with exactly the names of :data:`calcisvd.measures.SVD_MEASURES`
plus ``status`` and ``reason``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from calcisvd.measures import SVD_MEASURES
from tasks.imaging.space import spacing_from_affine
from tasks.svd import rules
from tasks.svd.anatomy import (
    Anatomy,
    bounding_box,
    brain_mask,
    crop_affine,
    distance_mm,
    segment_anatomy,
    uncrop,
)
from tasks.svd.image import DegenerateImageError
from tasks.svd.lesions import (
    Lesion,
    basal_ganglia_region,
    count_in_region,
    detect_lacunes,
    detect_microbleeds,
    parenchymal_cavities,
)
from tasks.svd.register import coregister
from tasks.svd.wmh import WMHResult, lesion_contrast_sd, segment_wmh, wmh_measures

#: slices thicker than this (mm) cannot resolve PVS (< 3 mm wide) from lacunes (>= 3 mm): STRIVE
#: (Wardlaw JM et al., Lancet Neurol 2013) sizes; lacunes and PVS are then not reported
CAVITY_MAX_SLICE_MM = 3.0


def cavities_measurable(spacing: tuple[float, ...]) -> bool:
    """True when the slice thickness allows telling PVS (< 3 mm) from lacunes (>= 3 mm)."""
    return float(max(spacing)) <= CAVITY_MAX_SLICE_MM


def apply_review(measures: dict[str, Any], qc: dict[str, Any]) -> dict[str, Any]:
    """Attach the QC metrics; status ``review`` with the reasons when any is implausible."""
    from tasks.svd.review import review_reasons

    m = dict(measures)
    m["qc"] = qc
    bad = review_reasons(qc)
    if bad and m.get("status") == "ok":
        m["status"] = "review"
        m["reason"] = "; ".join(bad + ([m["reason"]] if m.get("reason") else []))
    return m


@dataclass
class SVDResult:
    """Everything one session produced, on the reference grid."""

    measures: dict[str, Any]
    reference: str
    affine: NDArray
    images: dict[str, NDArray]
    masks: dict[str, NDArray] = field(default_factory=dict)
    lesions: dict[str, list[Lesion]] = field(default_factory=dict)


def empty_measures(status: str, reason: str | None) -> dict[str, Any]:
    """A measures dict with every SVD marker ``None``."""
    out: dict[str, Any] = {"status": status, "reason": reason}
    out.update({k: None for k in SVD_MEASURES})
    out["qc"] = None
    return out


def microbleed_contrast(available: set[str] | list[str]) -> str | None:
    """T2starw when present, else T2w (flagged in ``microbleed_contrast``), else None."""
    if "T2starw" in available:
        return "T2starw"
    return "T2w" if "T2w" in available else None


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


def quantify_svd(images: Mapping[str, tuple[NDArray, NDArray] | None], *,
                 register: bool = True) -> SVDResult:
    """Run every MRI step on one session held in memory.

    ``images`` maps ``T1w``, ``T2w``, ``FLAIR``, ``T2starw`` to ``(array, RAS affine)`` or
    ``None``. Missing contrasts leave their markers ``None`` with a reason; no MR image at all
    gives status ``missing``. A degenerate image raises
    :class:`tasks.svd.image.DegenerateImageError`.
    """
    from tasks.imaging.registration import sitk_threads

    with sitk_threads():  # byte-identical results whatever the caller's thread setting
        return _quantify_svd(images, register=register)


def _quantify_svd(images: Mapping[str, tuple[NDArray, NDArray] | None], *,
                  register: bool) -> SVDResult:
    present = {k: v for k, v in images.items() if v is not None}
    if not present:
        return SVDResult(measures=empty_measures("missing", "no MR image"), reference="",
                         affine=np.eye(4), images={})
    ref, full_affine, full = coregister(present, register=register)
    spacing = spacing_from_affine(full_affine)
    try:
        brain, prior, reg_info = brain_mask(full, spacing, affine=full_affine)
    except DegenerateImageError as exc:
        m = empty_measures("review", f"no brain found in the {ref} image ({exc}): markers "
                                     "not computed")
        return SVDResult(measures=m, reference=ref, affine=full_affine, images=full)
    box = bounding_box(brain)
    arrs = {k: v[box] for k, v in full.items()}
    affine = crop_affine(full_affine, box)
    wm_prior = None if reg_info is None else reg_info["wm_prior"][box]
    anat, zimg = segment_anatomy(arrs, spacing, brain=brain[box],
                                 ventricle_prior=None if prior is None else prior[box],
                                 wm_prior=wm_prior)
    res = SVDResult(measures={}, reference=ref, affine=full_affine, images=full)
    res.masks.update(brain=anat.brain, tissue=anat.tissue, ventricles=anat.ventricles)
    reasons: list[str] = []
    if not anat.ventricles.any():
        reasons.append("no ventricles found: all WMH counted as deep")
    contrast = microbleed_contrast(set(zimg))
    mbs = None
    if contrast is not None:
        mb_mask, mbs = detect_microbleeds(zimg[contrast], anat, spacing, affine)
        res.masks["microbleeds"] = mb_mask
        res.lesions["microbleeds"] = mbs
        if contrast == "T2w":
            reasons.append("no T2*w/SWI: microbleeds counted on T2w")
    else:
        reasons.append("no T2*w or T2w: microbleeds not computed")
    lac = pvs = None
    bg = None
    if not cavities_measurable(spacing):
        reasons.append(f"slices {max(spacing):.1f} mm thick (> {CAVITY_MAX_SLICE_MM:g} mm): "
                       "lacunes and PVS not measurable")
        if {"T1w", "FLAIR", "T2w"} & set(zimg):  # not counted, but their rim is not WMH
            res.masks["cavities"] = parenchymal_cavities(zimg, anat, spacing)
    elif {"T1w", "FLAIR", "T2w"} & set(zimg):
        lac_mask, pvs_mask, lac, pvs = detect_lacunes(zimg, anat, spacing, affine)
        res.masks.update(lacunes=lac_mask, pvs=pvs_mask)
        res.lesions.update(lacunes=lac, pvs=pvs)
        bg = count_in_region(pvs, basal_ganglia_region(anat), affine)
    else:
        reasons.append("no T1w/T2w/FLAIR: lacunes and PVS not computed")
    wmh = None
    contrast_sd = None
    if "FLAIR" in zimg:
        mask = segment_wmh(zimg["FLAIR"], anat, spacing, t1_z=zimg.get("T1w"),
                           exclude=res.masks.get("lacunes"),
                           cavities=res.masks.get("pvs", res.masks.get("cavities")),
                           wm_prior=wm_prior)
        wmh = wmh_measures(mask, anat.dist_ventricle_mm, spacing)
        contrast_sd = lesion_contrast_sd(zimg["FLAIR"], mask)
        res.masks["wmh"] = mask
    else:
        reasons.append("no FLAIR: WMH markers not computed")
    shape = next(iter(full.values())).shape
    res.masks = {k: uncrop(v, box, shape) for k, v in res.masks.items()}
    m = assemble_measures(wmh=wmh, microbleeds=mbs, contrast=contrast, lacunes=lac,
                          pvs=pvs, bg_pvs_count=bg, reasons=reasons)
    res.measures = apply_review(m, session_qc(res.masks["brain"], full_affine, full[ref],
                                              reg_info, (anat.nawm or {}).get(ref),
                                              contrast_sd))
    return res


def session_qc(brain: NDArray, affine: NDArray, reference_image: NDArray,
               reg_info: Mapping | None, nawm: tuple[float, float] | None,
               wmh_contrast_sd: float | None) -> dict[str, Any]:
    """QC metrics (:func:`tasks.svd.review.qc_metrics`) of one session on the full grid."""
    from tasks.svd.review import qc_metrics

    return qc_metrics(brain=np.asarray(brain) > 0, affine=affine,
                      reference_image=reference_image, template=reg_info, nawm=nawm,
                      wmh_contrast_sd=wmh_contrast_sd)


def anatomy_from_masks(brain: NDArray, tissue: NDArray, ventricles: NDArray,
                       spacing: tuple[float, ...]) -> Anatomy:
    """Rebuild :class:`Anatomy` (with its distance maps) from saved masks."""
    from scipy import ndimage

    brain = np.asarray(brain) > 0
    vent = np.asarray(ventricles) > 0
    depth = ndimage.distance_transform_edt(brain, sampling=spacing).astype(np.float32)
    return Anatomy(brain=brain, tissue=np.asarray(tissue, np.uint8), ventricles=vent,
                   dist_ventricle_mm=distance_mm(vent, spacing), depth_mm=depth)
