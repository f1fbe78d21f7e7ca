"""Calcified voxels in the artery regions and the per-artery / per-session ICAC measures.

Segmentation (:func:`segment_calcium`), absolute HU, with no use of where the template's
centrelines fall (real arteries lie 3-8 mm off an atlas line; issue 17):

1. candidates: voxels >= 130 HU (the Agatston threshold) inside an artery region
   (:mod:`tasks.icac.regions`, 11 mm around the mapped atlas lines: they bound the search and
   name the artery, nothing more);
2. bone zone (:func:`bone_zone`): the skull (:func:`tasks.icac.headmask.skull_mask`, the
   >= 300 HU components of >= 5 cm^3, i.e. everything connected to the calvaria and skull
   base) opened with a ball of ``BONE_OPEN_MM`` (1 mm, at least one voxel), which detaches
   deposits and plates thinner than about two voxels, then dilated by ``BONE_RIM_MM`` (1 mm,
   at least one voxel; at least ``SLAB_RIM_FRACTION`` = half the slice thickness, since a
   thick slab averages a sloping bone surface over about its thickness in-plane: 2.5 mm at
   5 mm slices, chosen on seeds 7100-7108 at 5 mm: false calcium 219 -> 7 mm^3/subject with no
   plaque lost; the full thickness lost plaques) to cover the partial-volume rim of the bone
   surface (130-300 HU); candidates in it are bone;
3. the other candidates form 3-D components (26-connectivity). A component is bone, not a
   wall deposit, when (a) it is thick: its largest inscribed half-thickness (Euclidean
   distance transform in mm) exceeds ``MAX_HALF_THICKNESS_MM`` (4 mm: wider than the
   largest artery, an ICA of 5 mm lumen with a circumferential deposit, even when partial
   volume at 2 mm voxels fills its whole cross-section; a tighter 2.5 mm dropped such a
   basilar plaque of the 2 mm test phantom), or (b) it is a remnant of bone cut by the
   opening: at least ``MAX_BONE_CONTACT`` (half) of its voxels are next to the bone zone (the
   rim of curved cortex), or (c) at least ``MAX_SKULL_SHARE`` (half) of its voxels are in the
   skull mask (thin plates of the skull base, canal walls, foramen edges), or (d) on thick
   slices (:func:`thick_slices`: thicker than ``THICK_SLICE_MM``), at least ``MAX_BONE_SHARE``
   (35%) of its voxels are one or the other: the band of partial volume a sloping surface
   such as the clivus leaves in the slab beside it is partly both. A deposit lying beside
   bone touches it with its outer layer only and is kept;
4. each kept component goes as a whole to the artery whose region holds most of its voxels;
5. (:func:`tasks.icac.wall.reassign_by_course`, given the mapped lines) a deposit of at least
   ``wall.COURSE_MIN_MM3`` moves to a neighbouring artery (line within the region radius) whose
   course it fits ``wall.COURSE_FIT_RATIO`` times better: the region names the artery by the
   nearest atlas line, which near the ICA terminus can be the M1's. Not on slices thicker
   than ``THICK_SLICE_MM``: there the slices cut a deposit's cross-section into a few
   slabs, and the wall fit names the wrong artery more often than the region does.

The shape constants were chosen on simulator seeds 7100-7108 (1 mm, paper protocol:
false-positive calcium 0.7 mm^3 per subject, plaque sensitivity 0.65); ``MAX_BONE_SHARE`` on
seeds 7100-7105 in the tilted 5 mm clinical protocol (see its comment); the benchmarks report
held-out seeds. Limitation: a deposit fused with the bone cortex (no soft tissue between them
at the scanner's resolution: the petrous and cavernous carotid in its canal, the vertebral
artery at the dural entry) is part of the skull mask and of the bone zone and is not counted;
``bone_touching_volume_mm3`` reports the volume of the deposits that were found touching bone,
so that a reader knows which counts lie on bone.

Measures (:func:`measure_icac`): per (artery, side) the scores of :mod:`tasks.icac.scores`
(volume, slice-thickness-corrected Agatston, mass), the number of plaques (3-D components,
26-connectivity, pieces less than ``PLAQUE_GAP_MM`` = 2 mm apart merged:
:func:`plaque_labels`), the peak HU and the circumferential extent
(:func:`tasks.icac.wall.circumferential_extent_deg`);
per session the totals, the number of segments with a plaque, the largest extent, the severity
group and the dominant location (:mod:`tasks.icac.severity`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from calcisvd.measures import (
    ARTERIES,
    ARTERY_MEASURES,
    ICAC_ARTERY_LOCATION,
    ICAC_QC_MEASURES,
    ICAC_SESSION_MEASURES,
)
from tasks.icac import scores, severity
from tasks.icac.regions import MappedCentreline
from tasks.icac.wall import circumferential_extent_deg, location_along_vessel

BONE_OPEN_MM = 1.0  #: opening ball of the skull (measured on simulator seeds 7100-7108)
BONE_RIM_MM = 1.0  #: partial-volume rim of bone counted as bone (seeds 7100-7108)
#: thick slices: the rim is at least this fraction of the slice thickness (a slab averages a
#: sloping bone surface over about its thickness in-plane; seeds 7100-7108 at 5 mm)
SLAB_RIM_FRACTION = 0.5
MAX_HALF_THICKNESS_MM = 4.0  #: thicker components are bone, not a wall deposit (see doc)
MAX_BONE_CONTACT = 0.5  #: this share of voxels next to bone: a bone remnant (seeds 7100-7108)
MAX_SKULL_SHARE = 0.5  #: this share of voxels in the skull mask: a thin plate of the skull
#: thick slices (:func:`thick_slices`): this share of a component's
#: voxels in the skull mask *or* next to the bone zone is bone. Measured on simulator seeds
#: 7100-7105 in the tilted 5 mm clinical protocol: the partial-volume bands of the clivus that
#: the two separate halves let through as 930-1055 mm^3 of "basilar calcium" per subject were
#: 23-45% the one and 25-43% the other, 39-55% as one share; the true plaques kept on those
#: seeds (5 mm and clinical) 0%, at 1 mm (seeds 7100-7108) at most 25%. Not on thin slices:
#: a deposit on the carotid canal of the 2 mm test phantom is 31% next to the zone and 38% in
#: the skull (54% as one share) and is kept.
MAX_BONE_SHARE = 0.35
PLAQUE_GAP_MM = 2.0  #: deposits closer than this are one plaque
#: slices thicker than this (mm) are *thick* (:func:`thick_slices`), for two rules: the slab's
#: partial volume beside a sloping bone surface is wider than the 1 mm bone rim (the bone-share
#: rule (d), measured at 2.5 and 5 mm), and a deposit's cross-section is no longer resolved
#: across the vessel wall (the course rule, chosen at 1 mm and failing at 2.5 mm on seeds
#: 7100-7108, see :func:`tasks.icac.wall.reassign_by_course`). 2 mm, between the measured 1
#: and 2.5 mm, is two thirds of the thinnest artery's diameter (M1, 3 mm): a judgement, not a
#: measurement.
#: In mm, not as a ratio to the in-plane spacing: a routine head CT of 0.45 mm pixels and 1 mm
#: slices (ratio 2.2) has a 1 mm slab, as thin as the simulator's isotropic 1 mm grid.
THICK_SLICE_MM = 2.0
#: "next to the bone zone" (rules (b) and (d)): within this distance per axis (mm; at least one
#: voxel). MAX_BONE_CONTACT and MAX_BONE_SHARE were measured on 1 mm grids, where it is the
#: 26-neighbourhood; in voxels it would halve on a routine CT's 0.45-0.5 mm pixels, and bone
#: remnants there fell under the contact share (simulator seeds 7100-7108 rendered at 0.5 mm:
#: false calcium 5.8 mm^3 per subject with one voxel, 1.1 with NEAR_MM; 0.6 at 1 mm)
NEAR_MM = 1.0
_S26 = np.ones((3, 3, 3), bool)


def _box(mm: float, spacing: tuple[float, ...]) -> NDArray[np.bool_]:
    """A box structuring element reaching ``mm`` per axis (rounded; at least one voxel)."""
    half = [max(1, int(round(mm / float(s)))) for s in spacing]
    return np.ones(tuple(2 * h + 1 for h in half), bool)


def thick_slices(spacing: tuple[float, ...]) -> bool:
    """True when a voxel side (the slice spacing) exceeds ``THICK_SLICE_MM``."""
    return float(max(spacing)) > THICK_SLICE_MM


def bone_zone(skull: NDArray[np.bool_], spacing: tuple[float, ...],
              box: tuple[slice, ...] | None = None,
              bone_open_mm: float = BONE_OPEN_MM,
              bone_rim_mm: float = BONE_RIM_MM) -> NDArray[np.bool_]:
    """Bone and its partial-volume rim: the skull opened by ``bone_open_mm``, dilated by
    ``bone_rim_mm`` (both balls in mm, at least one voxel per axis); computed inside ``box``
    (slices of the grid; whole grid without it), False elsewhere."""
    from scipy import ndimage

    from tasks.icac.headmask import _ball

    box = box or tuple(slice(0, n) for n in skull.shape)
    core = ndimage.binary_opening(skull[box], structure=_ball(
        max(bone_open_mm, float(min(spacing))), spacing))
    zone = np.zeros(skull.shape, bool)
    zone[box] = ndimage.binary_dilation(core, structure=_ball(bone_rim_mm, spacing))
    return zone


def segment_calcium(hu: NDArray, spacing: tuple[float, ...],
                    regions: NDArray, skull: NDArray[np.bool_],
                    bone_open_mm: float = BONE_OPEN_MM,
                    bone_rim_mm: float = BONE_RIM_MM,
                    max_half_thickness_mm: float = MAX_HALF_THICKNESS_MM,
                    max_bone_contact: float = MAX_BONE_CONTACT,
                    max_skull_share: float = MAX_SKULL_SHARE,
                    max_bone_share: float = MAX_BONE_SHARE) -> NDArray[np.uint8]:
    """Label map of calcified voxels (1..7 in ARTERIES order); rule in the module doc.

    The rule takes no centreline: it does not depend on where the template's lines fall
    (issue 17); ``regions`` only bound the search and name the artery.
    """
    from scipy import ndimage

    cand = (hu >= scores.CALCIUM_HU) & (regions > 0)
    out = np.zeros(hu.shape, np.uint8)
    if not cand.any():
        return out
    bone_rim_mm = max(bone_rim_mm, SLAB_RIM_FRACTION * float(max(spacing)))
    pad = int(np.ceil((bone_open_mm * 2 + bone_rim_mm) / float(min(spacing)))) + 2
    sl = ndimage.find_objects((regions > 0).astype(np.uint8))[0]
    sl = tuple(slice(max(0, s.start - pad), min(n, s.stop + pad))
               for s, n in zip(sl, hu.shape, strict=True))
    zone = bone_zone(skull, spacing, sl, bone_open_mm, bone_rim_mm)
    cal = cand & ~zone
    if not cal.any():
        return out
    comps, n = ndimage.label(cal[sl], structure=_S26)
    edt = ndimage.distance_transform_edt(cal[sl], sampling=spacing)
    ids = np.arange(1, n + 1)
    half = np.asarray(ndimage.maximum(edt, comps, ids))
    near = ndimage.binary_dilation(zone[sl], structure=_box(NEAR_MM, spacing))
    contact = np.asarray(ndimage.mean(near, comps, ids))
    in_skull = np.asarray(ndimage.mean(skull[sl], comps, ids))
    bone = (half > max_half_thickness_mm) | (contact >= max_bone_contact) | (
        in_skull >= max_skull_share)
    if thick_slices(spacing):  # one share of both
        bone |= np.asarray(ndimage.mean(near | skull[sl], comps, ids)) >= max_bone_share
    bone = ids[bone]
    comps[np.isin(comps, bone)] = 0
    # one artery per deposit: the region label most of its voxels fall in (a deposit near a
    # junction - ICA terminus / M1, vertebrobasilar - is not split between two arteries)
    reg = regions[sl]
    sel = comps > 0
    votes = np.zeros((n + 1, len(ARTERIES) + 1), np.int64)
    np.add.at(votes, (comps[sel], reg[sel]), 1)
    votes[:, 0] = 0
    owner = votes.argmax(1).astype(np.uint8)
    owner[0] = 0
    out[sl] = owner[comps]
    return out


def plaque_labels(mask: NDArray[np.bool_], spacing: tuple[float, ...],
                  gap_mm: float = PLAQUE_GAP_MM) -> tuple[NDArray, int]:
    """Plaques: 3-D components of ``mask`` that are closer than ``gap_mm`` to each other merge.

    Components are found on the mask dilated by ``gap_mm / 2`` (at least one voxel,
    26-connectivity) and carried back to the calcified voxels, so a deposit broken by noise
    or partial volume into pieces one voxel apart counts once.
    """
    from scipy import ndimage

    if not mask.any():
        return np.zeros(mask.shape, np.int32), 0
    it = max(1, int(round(gap_mm / 2.0 / float(min(spacing)))))
    grown = ndimage.binary_dilation(mask, structure=_S26, iterations=it)
    labels, n = ndimage.label(grown, structure=_S26)
    labels = np.where(mask, labels, 0)
    return labels, int(n)


def artery_measures(hu: NDArray, spacing: tuple[float, ...], affine: NDArray,
                    mask: NDArray[np.bool_], line: MappedCentreline | None,
                    mass_calibration: float = scores.DEFAULT_MASS_CALIBRATION,
                    bone: NDArray[np.bool_] | None = None) -> dict[str, Any]:
    """ARTERY_MEASURES and ICAC_ARTERY_LOCATION for the calcified voxels ``mask`` of one artery.

    ``bone`` (the skull mask on the same grid) gives ``bone_touching_volume_mm3``: the volume of
    the plaques with a voxel within the bone's partial-volume rim (``BONE_RIM_MM``) plus one
    voxel of the skull, i.e. touching the bone zone of :func:`segment_calcium` (``None``
    without it).
    """
    from scipy import ndimage

    from tasks.imaging.space import voxel_to_world

    labels, n = plaque_labels(mask, spacing)
    extent = 0.0
    loc: dict[str, Any] = {"location_segment": None, "location_arc": None}
    touching = None if bone is None else 0.0
    if n and line is not None:
        for obj in range(1, n + 1):
            vox = np.argwhere(labels == obj)
            pts = voxel_to_world(affine, vox)
            extent = max(extent, circumferential_extent_deg(pts, line.points, line.radius_mm,
                                                            hu=hu[tuple(vox.T)]))
        loc = location_along_vessel(voxel_to_world(affine, np.argwhere(mask)), line)
    if n and bone is not None:
        reach = 1 + int(np.ceil(BONE_RIM_MM / float(min(spacing))))
        near = ndimage.binary_dilation(bone, structure=_S26, iterations=reach) & mask
        hit = np.setdiff1d(np.unique(labels[near]), [0])
        touching = float(np.isin(labels, hit).sum() * float(np.prod(spacing)))
    return {
        **loc, "bone_touching_volume_mm3": touching,
        "calcium_volume_mm3": scores.calcium_volume_mm3(hu, mask, spacing),
        "agatston": scores.agatston_score(hu, mask, spacing),
        "mass_mg": scores.mass_score_mg(hu, mask, spacing, mass_calibration),
        "n_plaques": int(n),
        "max_hu": float(hu[mask].max()) if n else 0.0,
        "circumferential_extent_deg": float(round(extent, 2)),
    }


def measure_icac(hu: NDArray, spacing: tuple[float, ...], affine: NDArray,
                 calcium: NDArray, lines: list[MappedCentreline],
                 mass_calibration: float = scores.DEFAULT_MASS_CALIBRATION,
                 skull: NDArray[np.bool_] | None = None) -> dict[str, Any]:
    """Per-artery and session ICAC measures (``calcisvd.measures`` names) from a calcium map.

    With ``skull`` each artery also gets ``bone_touching_volume_mm3`` (else ``None``).

    Returns ``{"status": "ok", "reason": None, "arteries": [...], <ICAC_SESSION_MEASURES>}``.
    Without calcium every number is 0, ``severity_group`` is ``none_mild`` and
    ``dominant_location`` is ``None``.
    """
    by_label = {c.label: c for c in lines}
    arteries = []
    if calcium.any():
        from scipy import ndimage

        box = ndimage.find_objects((calcium > 0).astype(np.uint8))[0]
        pad = 2 + int(np.ceil(BONE_RIM_MM / float(min(spacing))))  # bone within reach
        box = tuple(slice(max(0, s.start - pad), s.stop + pad) for s in box)
        sub_hu, sub_cal = hu[box], calcium[box]
        sub_bone = None if skull is None else skull[box]
        sub_aff = affine.copy()
        sub_aff[:3, 3] = affine[:3, :3] @ np.array([s.start for s in box]) + affine[:3, 3]
    for label, (artery, side) in enumerate(ARTERIES, start=1):
        if calcium.any():
            m = artery_measures(sub_hu, spacing, sub_aff, sub_cal == label, by_label.get(label),
                                mass_calibration, sub_bone)
        else:
            m = {k: 0 if k == "n_plaques" else 0.0 for k in ARTERY_MEASURES}
            m.update({"location_segment": None, "location_arc": None,
                      "bone_touching_volume_mm3": None if skull is None else 0.0})
        arteries.append({"artery": artery, "side": side, **m})
    return {"status": "ok", "reason": None, "arteries": arteries, **session_summary(arteries)}


def session_summary(arteries: list[dict[str, Any]]) -> dict[str, Any]:
    """ICAC_SESSION_MEASURES from the per-artery records (see module doc)."""
    tot_vol = float(sum(a["calcium_volume_mm3"] for a in arteries))
    n_plaques = int(sum(a["n_plaques"] for a in arteries))
    n_seg = int(sum(1 for a in arteries if a["n_plaques"] > 0))
    max_ext = float(max((a["circumferential_extent_deg"] for a in arteries), default=0.0))
    out = {
        "total_calcium_volume_mm3": tot_vol,
        "total_agatston": float(sum(a["agatston"] for a in arteries)),
        "total_mass_mg": float(sum(a["mass_mg"] for a in arteries)),
        "total_plaques": n_plaques,
        "n_segments_involved": n_seg,
        "max_circumferential_extent_deg": max_ext,
        "severity_group": severity.severity_group(n_plaques, n_seg, max_ext, tot_vol),
        "dominant_location": severity.dominant_location(
            {(a["artery"], a["side"]): a["calcium_volume_mm3"] for a in arteries}),
    }
    assert set(out) == set(ICAC_SESSION_MEASURES)
    return out


def unavailable_measures(status: str, reason: str) -> dict[str, Any]:
    """ICAC block for a session whose CT is ``missing`` or ``failed``: every marker ``None``.

    Example: ``unavailable_measures("failed", str(exc))`` for a
    :class:`tasks.icac.headmask.DegenerateImageError` raised by the workflow.
    """
    if status not in ("missing", "failed"):
        raise ValueError(f"status must be 'missing' or 'failed', not {status!r}")
    arteries = [{"artery": a, "side": s, **dict.fromkeys(ARTERY_MEASURES),
                 **dict.fromkeys(ICAC_ARTERY_LOCATION)} for a, s in ARTERIES]
    return {"status": status, "reason": reason, "arteries": arteries,
            **dict.fromkeys(ICAC_SESSION_MEASURES), **dict.fromkeys(ICAC_QC_MEASURES)}
