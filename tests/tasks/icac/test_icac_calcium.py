"""Calcium segmentation rules and the ICAC measures on known geometry."""

from __future__ import annotations

import numpy as np
import pytest

from calcisvd.measures import ARTERIES, ARTERY_MEASURES, ICAC_SESSION_MEASURES
from tasks.icac.calcium import measure_icac, segment_calcium
from tasks.icac.regions import MappedCentreline


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
    cal = segment_calcium(hu, (1.0, 1.0, 1.0), regions, skull)
    assert cal[12, 10, 8:12].tolist() == [3, 3, 3, 3]
    assert cal[19:, :, :].sum() == 0  # bone and the bone-touching speck far from the vessel
    assert int((cal > 0).sum()) == 4


def test_measure_icac_on_toy_and_empty():
    hu, aff, regions, skull, lines = _toy()
    cal = segment_calcium(hu, (1.0, 1.0, 1.0), regions, skull)
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



def test_a_partial_volume_layer_on_bone_is_bone_on_fine_pixels_too(monkeypatch):
    """"Next to the bone zone" is NEAR_MM (1 mm), not one voxel: a 1.5 mm layer of partial
    volume (130-300 HU) on the bone zone is a bone remnant on a routine CT's 0.5 mm pixels
    (two of its three pixels lie within 1 mm of the zone), as a 2-voxel one is at 1 mm."""
    hu = np.full((40, 30, 30), 30.0, np.float32)
    hu[30:] = 1200.0  # bone; its 1 mm rim reaches x = 29 (1 mm voxels) / x = 28 (0.5 mm)
    regions = np.ones(hu.shape, np.uint8)
    one = hu.copy()
    one[27:29, 10:14, 10:20] = 200.0
    assert not segment_calcium(one, (1.0, 1.0, 1.0), regions, one >= 300).any()
    hu[25:28, 10:14, 10:20] = 200.0
    assert not segment_calcium(hu, (0.5, 0.5, 1.0), regions, hu >= 300).any()
    # one voxel's reach would leave a third of it next to the zone on 0.5 mm pixels: calcium
    import tasks.icac.calcium as calcium

    monkeypatch.setattr(calcium, "NEAR_MM", 0.5)
    assert segment_calcium(hu, (0.5, 0.5, 1.0), regions, hu >= 300).any()


def _skull_base(plaque_x0: int = 13):
    """1 mm grid: a thick bone block (x >= 24), a 2 mm bone plate sticking out of it into the
    artery region, a template line running *through* the block, and the real vessel 7 mm off
    that line with a wall plaque ``plaque_x0``..``plaque_x0 + 2`` (3 voxels thick)."""
    hu = np.full((40, 40, 40), 30.0, np.float32)
    hu[24:, :, :] = 1200.0  # skull base: thick cortex
    hu[16:24, 28:30, 10:30] = 1200.0  # a 2 mm plate (the wall of a canal), joined to the block
    hu[plaque_x0:plaque_x0 + 3, 12:15, 18:22] = 600.0  # a deposit on the vessel wall
    regions = np.zeros(hu.shape, np.uint8)
    regions[4:36, 4:36, 4:36] = 1  # ICA L region, 11 mm around the line: holds all the bone
    line = MappedCentreline("ICA", "L", 1, np.stack(
        [np.full(61, 25.0), np.full(61, 13.0), np.linspace(5, 35, 61)], -1), 2.4)
    from tasks.icac.headmask import skull_mask

    skull = skull_mask(hu, (1.0, 1.0, 1.0))
    return hu, np.eye(4), regions, skull, [line]


def test_displaced_plaque_found_and_no_bone_counted():
    # the vessel lies 7 mm from the template line, which runs inside the bone: the old rule
    # kept bone within the "wall" of that line and dropped the plaque as too far from it
    hu, aff, regions, skull, lines = _skull_base(plaque_x0=14)
    cal = segment_calcium(hu, (1.0, 1.0, 1.0), regions, skull)
    assert (cal[14:17, 12:15, 18:22] == 1).all()
    assert int((cal > 0).sum()) == 3 * 3 * 4  # no voxel of the block, the plate or their rims
    from tasks.icac.calcium import measure_icac

    m = measure_icac(hu, (1.0, 1.0, 1.0), aff, cal, lines, skull=skull)
    assert m["arteries"][0]["calcium_volume_mm3"] == 36.0
    assert m["arteries"][0]["bone_touching_volume_mm3"] == 0.0
    assert m["dominant_location"] == "ICA"


def test_plaque_beside_bone_plate_is_kept_and_reported_as_touching():
    # the plaque ends 1 mm from the cortex (one voxel of soft tissue): it touches the bone's
    # partial-volume rim with its outer layer only
    hu, aff, regions, skull, lines = _skull_base(plaque_x0=20)
    hu[20:23, 12:15, 18:22] = 600.0
    cal = segment_calcium(hu, (1.0, 1.0, 1.0), regions, skull)
    assert (cal[20:22, 12:15, 18:22] == 1).all()
    assert cal[16:24, 28:30, :].sum() == 0 and cal[23:, :, :].sum() == 0
    from tasks.icac.calcium import measure_icac

    m = measure_icac(hu, (1.0, 1.0, 1.0), aff, cal, lines, skull=skull)
    assert m["arteries"][0]["bone_touching_volume_mm3"] == 36.0


def test_thin_bone_plate_is_not_calcium():
    # a 2 mm plate of the skull (canal wall, clinoid) is cut off by the opening, so it is not
    # in the bone zone; it is still bone because it is part of the skull mask
    from tasks.icac.calcium import bone_zone

    hu, aff, regions, skull, lines = _skull_base()
    zone = bone_zone(skull, (1.0, 1.0, 1.0))
    assert not zone[16:22, 28:30, 12:28].any()
    cal = segment_calcium(hu, (1.0, 1.0, 1.0), regions, skull)
    assert cal[15:, 25:33, :].sum() == 0
    # without the skull-share rule the plate would be counted: the rule is what removes it
    loose = segment_calcium(hu, (1.0, 1.0, 1.0), regions, skull,
                            max_skull_share=2.0)
    assert loose[16:24, 28:30, :].sum() > 100


def test_partial_volume_band_beside_a_bone_plate_is_bone_on_thick_slices():
    # the clivus on 3 mm slices: a band of partial volume (130-300 HU) along a sloping bone
    # surface, a quarter of it beside the bone zone and a quarter a thin plate of the skull cut
    # off by the opening; neither part is half of it, the two together are MAX_BONE_SHARE
    thick = (1.0, 1.0, 3.0)
    hu = np.full((40, 30, 30), 30.0, np.float32)
    hu[30:] = 1200.0  # the bone zone reaches x = 29; "next to it" is x = 28
    hu[26:29, 10:14, 10:20] = 250.0
    hu[25, 10:14, 10:20] = 400.0  # a 1 mm plate of the skull, not in the zone
    regions = np.ones(hu.shape, np.uint8)
    assert not segment_calcium(hu, thick, regions, hu >= 300).any()
    # on an isotropic grid the two shares count apart (a deposit on a canal wall may be both)
    iso = segment_calcium(hu, (1.0, 1.0, 1.0), regions, hu >= 300)
    assert int((iso > 0).sum()) == 4 * 4 * 10
    # the same block with only its quarter beside the bone zone is a deposit touching bone
    hu[25, 10:14, 10:20] = 250.0
    cal = segment_calcium(hu, thick, regions, hu >= 300)
    assert cal[25:29, 10:14, 10:20].all() and int((cal > 0).sum()) == 4 * 4 * 10


def test_thin_slices_of_fine_pixels_are_not_thick():
    """Thick is the slice thickness in mm, not its ratio to the pixel: a routine head CT of
    0.5 mm pixels and 1 mm slices (ratio 2) has a 1 mm slab, and a deposit beside bone there
    is judged as on an isotropic grid, each bone rule apart (the ratio rule dropped it), and
    "next to the bone zone" is NEAR_MM, not one pixel."""
    from tasks.icac.calcium import thick_slices

    assert not thick_slices((0.45, 0.45, 1.0)) and not thick_slices((2.0, 2.0, 2.0))
    assert thick_slices((0.45, 0.45, 2.5)) and thick_slices((1.0, 1.0, 3.0))
    hu = np.full((40, 30, 30), 30.0, np.float32)
    hu[30:] = 1200.0  # bone; with its 1 mm rim (2 pixels) the bone zone reaches x = 28
    hu[21:29, 10:14, 10:20] = 250.0  # a deposit on the bone surface, 3.5 mm outside the zone:
    # x = 26-27 lie within NEAR_MM (1 mm) of the zone, x = 21-22 are in the skull (>= 300 HU)
    hu[21:23, 10:14, 10:20] = 400.0
    regions = np.ones(hu.shape, np.uint8)
    fine = (0.5, 0.5, 1.0)
    cal = segment_calcium(hu, fine, regions, hu >= 300)
    assert cal[21:28, 10:14, 10:20].all() and int((cal > 0).sum()) == 7 * 4 * 10
    # the same voxels on 2.5 mm slices: one share of both rules, 4/7 >= MAX_BONE_SHARE: bone
    assert not segment_calcium(hu, (0.5, 0.5, 2.5), regions, hu >= 300).any()


def test_a_deposit_spanning_two_regions_goes_to_one_artery():
    hu = np.full((20, 20, 20), 30.0, np.float32)
    hu[8:13, 10, 10] = 500.0
    regions = np.zeros(hu.shape, np.uint8)
    regions[:, :, :] = 5  # BA
    regions[11:, :, :] = 6  # VA R holds 2 of its 5 voxels
    skull = np.zeros(hu.shape, bool)
    cal = segment_calcium(hu, (1.0, 1.0, 1.0), regions, skull)
    assert cal[8:13, 10, 10].tolist() == [5] * 5


def test_bone_rim_grows_with_slice_thickness():
    # a slab of 5 mm averages a sloping bone surface over about its thickness in-plane: the
    # rim counted as bone is half the slice thickness there (SLAB_RIM_FRACTION), 1 mm at 1 mm
    hu = np.full((30, 20, 10), 30.0, np.float32)
    hu[20:, :, :] = 1300.0  # bone
    hu[16:19, 10, 5] = 250.0  # partial-volume strip 2-4 mm off the bone surface
    hu[10:12, 10, 5] = 500.0  # a deposit 8 mm off the bone
    regions = np.ones(hu.shape, np.uint8)
    skull = hu >= 300
    skull[10:12, 10, 5] = False
    thin = segment_calcium(hu, (1.0, 1.0, 1.0), regions, skull)
    thick = segment_calcium(hu, (1.0, 1.0, 5.0), regions, skull)
    assert thin[16:19, 10, 5].all() and not thick[16:19, 10, 5].any()
    assert thin[10:12, 10, 5].all() and thick[10:12, 10, 5].all()


