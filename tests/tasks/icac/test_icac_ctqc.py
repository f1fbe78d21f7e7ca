"""Calcium beside bone, location along the vessel, and the QC checks that mark ``review``.

The phantom and non-head CTs here are synthetic: there is no real CT in the repository (the
real DICOM in /work/shared/realdata/dicom holds MR only).
"""

from __future__ import annotations

import numpy as np
import pytest

from tasks.icac import ctqc
from tasks.icac.calcium import measure_icac, segment_calcium
from tasks.icac.headmask import DegenerateImageError
from tasks.icac.pipeline import quantify_ct
from tasks.icac.regions import MappedCentreline

SP1 = (1.0, 1.0, 1.0)
SIDECAR = {"KVP": 120, "SliceThickness": 2.0, "GantryDetectorTilt": 0.0}


def _slab(plaque: bool, gap: int = 0):
    """Vessel along z at (10, 10), lumen 1.5 mm; a thick bone slab from x = 13 mm on.

    The plaque is a 2-voxel-thick deposit on the wall facing the bone (y 9..11, z 8..13: 36
    voxels of 1 mm^3), fused with the slab (``gap`` 0) or ``gap`` voxels of soft tissue
    away from it.
    """
    hu = np.full((30, 30, 30), 30.0, np.float32)
    hu[13 + gap:, :, :] = 1000.0
    if plaque:
        hu[11:13, 9:12, 8:14] = 500.0
    regions = np.zeros(hu.shape, np.uint8)
    regions[2:20, 2:18, :] = 1  # ICA L region, reaching into the bone
    line = MappedCentreline("ICA", "L", 1, np.stack([np.full(61, 10.0), np.full(61, 10.0),
                                                     np.linspace(0, 29, 61)], -1), 1.5)
    from tasks.icac.headmask import skull_mask

    skull = skull_mask(hu, SP1)  # a fused deposit is connected to the bone: one component
    return hu, np.eye(4), regions, skull, [line]


def test_plaque_near_bone_is_found_with_its_volume():
    # 2 mm of soft tissue between deposit and cortex (with 1 mm, half of this 2-voxel deposit
    # lies next to the bone's rim and it reads as a bone remnant: MAX_BONE_CONTACT)
    hu, aff, regions, skull, lines = _slab(plaque=True, gap=2)
    cal = segment_calcium(hu, SP1, regions, skull)
    assert np.array_equal(np.argwhere(cal > 0), np.argwhere(hu == 500.0))
    m = measure_icac(hu, SP1, aff, cal, lines, skull=skull)
    ica = m["arteries"][0]
    assert ica["calcium_volume_mm3"] == 36.0
    assert ica["bone_touching_volume_mm3"] == 0.0  # 2 mm off the cortex: beyond its rim
    assert ica["n_plaques"] == 1


def test_plaque_fused_with_bone_is_not_counted_nor_the_bone():
    # documented limitation (tasks/icac/calcium.py): a deposit fused with the cortex at the
    # scanner's resolution is part of the skull mask; neither it nor the bone is counted
    hu, aff, regions, skull, lines = _slab(plaque=True, gap=0)
    cal = segment_calcium(hu, SP1, regions, skull)
    assert int(cal.sum()) == 0


def test_bone_alone_gives_no_calcium():
    hu, aff, regions, skull, lines = _slab(plaque=False)
    cal = segment_calcium(hu, SP1, regions, skull)
    assert int(cal.sum()) == 0
    m = measure_icac(hu, SP1, aff, cal, lines, skull=skull)
    assert m["total_calcium_volume_mm3"] == 0.0 and m["dominant_location"] is None
    assert m["arteries"][0]["location_segment"] is None


def test_location_along_the_carotid():
    from tasks.icac.atlas import centreline
    from tasks.icac.wall import location_along_vessel

    c = centreline("ICA", "R")
    pts = c.sample(0.5)
    line = MappedCentreline("ICA", "R", 2, pts, c.radius_mm)
    n = len(pts)
    first = location_along_vessel(pts[:5], line)
    assert first["location_segment"] == "petrous" and first["location_arc"] < 0.05
    assert location_along_vessel(pts[n // 2 - 2:n // 2 + 2], line)["location_segment"] == \
        "cavernous"
    last = location_along_vessel(pts[-5:], line)
    assert last["location_segment"] == "supraclinoid" and last["location_arc"] > 0.95


def _qc(**kw):
    base = {"qc_intracranial_volume_ml": 1500.0, "qc_intracranial_coverage": 1.0,
            "qc_air_hu": -1000.0, "qc_csf_hu": 8.0, "qc_brain_hu": 32.0,
            "qc_registration_dice": 0.95, "qc_slice_thickness_mm": 1.0,
            "qc_gantry_tilt_deg": 0.0, "qc_kvp": 120.0}
    return {**base, **kw}


@pytest.mark.parametrize(("change", "words"), [
    ({}, None),
    ({"qc_kvp": 110.0}, None),
    ({"qc_kvp": 130.0}, None),
    ({"qc_kvp": 100.0}, "tube voltage 100 kV"),
    ({"qc_kvp": 140.0}, "tube voltage 140 kV"),
    ({"qc_kvp": None}, "KVP) unknown"),
    ({"qc_slice_thickness_mm": 5.0}, "slice thickness 5 mm"),
    ({"qc_gantry_tilt_deg": 15.0}, "gantry tilt 15"),
    ({"qc_air_hu": -900.0}, "air -900"),
    ({"qc_brain_hu": 0.0}, "brain 0 HU"),
    ({"qc_csf_hu": 40.0}, "CSF 40 HU"),
    ({"qc_registration_dice": 0.5}, "registration Dice 0.5"),
    ({"qc_intracranial_volume_ml": 300.0}, "intracranial volume (extrapolated) 300"),
    ({"qc_intracranial_volume_ml": 1700.0, "qc_intracranial_coverage": 0.78},
     "intracranial volume (extrapolated) 2179"),
    ({"qc_intracranial_coverage": 0.1}, "coverage 0.1"),
])
def test_review_reasons(change, words):
    reasons = ctqc.review_reasons(_qc(**change))
    if words is None:
        assert reasons == []
    else:
        assert len(reasons) == 1 and words in reasons[0], reasons
    out = ctqc.apply_qc({"status": "ok", "reason": None}, _qc(**change))
    assert out["status"] == ("ok" if words is None else "review")
    assert out["qc_kvp"] == _qc(**change)["qc_kvp"]


def test_a_tilt_is_no_reason_once_ingest_rebuilt_the_geometry():
    """A tilted CT whose sheared stack ingest checked against every DICOM slice position and
    resampled itself is measured like any other; one converted elsewhere (or given as NIfTI)
    is still ``review``."""
    tilted = _qc(qc_gantry_tilt_deg=19.9)
    checked = {"GeometryCheck": "passed as a sheared stack (gantry tilt 19.92 degrees)"}
    assert ctqc.tilt_verified(checked)
    assert ctqc.review_reasons(tilted, tilt_checked=True) == []
    assert ctqc.apply_qc({"status": "ok", "reason": None}, tilted,
                         tilt_checked=ctqc.tilt_verified(checked))["status"] == "ok"
    for side in ({}, None, {"GeometryCheck": "passed"},
                 {"GeometryCheck": "not checked (one multi-frame file or several stacks)"}):
        assert not ctqc.tilt_verified(side)
        out = ctqc.apply_qc({"status": "ok", "reason": None}, tilted,
                            tilt_checked=ctqc.tilt_verified(side))
        assert out["status"] == "review" and "not checked against the DICOM" in out["reason"]
    # the check does not excuse anything else
    assert ctqc.review_reasons(_qc(qc_gantry_tilt_deg=19.9, qc_kvp=None), tilt_checked=True)


def test_apply_qc_keeps_failed_status():
    out = ctqc.apply_qc({"status": "failed", "reason": "x"}, _qc(qc_kvp=80.0))
    assert out["status"] == "failed" and out["reason"] == "x"


def test_tilt_from_affine():
    aff = np.eye(4)
    assert ctqc.tilt_from_affine(aff) == pytest.approx(0.0)
    t = np.radians(12.0)
    aff[:3, 2] = [0.0, np.sin(t), np.cos(t)]  # slices sheared along y (tilted gantry)
    assert ctqc.tilt_from_affine(aff) == pytest.approx(12.0, abs=1e-6)


@pytest.mark.slow
def test_head_phantom_passes_qc_and_kvp_is_reported(phantom):
    sp = (2.0, 2.0, 2.0)
    r = quantify_ct(phantom.hu, sp, phantom.affine, sidecar=SIDECAR)
    m = r.measures
    assert m["status"] == "ok", m["reason"]
    assert m["qc_kvp"] == 120.0 and m["qc_slice_thickness_mm"] == 2.0
    assert m["qc_registration_dice"] > 0.9
    assert -1050 < m["qc_air_hu"] < -950 and 15 < m["qc_brain_hu"] < 50
    # the same CT acquired at 80 kVp: same numbers, but not ``ok``
    low = ctqc.apply_qc({**m, "status": "ok", "reason": None},
                        {k: m[k] for k in ctqc.ICAC_QC_MEASURES} | {"qc_kvp": 80.0})
    assert low["status"] == "review" and "80 kV" in low["reason"]
    assert low["total_calcium_volume_mm3"] == m["total_calcium_volume_mm3"]


def _cylinder(shell_hu: float | None, sp: float = 3.0) -> np.ndarray:
    """Water cylinder (radius 80 mm, 150 mm long) with four 1000 HU rods, in air.

    With ``shell_hu`` it also has a 6 mm bone-density wall (a closed ring, like a skull).
    """
    n = (int(220 / sp), int(220 / sp), int(170 / sp))
    x, y, z = np.meshgrid(*[(np.arange(k) - k / 2 + 0.5) * sp for k in n], indexing="ij")
    r = np.hypot(x, y)
    hu = np.full(n, -1000.0, np.float32)
    body = (r <= 80.0) & (np.abs(z) <= 75.0)
    hu[body] = 0.0
    for cx, cy in ((40, 0), (-40, 0), (0, 40), (0, -40)):
        hu[(np.hypot(x - cx, y - cy) <= 6.0) & body] = 1000.0
    if shell_hu is not None:
        hu[(r > 80.0) & (r <= 86.0) & (np.abs(z) <= 75.0)] = shell_hu
    rng = np.random.default_rng(0)
    return hu + rng.normal(0.0, 5.0, n).astype(np.float32)


def _torso(sp: float = 4.0) -> np.ndarray:
    """A synthetic torso: fat, muscle/organs at 55 HU, two lungs, a spine and a closed rib cage."""
    n = (int(400 / sp), int(300 / sp), int(200 / sp))
    x, y, z = np.meshgrid(*[(np.arange(k) - k / 2 + 0.5) * sp for k in n], indexing="ij")
    hu = np.full(n, -1000.0, np.float32)
    e = (x / 170.0) ** 2 + (y / 120.0) ** 2
    hu[e <= 1.0] = -100.0  # subcutaneous fat
    hu[e <= 0.85] = 55.0  # muscle, organs, blood
    ribs = (e <= 0.8) & (e > 0.72)
    hu[ribs] = 900.0
    for cx in (-70.0, 70.0):
        hu[((x - cx) / 55.0) ** 2 + (y / 75.0) ** 2 <= 1.0] = -850.0  # lungs
    hu[np.hypot(x, y + 85.0) <= 20.0] = 1000.0  # vertebral body
    rng = np.random.default_rng(1)
    return hu + rng.normal(0.0, 8.0, n).astype(np.float32)


def _status_or_failure(hu: np.ndarray, sp: float) -> str:
    aff = np.diag([sp, sp, sp, 1.0])
    try:
        r = quantify_ct(hu, (sp, sp, sp), aff, sidecar={**SIDECAR, "SliceThickness": sp})
    except DegenerateImageError:
        return "failed"
    return r.measures["status"]


@pytest.mark.slow
@pytest.mark.parametrize("shell", [None, 1000.0])
def test_water_phantom_never_ok(shell):
    assert _status_or_failure(_cylinder(shell), 3.0) in ("failed", "review")


@pytest.mark.slow
def test_torso_never_ok():
    assert _status_or_failure(_torso(), 4.0) in ("failed", "review")


def _ball_head(cut_top: int | None = None, flip: bool = False):
    """A 2 mm head: intracranial ball (r 60 mm) in a bone shell (6 mm) in air; ``cut_top``
    keeps only the slices below it (a slab ending in the brain)."""
    n = 80
    g = (np.indices((n, n, n)) - (n - 1) / 2) * 2.0
    r = np.sqrt((g ** 2).sum(0))
    hu = np.full((n, n, n), -1000.0, np.float32)
    hu[r < 66] = 1000.0
    hu[r < 60] = 30.0
    ic = r < 58
    if cut_top is not None:
        hu, ic = hu[:, :, :cut_top], ic[:, :, :cut_top]
    aff = np.diag([2.0, 2.0, 2.0, 1.0])
    if flip:  # slices stored top to bottom
        hu, ic = hu[:, :, ::-1], ic[:, :, ::-1]
        aff[2, 2] = -2.0
    return hu, ic, aff


def test_cut_ends_finds_a_slab_ending_in_the_head():
    hu, ic, aff = _ball_head()
    assert ctqc.cut_ends(ic, aff, hu) == {}  # skull to vertex: complete
    hu, ic, aff = _ball_head(cut_top=50)
    cut = ctqc.cut_ends(ic, aff, hu)
    assert set(cut) == {"top"} and cut["top"] > 80.0  # a slice through the brain
    hu, ic, aff = _ball_head(cut_top=50, flip=True)
    assert set(ctqc.cut_ends(ic, aff, hu)) == {"top"}
    # the missing part filled with air (the grid goes on): still open towards the top
    hu, ic, aff = _ball_head()
    hu[:, :, 50:] = -1000.0
    ic[:, :, 50:] = False
    assert set(ctqc.cut_ends(ic, aff, hu)) == {"top"}


def test_cut_ends_counts_a_gap_to_air_once(monkeypatch):
    """A gap in the skull base that lets the walk reach air is its own area, counted once: the
    walk used to go on through the air and count the same columns again at every step left of
    CUT_REACH_MM (on 0.5 mm slices up to 30 times: two simulated heads at 0.5 mm came out
    "scan cut off at the bottom" with 37.5 and 31.7 cm^2, nothing at 1 mm)."""
    hu, ic, aff = _ball_head()
    hu[34:46, 34:46, 7:10] = 30.0  # a 24 x 24 mm gap in the bottom of the shell; air below
    assert "bottom" not in ctqc.cut_ends(ic, aff, hu)
    monkeypatch.setattr(ctqc, "CUT_AREA_CM2", 0.0)  # report any open area
    # at most the gap's own 5.76 cm^2 (the columns of the mask that reach it); 14.1 before
    assert 0.0 < ctqc.cut_ends(ic, aff, hu)["bottom"] <= 12 * 12 * 0.04


@pytest.mark.parametrize(("cut", "coverage", "words"), [
    ({"top": 120.0}, 1.0, "scan cut off at the top: intracranial tissue over 120 cm2"),
    ({"top": 120.0}, 0.78, None),  # the paper's slab above the orbital roof: extrapolated
    ({"bottom": 40.0}, 0.9, "scan cut off at the bottom"),
])
def test_cut_scan_is_a_review_reason(cut, coverage, words):
    qc = _qc(qc_intracranial_coverage=coverage, qc_intracranial_volume_ml=1500.0 * coverage)
    reasons = ctqc.review_reasons(qc, cut)
    if words is None:
        assert reasons == []
    else:
        assert len(reasons) == 1 and words in reasons[0], reasons
        assert ctqc.apply_qc({"status": "ok", "reason": None}, qc, cut)["status"] == "review"
