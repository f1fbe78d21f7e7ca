"""The measures of a WMH mask: PV/deep split, Fazekas proxies, punctate foci, lesion size."""

from __future__ import annotations

import numpy as np
import pytest

from tasks.svd import rules
from tasks.svd.anatomy import distance_mm
from tasks.svd.wmh_grades import lesion_size_mm3, punctate_foci, wmh_measures


def _grid():
    shape = (60, 60, 60)
    vent = np.zeros(shape, bool)
    vent[25:35, 25:35, 25:35] = True
    return shape, vent, distance_mm(vent, (1.0,) * 3)


def test_pv_deep_split_and_fazekas():
    shape, vent, dist = _grid()
    wmh = np.zeros(shape, bool)
    wmh[35:40, 25:35, 25:35] = True  # touching the ventricle: 500 mm^3 PV
    wmh[5:15, 5:15, 5:15] = True  # 1000 mm^3 deep, far away
    m = wmh_measures(wmh, dist, (1.0,) * 3)
    assert m.pv_volume_cm3 == pytest.approx(0.5)
    assert m.deep_volume_cm3 == pytest.approx(1.0)
    assert m.volume_cm3 == pytest.approx(1.5)
    assert m.largest_deep_lesion_mm3 == pytest.approx(1000.0)
    assert m.fazekas_pv == rules.fazekas_pv(0.5) == 0
    # 1000 mm^3 -> equivalent diameter 12.4 mm -> deep grade 2
    assert m.fazekas_deep == 2
    assert m.fazekas_total == 2
    assert m.n_punctate == 0  # the PV lesion touches the ventricle, the deep one is far


def test_punctate_foci_count_and_grade():
    shape, vent, dist = _grid()
    wmh = np.zeros(shape, bool)
    # 2x2x2 foci (8 mm^3) 4 mm from the ventricle wall, separated from each other
    for j in (25, 29, 33):
        wmh[38:40, j:j + 2, 26:28] = True
        wmh[20:22, j:j + 2, 26:28] = True
    wmh[36:38, 36:38, 36:38] = True  # diagonal corner, 3.5-5.2 mm away
    wmh[50:52, 50:52, 50:52] = True  # too far: deep
    n, mask = punctate_foci(wmh, dist, (1.0,) * 3)
    assert n == 7
    assert mask.sum() == 7 * 8
    assert rules.pv_punctate_grade(n) == 3
    assert rules.pv_punctate_grade(2) == 1


def test_lesion_size_is_the_voxel_volume_on_isotropic_grids():
    rng = np.random.default_rng(7)
    for sp in ((1.0,) * 3, (2.0,) * 3, (0.5,) * 3):
        for _ in range(20):
            m = rng.random((6, 7, 5)) < 0.4
            assert lesion_size_mm3(m, sp) == pytest.approx(m.sum() * np.prod(sp))


def test_a_round_focus_in_one_thick_slab_keeps_its_own_size_and_stays_punctate():
    """A 5 mm focus (65 mm^3) seen in one 8 mm slab: 162 mm^3 of voxels (a 6.8 mm sphere),
    sized as a round lesion 65-70 mm^3; a 4 mm one (34 mm^3) counts as a punctate PV focus
    (the voxel volume, 101 mm^3, made it none) and a confluent slab area does not shrink."""
    sp = (0.5, 0.5, 8.0)
    yy, xx = np.mgrid[-10:10.5:0.5, -10:10.5:0.5]
    five = ((yy ** 2 + xx ** 2) <= 2.5 ** 2)[:, :, None]
    assert five.sum() * 0.25 * 8.0 == pytest.approx(162.0)
    assert 60.0 <= lesion_size_mm3(five, sp) <= 70.0
    big = np.ones((40, 40, 2), bool)  # 20 x 20 mm over two slabs: as deep as the slabs
    assert lesion_size_mm3(big, sp) == pytest.approx(big.sum() * 0.25 * 8.0)

    shape = (80, 80, 8)
    vent = np.zeros(shape, bool)
    vent[30:50, 30:50, 3:5] = True
    dist = distance_mm(vent, sp)
    wmh = np.zeros(shape, bool)
    four = ((yy ** 2 + xx ** 2) <= 2.0 ** 2)[12:29, 12:29]  # 4 mm disc, 8.5 x 8.5 mm box
    wmh[51:68, 31:48, 4] = four  # 0.5-8.5 mm beyond the ventricle's edge, same slab
    assert wmh.sum() * 0.25 * 8.0 > rules.PUNCTATE_MAX_MM3  # by voxels: not punctate
    n, mask = punctate_foci(wmh, dist, sp)
    assert n == 1 and mask.sum() == wmh.sum()
    # a 9.5 mm deep focus in one slab: 567 mm^3 of voxels (10.3 mm, "beginning confluence",
    # deep grade 2); sized as the round lesion it is, 449 mm^3 (9.5 mm): grade 1
    deep = np.zeros(shape, bool)
    gy, gx = np.mgrid[0:shape[0], 0:shape[1]]
    deep[:, :, 6] = (gy - 12) ** 2 + (gx - 12) ** 2 <= 9.5 ** 2  # 16 mm from the ventricles
    assert rules.fazekas_deep(1.0, deep.sum() * 0.25 * 8.0) == 2
    m = wmh_measures(wmh | deep, dist, sp)
    assert m.largest_deep_lesion_mm3 == pytest.approx(lesion_size_mm3(deep, sp))
    assert m.fazekas_deep == 1
