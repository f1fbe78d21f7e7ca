"""One MRI session in memory: coregistration, anatomy, WMH, microbleeds, lacunes, measures.

:func:`quantify_svd` chains the steps of :mod:`tasks.svd.steps`, the same functions the Nipype
workflow (``tasks/workflows/mri.py``) runs as separate nodes; the benchmarks and unit tests call
it directly. The measures dict has exactly the names of :data:`calcisvd.measures.SVD_MEASURES`
plus ``status``, ``reason`` and ``qc``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from tasks.svd.anatomy import uncrop
from tasks.svd.image import DegenerateImageError
from tasks.svd.lesions import Lesion, detect_microbleeds, no_signal
from tasks.svd.register import coregister
from tasks.svd.steps import (
    anatomy_step,
    cavity_step,
    empty_measures,
    measures_step,
    microbleed_contrast,
    wmh_step,
)


@dataclass
class SVDResult:
    """Everything one session produced, on the reference grid."""

    measures: dict[str, Any]
    reference: str
    affine: NDArray
    images: dict[str, NDArray]
    masks: dict[str, NDArray] = field(default_factory=dict)
    lesions: dict[str, list[Lesion]] = field(default_factory=dict)


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
    try:
        a = anatomy_step(full, full_affine)
    except DegenerateImageError as exc:
        m = empty_measures("review", f"no brain found in the {ref} image ({exc}): markers "
                                     "not computed")
        return SVDResult(measures=m, reference=ref, affine=full_affine, images=full)
    anat, zimg, spacing, affine = a.anat, a.zimg, a.spacing, a.crop_affine
    res = SVDResult(measures={}, reference=ref, affine=full_affine, images=full)
    res.masks.update(brain=anat.brain, tissue=anat.tissue, ventricles=anat.ventricles)
    contrast = microbleed_contrast(set(zimg))
    mbs = None
    if contrast is not None:
        res.masks["microbleeds"], mbs = detect_microbleeds(
            zimg[contrast], anat, spacing, affine,
            no_signal=no_signal(full[contrast][a.box], full[ref][a.box]))
        res.lesions["microbleeds"] = mbs
    cav = cavity_step(zimg, anat, spacing, affine)
    if cav is not None and cav.lacunes is not None:
        res.masks.update(lacunes=cav.lacune_mask, pvs=cav.pvs_mask)
        res.lesions.update(lacunes=cav.lacunes, pvs=cav.pvs)
    elif cav is not None:  # not counted (thick slices), but their rim is not WMH
        res.masks["cavities"] = cav.cavity_mask
    wmh = contrast_sd = None
    if "FLAIR" in zimg:
        res.masks["wmh"], wmh, contrast_sd = wmh_step(
            zimg["FLAIR"], anat, spacing, t1_z=zimg.get("T1w"),
            lacune_mask=None if cav is None else cav.lacune_mask,
            cavity_mask=None if cav is None else cav.cavity_mask, wm_prior=a.wm_prior,
            flair_global_z=a.zglobal.get("FLAIR"))
    res.masks = {k: uncrop(v, a.box, a.shape) for k, v in res.masks.items()}
    res.measures = measures_step(
        wmh=wmh, wmh_contrast_sd=contrast_sd, microbleeds=mbs, contrast=contrast,
        lacunes=None if cav is None else cav.lacunes, pvs=None if cav is None else cav.pvs,
        bg_pvs_count=None if cav is None else cav.bg_pvs_count, notes=a.notes, qc=a.qc)
    return res
