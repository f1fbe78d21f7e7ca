"""Calcium segmentation rules and the circumferential extent on known geometry."""

from __future__ import annotations

import numpy as np
import pytest

from calcisvd.measures import ARTERIES, ARTERY_MEASURES, ICAC_SESSION_MEASURES
from tasks.icac.calcium import (
    _largest_arc_deg,
    circumferential_extent_deg,
    measure_icac,
    segment_calcium,
)
from tasks.icac.regions import MappedCentreline


def _arc_points(arc_deg: float, radius: float = 2.5, start: float = 30.0, step_deg=5.0):
    """Points on a wall arc around the z axis, at several z, shifted off the centreline."""
    ang = np.radians(np.arange(start, start + arc_deg + 1e-6, step_deg))
    pts = [np.stack([radius * np.cos(ang), radius * np.sin(ang), np.full_like(ang, z)], -1)
           for z in (-1.0, 0.0, 1.0)]
    return np.concatenate(pts)


LINE = np.stack([np.zeros(41), np.zeros(41), np.linspace(-10, 10, 41)], -1)


@pytest.mark.parametrize("arc", [60.0, 120.0, 200.0, 300.0])
def test_circumferential_extent_of_known_arc(arc):
    pts = _arc_points(arc)
    got = circumferential_extent_deg(pts, LINE, radius_mm=2.0, fit_centre=False)
    assert got == pytest.approx(arc, abs=1e-6)


def test_circumferential_extent_recovers_centre_offset():
    # the atlas centreline is 1.5 mm off the true vessel centre: the circle fit corrects it
    arc = 240.0
    pts = _arc_points(arc) + np.array([1.5, -1.0, 0.0])
    naive = circumferential_extent_deg(pts, LINE, radius_mm=2.0, fit_centre=False)
    fitted = circumferential_extent_deg(pts, LINE, radius_mm=2.0, fit_centre=True)
    assert abs(fitted - arc) < 15.0
    assert abs(fitted - arc) < abs(naive - arc)


def test_largest_arc_wraps_around():
    assert _largest_arc_deg(np.array([350.0, 10.0, 20.0])) == pytest.approx(30.0)
    assert _largest_arc_deg(np.array([5.0])) == 0.0


def _toy():
    """20 mm cube, 1 mm voxels: a vessel along z at (10, 10), a plaque, and a bone slab."""
    hu = np.full((30, 30, 30), 30.0, np.float32)
    hu[20:30, :, :] = 1000.0  # thick bone slab (x >= 20)
    hu[12, 10, 8:12] = 500.0  # wall plaque 2 mm from the centre, 4 voxels
    hu[19, 10, 20] = 400.0  # a speck touching the bone, 9 mm from the vessel
    regions = np.zeros(hu.shape, np.uint8)
    regions[2:24, 2:18, :] = 3  # MCA L region (includes some bone)
    aff = np.eye(4)
    line = MappedCentreline("MCA", "L", 3, np.stack([np.full(61, 10.0), np.full(61, 10.0),
                                                     np.linspace(0, 29, 61)], -1), 1.5)
    lines = [line]
    skull = hu >= 300
    skull[12, 10, 8:12] = False  # the plaque is not part of the large bone component
    skull[19, 10, 20] = True
    return hu, aff, regions, skull, lines


def test_segment_calcium_excludes_bone_keeps_plaque():
    hu, aff, regions, skull, lines = _toy()
    cal = segment_calcium(hu, (1.0, 1.0, 1.0), aff, regions, skull, lines)
    assert cal[12, 10, 8:12].tolist() == [3, 3, 3, 3]
    assert cal[19:, :, :].sum() == 0  # bone and the bone-touching speck far from the vessel
    assert int((cal > 0).sum()) == 4


def test_measure_icac_on_toy_and_empty():
    hu, aff, regions, skull, lines = _toy()
    cal = segment_calcium(hu, (1.0, 1.0, 1.0), aff, regions, skull, lines)
    m = measure_icac(hu, (1.0, 1.0, 1.0), aff, cal, lines)
    assert [(a["artery"], a["side"]) for a in m["arteries"]] == list(ARTERIES)
    assert set(ICAC_SESSION_MEASURES) <= set(m)
    mca = m["arteries"][2]
    assert set(ARTERY_MEASURES) <= set(mca)
    assert mca["calcium_volume_mm3"] == 4.0
    assert mca["n_plaques"] == 1
    assert mca["max_hu"] == 500.0
    assert mca["mass_mg"] == pytest.approx(4 * 500 * 0.001)
    # one 1-pixel lesion of 1 mm^2 per slice, weight 4, 4 slices of 1 mm
    assert mca["agatston"] == pytest.approx(4 * 1.0 * 4 / 3.0)
    assert m["dominant_location"] == "MCA"
    assert m["severity_group"] == "none_mild"
    empty = measure_icac(hu, (1.0, 1.0, 1.0), aff, np.zeros_like(cal), lines)
    assert empty["total_calcium_volume_mm3"] == 0.0
    assert empty["total_plaques"] == 0
    assert empty["severity_group"] == "none_mild"
    assert empty["dominant_location"] is None
    assert all(a["n_plaques"] == 0 for a in empty["arteries"])


def test_unavailable_measures_shape():
    from tasks.icac.calcium import unavailable_measures

    m = unavailable_measures("failed", "constant image")
    assert m["status"] == "failed" and m["reason"] == "constant image"
    assert all(m[k] is None for k in ICAC_SESSION_MEASURES)
    assert len(m["arteries"]) == len(ARTERIES)
    assert all(a[k] is None for a in m["arteries"] for k in ARTERY_MEASURES)
    with pytest.raises(ValueError):
        unavailable_measures("ok", "")


def test_plaque_labels_merge_close_fragments():
    from tasks.icac.calcium import plaque_labels

    mask = np.zeros((20, 20, 20), bool)
    mask[5, 5, 5:8] = True
    mask[5, 5, 9:11] = True  # one empty voxel (1 mm) between: the same plaque
    mask[15, 15, 15] = True  # 10 mm away: another plaque
    labels, n = plaque_labels(mask, (1.0, 1.0, 1.0))
    assert n == 2
    assert len(np.unique(labels[5, 5, 5:11][mask[5, 5, 5:11]])) == 1
    assert (labels > 0).sum() == mask.sum()
    assert plaque_labels(np.zeros_like(mask), (1.0, 1.0, 1.0))[1] == 0


def test_circumferential_extent_half_maximum_ignores_partial_volume_tails():
    core = _arc_points(90.0, start=0.0)  # 0..90 deg at 600 HU
    tails = _arc_points(30.0, start=100.0)  # 100..130 deg, partial volume at 180 HU
    pts = np.concatenate([core, tails])
    hu = np.concatenate([np.full(len(core), 600.0), np.full(len(tails), 180.0)])
    wide = circumferential_extent_deg(pts, LINE, radius_mm=2.0, fit_centre=False)
    fwhm = circumferential_extent_deg(pts, LINE, radius_mm=2.0, fit_centre=False, hu=hu)
    assert wide == pytest.approx(130.0, abs=1e-6)
    assert fwhm == pytest.approx(90.0, abs=1e-6)
