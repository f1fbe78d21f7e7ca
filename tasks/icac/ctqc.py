"""Quality control of a head CT result: calibration, coverage, registration, protocol, kVp.

:func:`qc_metrics` computes the :data:`calcisvd.measures.ICAC_QC_MEASURES` of one CT and
:func:`review_reasons` lists, in plain words, every check outside its plausible range. A CT
result with any reason gets the status ``review`` (:func:`apply_qc`), never ``ok``: the
calcium numbers are still written, but the method does not stand behind them.

Plausible ranges (units explicit; each with its source):

* air around the head, median HU of voxels in (-1100, -500) HU: ``AIR_HU_RANGE`` -1050..-950.
  ACR CT accreditation phantom tolerance for air is -1005..-970 HU (ACR CT Accreditation
  Program, Phantom Testing Instructions, CT number accuracy), widened by 30-45 HU for clinical
  reconstructions (-1024 HU padding, noise).
* brain (median of intracranial voxels in -50..100 HU): ``BRAIN_HU_RANGE`` 15..50 HU; CSF (1st
  percentile of the same voxels after a 3x3x3 median filter, i.e. ventricles and cisterns; on
  a grid of every 2nd voxel below 2 mm):
  ``CSF_HU_RANGE`` -10..25 HU. Reference values white matter 20-30, grey matter 37-45, CSF
  0-15 HU (``shared/paper/README.md``, reference ranges), widened by 5-10 HU for noise,
  beam hardening and partial volume.
* intracranial volume, extrapolated to the whole head by the registered template's coverage
  (``qc_intracranial_volume_ml / qc_intracranial_coverage``): ``ICV_ML_RANGE`` 900..2100 mL.
  Adult intracranial volume is about 1100-1900 mL (e.g. Nordenskjold R et al., NeuroImage
  2013;83:355-60), widened by about 200 mL on each side for the error of the extrapolation
  (a head CT from the orbital roof down covers 70-83 % of the template's intracranial volume
  on simulator seeds 9000-9008). The coverage is a fraction, so the size of the MNI152 2009
  template (about 1.9 L) does not enter the estimate (an earlier upper bound of 2300 mL
  assumed it did).
  Coverage below ``MIN_COVERAGE`` (0.2) gives no
  extrapolation and is itself a reason (the arteries may lie outside the field of view).
* truncation (:func:`cut_ends`): a scan is *cut off* at an end when intracranial tissue covers
  at least ``CUT_AREA_CM2`` (20 cm^2) of its first or last slice, or reaches air towards
  that end through soft tissue only (within ``CUT_REACH_MM``, no bone between) over as much
  (a slab ending in the head whose missing part reads as air). The foramen magnum, the
  only opening of the skull base a complete scan's bottom slice may cross, is about 35 x 30
  mm (~8 cm^2; Standring S, Gray's Anatomy, 41st ed.), and a slice just above the vertex
  holds no intracranial tissue; 20 cm^2 is a slice through the brain or posterior fossa.
  Cut at the bottom is always a reason (the posterior fossa, vertebral and basilar arteries
  or the carotid siphons may be outside the field of view). Cut at the top is a reason only
  when the registered template nevertheless lies inside the field of view (coverage at least
  ``MAX_COVERAGE_IF_CUT`` 0.95): the coverage, and the intracranial volume extrapolated by
  it, are then wrong (e.g. a tilted slab whose top was filled with air). The paper's CT, cut
  above the orbital roof by design, has coverage 0.70-0.83 and is extrapolated.
* registration: Dice overlap of the CT's intracranial mask and the registered template mask
  inside the CT's field of view, at ``QC_GRID_MM`` (4 mm): at least ``MIN_REGISTRATION_DICE``
  0.80 (measured on simulator seeds 6100-6105 at 1 mm: 0.93-0.96; a phantom or a torso
  registers far worse).
* slice thickness (``SliceThickness`` of the sidecar, else the voxel size along k): at most
  ``MAX_SLICE_MM`` 3.0 mm, the reference thickness of the Agatston score (Agatston AS et al.,
  JACC 1990;15:827-32); thicker slices lose small deposits to partial volume.
* gantry tilt (``GantryDetectorTilt`` of the sidecar, else the shear of the affine): above
  ``MAX_TILT_DEG`` 0.5 degree a result is ``review`` unless ingest rebuilt the geometry itself
  (:func:`tilt_verified`: the sidecar's ``GeometryCheck`` says the sheared stack was checked
  against every DICOM slice position and resampled by calcisvd,
  :mod:`tasks.ingest.geometry`). A tilted series converted elsewhere may have been resampled
  or carry a sheared geometry (dcm2niix documentation, "gantry tilt"), so check the reportlet.
* tube voltage (``KVP`` of the sidecar): ``KVP_RANGE`` 110..130 kV. The 130 HU threshold and the
  density weights are defined at the tube voltage of Agatston's electron-beam CT (130 kVp) and
  the multi-detector standard (120 kVp; McCollough CH et al., Radiology 2007;243:527-38);
  calcium's HU rises at lower and falls at higher voltage, so a fixed 130 HU over- or
  under-counts calcium there. calcisvd keeps 130 HU at every kVp (no published scaling is
  applied), reports the kVp and marks a result outside 110-130 kV, or without a known kVp,
  ``review``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from calcisvd.measures import ICAC_QC_MEASURES

AIR_HU_RANGE = (-1050.0, -950.0)
BRAIN_HU_RANGE = (15.0, 50.0)
CSF_HU_RANGE = (-10.0, 25.0)
ICV_ML_RANGE = (900.0, 2100.0)
MIN_COVERAGE = 0.2
CUT_AREA_CM2 = 20.0
MAX_COVERAGE_IF_CUT = 0.95
AIR_CUT_HU = -500.0  #: air (no tissue of the head is below -500 HU)
#: bone stops the walk to air (HU; soft tissue, partial volume of tissue and air pass)
BONE_CUT_HU = 150.0
#: how far (mm) along the slice axis past the intracranial mask's edge air is sought through
#: soft tissue: the mask stops 1-2 voxels short of the brain's edge (measured on simulator
#: seed 5, ct_clinical at 2 mm: 5-10 mm); skull and scalp (>= 12 mm together, bone
#: included) stop the walk in a complete scan
CUT_REACH_MM = 15.0
MIN_REGISTRATION_DICE = 0.80
MAX_SLICE_MM = 3.0
MAX_TILT_DEG = 0.5
KVP_RANGE = (110.0, 130.0)
QC_GRID_MM = 4.0
SOFT_TISSUE_HU = (-50.0, 100.0)
CSF_PERCENTILE = 1.0  #: CSF is 2-3 % of the simulated heads (seeds 6100-6105), more in the elderly


def tilt_from_affine(affine: NDArray) -> float:
    """Angle (deg) between the slice axis and the normal of the slice plane (0 = no shear)."""
    a = np.asarray(affine, float)[:3, :3]
    n = np.cross(a[:, 0], a[:, 1])
    k = a[:, 2]
    return float(np.degrees(np.arctan2(np.linalg.norm(np.cross(n, k)), abs(float(n @ k)))))


def cut_ends(intracranial: NDArray[np.bool_], affine: NDArray,
             hu: NDArray | None = None) -> dict[str, float]:
    """The ends (``"top"``, ``"bottom"``) at which the scan cuts through the head, with the
    open intracranial area (cm^2) when at least ``CUT_AREA_CM2``.

    Open area of an end: intracranial voxels in its end slice (third voxel axis), plus, with
    ``hu``, intracranial voxels whose neighbour towards that end along the slice axis is air
    (< ``AIR_CUT_HU``): a slab that ends inside the head, or whose missing part was filled
    with air, instead of skull and scalp. Top is the end the slice axis points to in the
    superior (+z, RAS) direction; a grid whose slice axis has no superior component names
    its ends ``"first slice"``/``"last slice"``."""
    a = np.asarray(affine, float)[:3, :3]
    if intracranial.ndim != 3 or intracranial.shape[2] < 2:
        return {}
    px_cm2 = float(np.linalg.norm(np.cross(a[:, 0], a[:, 1]))) / 100.0
    up = float(a[2, 2])
    names = (("bottom", "top") if up > 1e-6 else ("top", "bottom") if up < -1e-6
             else ("first slice", "last slice"))
    ic = np.asarray(intracranial, bool)
    counts = [int(np.count_nonzero(ic[:, :, 0])), int(np.count_nonzero(ic[:, :, -1]))]
    if hu is not None:
        h = np.asarray(hu)
        air, soft = h < AIR_CUT_HU, h <= BONE_CUT_HU
        dz = float(abs(np.linalg.det(a))) / (px_cm2 * 100.0)
        reach = max(1, int(np.ceil(CUT_REACH_MM / dz)))
        for end, sign in ((0, -1), (1, 1)):
            # walk from the intracranial voxels towards the end through anything but bone:
            # reaching air without crossing bone means the head is open there
            path = ic.copy()
            for _ in range(reach):
                moved = np.zeros_like(path)
                if sign > 0:
                    moved[:, :, 1:] = path[:, :, :-1]
                else:
                    moved[:, :, :-1] = path[:, :, 1:]
                counts[end] += int(np.count_nonzero(moved & air))
                path = moved & soft & ~ic & ~air  # a column that reached air is counted once
    out = {}
    for name, n in zip(names, counts, strict=True):
        if n * px_cm2 >= CUT_AREA_CM2:
            out[name] = round(n * px_cm2, 1)
    return out


def _strided(mask_or_hu: NDArray, affine: NDArray, grid_mm: float) -> tuple[NDArray, NDArray]:
    sp = np.linalg.norm(affine[:3, :3], axis=0)
    step = [max(1, int(round(grid_mm / float(s)))) for s in sp]
    sub = mask_or_hu[::step[0], ::step[1], ::step[2]]
    aff = affine.copy()
    aff[:3, :3] = affine[:3, :3] * np.asarray(step)[None, :]
    return sub, aff


def registration_overlap(intracranial: NDArray[np.bool_], affine: NDArray,
                         ct_to_template: NDArray,
                         grid_mm: float = QC_GRID_MM) -> tuple[float, float]:
    """(Dice in the CT's field of view, template coverage) of the registered template mask.

    Dice: CT intracranial mask against the template's intracranial mask mapped into the CT,
    both sampled on a ~``grid_mm`` grid of the CT. Coverage: fraction of the template's
    intracranial volume that maps inside the CT's grid.
    """
    from tasks.icac.registration import map_template_points, template_intracranial
    from tasks.imaging.space import voxel_to_world, world_to_voxel

    tmask, taff = template_intracranial(2.0)
    sub, saff = _strided(intracranial, affine, grid_mm)
    ijk = np.argwhere(np.ones(sub.shape, bool))
    xyz = voxel_to_world(saff, ijk)
    m = np.asarray(ct_to_template, float)
    t_xyz = xyz @ m[:3, :3].T + m[:3, 3]
    t_ijk = np.rint(world_to_voxel(taff, t_xyz)).astype(int)
    inside = np.all((t_ijk >= 0) & (t_ijk < np.asarray(tmask.shape)), axis=1)
    tm = np.zeros(len(ijk), bool)
    tm[inside] = tmask[tuple(t_ijk[inside].T)]
    a = sub.reshape(-1)
    denom = int(a.sum()) + int(tm.sum())
    dice = 2.0 * float((a & tm).sum()) / denom if denom else 0.0
    # coverage: template mask voxels (every 2nd, ~4 mm) that land inside the CT grid
    tv = np.argwhere(tmask[::2, ::2, ::2]) * 2
    pts = map_template_points(voxel_to_world(taff, tv), m)
    v = world_to_voxel(affine, pts)
    in_ct = np.all((v >= -0.5) & (v <= np.asarray(intracranial.shape) - 0.5), axis=1)
    coverage = float(in_ct.mean()) if len(in_ct) else 0.0
    return float(dice), coverage


def tissue_hu(hu: NDArray, intracranial: NDArray[np.bool_],
              spacing: tuple[float, ...]) -> dict[str, float | None]:
    """Median air HU, median brain HU and the CSF estimate (see module doc)."""
    from scipy import ndimage

    air_vals = hu[::2, ::2, ::2]
    air_vals = air_vals[(air_vals > -1100.0) & (air_vals < -500.0)]
    air = float(np.median(air_vals)) if air_vals.size else None
    brain = csf = None
    if intracranial.any():
        box = ndimage.find_objects(intracranial.astype(np.uint8))[0]
        # every 2nd voxel where voxels are below 2 mm (speed); 3x3x3 median on that grid
        st = tuple(2 if float(s) < 2.0 else 1 for s in spacing[:3])
        h = hu[box][::st[0], ::st[1], ::st[2]].astype(np.float32)
        ic = intracranial[box][::st[0], ::st[1], ::st[2]]
        sub = ndimage.median_filter(h, size=3)
        lo, hi = SOFT_TISSUE_HU
        vals_raw = h[ic]
        vals_raw = vals_raw[(vals_raw >= lo) & (vals_raw <= hi)]
        vals = sub[ic]
        vals = vals[(vals >= lo) & (vals <= hi)]
        if vals_raw.size:
            brain = float(np.median(vals_raw))
        if vals.size:
            csf = float(np.percentile(vals, CSF_PERCENTILE))
    return {"air": air, "brain": brain, "csf": csf}


def _num(x: Any) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if np.isfinite(v) else None


def qc_metrics(hu: NDArray, spacing: tuple[float, ...], affine: NDArray,
               intracranial: NDArray[np.bool_], ct_to_template: NDArray,
               sidecar: dict | None = None) -> dict[str, Any]:
    """The ICAC_QC_MEASURES of one CT (values rounded; ``None`` where unknown)."""
    sidecar = sidecar or {}
    vox_ml = float(np.prod(spacing)) / 1000.0
    dice, coverage = registration_overlap(intracranial, affine, ct_to_template)
    t = tissue_hu(hu, intracranial, spacing)
    thick = _num(sidecar.get("SliceThickness"))
    tilt = _num(sidecar.get("GantryDetectorTilt"))
    shear = tilt_from_affine(affine)
    out = {
        "qc_intracranial_volume_ml": round(float(intracranial.sum()) * vox_ml, 1),
        "qc_intracranial_coverage": round(coverage, 3),
        "qc_air_hu": None if t["air"] is None else round(t["air"], 1),
        "qc_csf_hu": None if t["csf"] is None else round(t["csf"], 1),
        "qc_brain_hu": None if t["brain"] is None else round(t["brain"], 1),
        "qc_registration_dice": round(dice, 3),
        "qc_slice_thickness_mm": round(thick if thick is not None else float(spacing[2]), 3),
        "qc_gantry_tilt_deg": round(max(abs(tilt), shear) if tilt is not None else shear, 2),
        "qc_kvp": _num(sidecar.get("KVP")),
    }
    assert set(out) == set(ICAC_QC_MEASURES)
    return out


def tilt_verified(sidecar: dict | None) -> bool:
    """Whether ingest rebuilt a tilted CT's geometry from its DICOM slice positions and
    resampled it itself (``GeometryCheck`` of :mod:`tasks.ingest.geometry`)."""
    from tasks.ingest.geometry import SHEARED_CHECK_PASSED

    return str((sidecar or {}).get("GeometryCheck") or "").startswith(SHEARED_CHECK_PASSED)


def _outside(name: str, value: float | None, lo: float, hi: float, unit: str) -> str | None:
    if value is None:
        return f"{name} unknown"
    if not lo <= value <= hi:
        return f"{name} {value:g} {unit} outside {lo:g}..{hi:g} {unit}"
    return None


def _cut_reasons(cut: dict[str, float], coverage: float | None) -> list[str]:
    out = []
    for end, area in cut.items():
        if end == "top" and (coverage or 0.0) < MAX_COVERAGE_IF_CUT:
            continue  # covered by the template extrapolation (the paper's orbital-roof slab)
        where = "last" if end in ("top", "last slice") else "first"
        msg = (f"scan cut off at the {end}: intracranial tissue over {area:g} cm2 at its "
               f"{where} slice or bordering air towards it")
        if end == "top":
            msg += (f", yet the registered template lies inside the field of view (coverage "
                    f"{coverage:g}): the coverage and the extrapolated intracranial volume "
                    f"are wrong")
        else:
            msg += " (the posterior fossa and its arteries may be outside the field of view)"
        out.append(msg)
    return out


def review_reasons(qc: dict[str, Any], cut: dict[str, float] | None = None,
                   tilt_checked: bool = False) -> list[str]:
    """Plain-language reasons why a CT result needs review (empty list: all checks pass).

    ``cut``: :func:`cut_ends` of the CT (ends of the scan that cut through the head);
    ``tilt_checked``: :func:`tilt_verified` of its sidecar (a tilt is then no reason)."""
    out = [
        _outside("air", qc["qc_air_hu"], *AIR_HU_RANGE, "HU"),
        _outside("brain", qc["qc_brain_hu"], *BRAIN_HU_RANGE, "HU"),
        _outside("CSF", qc["qc_csf_hu"], *CSF_HU_RANGE, "HU"),
    ]
    cov = qc["qc_intracranial_coverage"]
    out += _cut_reasons(cut or {}, cov)
    if cov is None or cov < MIN_COVERAGE:
        out.append(f"intracranial coverage {cov} below {MIN_COVERAGE:g} of the template "
                   f"(arteries may be outside the field of view)")
    else:
        icv = qc["qc_intracranial_volume_ml"] / cov
        out.append(_outside("intracranial volume (extrapolated)", round(icv), *ICV_ML_RANGE,
                            "mL"))
    dice = qc["qc_registration_dice"]
    if dice is None or dice < MIN_REGISTRATION_DICE:
        out.append(f"registration Dice {dice} below {MIN_REGISTRATION_DICE:g} "
                   f"(not a head, or registration failed)")
    if qc["qc_slice_thickness_mm"] > MAX_SLICE_MM:
        out.append(f"slice thickness {qc['qc_slice_thickness_mm']:g} mm above "
                   f"{MAX_SLICE_MM:g} mm (small deposits are lost to partial volume)")
    if qc["qc_gantry_tilt_deg"] > MAX_TILT_DEG and not tilt_checked:
        out.append(f"gantry tilt {qc['qc_gantry_tilt_deg']:g} deg, geometry not checked "
                   f"against the DICOM slice positions (converted elsewhere or given as "
                   f"NIfTI; a tilt correction may be wrong): check the reportlet")
    kvp = qc["qc_kvp"]
    if kvp is None:
        out.append("tube voltage (KVP) unknown: the 130 HU threshold assumes 110-130 kV")
    elif not KVP_RANGE[0] <= kvp <= KVP_RANGE[1]:
        out.append(f"tube voltage {kvp:g} kV outside {KVP_RANGE[0]:g}-{KVP_RANGE[1]:g} kV: "
                   f"calcium HU shifts with kVp and the 130 HU threshold was kept")
    return [r for r in out if r]


def apply_qc(measures: dict[str, Any], qc: dict[str, Any],
             cut: dict[str, float] | None = None, tilt_checked: bool = False) -> dict[str, Any]:
    """``measures`` with the QC fields added; status ``review`` with the reasons if any
    (``cut``: :func:`cut_ends`; ``tilt_checked``: :func:`tilt_verified`)."""
    out = {**measures, **qc}
    reasons = review_reasons(qc, cut, tilt_checked)
    if reasons and out.get("status") == "ok":
        out["status"] = "review"
        out["reason"] = "; ".join(reasons)
    return out
