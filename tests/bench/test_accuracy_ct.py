"""bench.accuracy_ct: per-plaque detection rows and the detection summary."""

from __future__ import annotations

import numpy as np

from bench.accuracy_ct import bloom_voxels, calcium_off_deposits, plaque_detection, summarise

# ARTERIES order (calcisvd.measures): label 1 = ICA L, 3 = MCA L
ICA_L, MCA_L = 1, 3


def _scene():
    hu = np.full((12, 12, 12), 40.0)
    labels = np.zeros(hu.shape, np.int16)
    labels[2:4, 2:4, 2:4] = 1  # plaque 1 (ICA L) beside bone
    hu[2:4, 2:4, 2:4] = 500.0
    hu[1, 2:4, 2:4] = 1300.0  # bone touching plaque 1
    labels[8:10, 8:10, 8:10] = 2  # plaque 2 (ICA L) away from bone
    hu[8:10, 8:10, 8:10] = 500.0
    plaques = [{"label": 1, "artery": "ICA", "side": "L", "volume_mm3": 8.0,
                "bone_gap_mm": 0.0},
               {"label": 2, "artery": "ICA", "side": "L", "volume_mm3": 8.0,
                "bone_gap_mm": None}]
    return hu, labels, plaques


def test_plaque_found_under_another_artery_is_told_apart():
    hu, labels, plaques = _scene()
    cal = np.zeros(hu.shape, np.uint8)
    cal[labels == 2] = MCA_L  # found, but given to M1
    rows = plaque_detection(hu, labels, cal, plaques)
    assert [r["touches_bone"] for r in rows] == [True, False]
    assert rows[0]["found_fraction"] == 0.0 and rows[0]["found_as"] is None
    assert rows[1]["found_fraction"] == 1.0 and rows[1]["found_as"] == ["MCA", "L"]
    assert rows[0]["bone_gap_mm"] == 0.0
    # a boolean mask gives the old rows (no found_as)
    assert "found_as" not in plaque_detection(hu, labels, cal > 0, plaques)[0]
    subj = {"arteries": [{"volume": 8.0, "truth_rendered_volume": 8.0,
                          "truth_deposit_volume": 8.0, "overlap_volume": 8.0,
                          "agatston": 1.0, "truth_agatston": 1.0},
                         {"volume": 0.0, "truth_rendered_volume": 1.0,
                          "truth_deposit_volume": 1.0, "overlap_volume": 0.0,
                          "agatston": 0.0, "truth_agatston": 2.0}],
            "severity": "none_mild", "truth_severity": "none_mild", "dominant": "MCA",
            "truth_dominant": "ICA", "max_extent": 0.0, "truth_max_extent": 0.0,
            "seconds": 1.0, "status": "ok", "plaques": rows}
    pd = summarise([subj, {**subj, "severity": "moderate"}])["plaque_detection_ge5mm3"]
    assert pd["detected_under_other_artery"] == 2
    assert pd["bone_touching_gap_0"] == {"n": 2, "detected": 0, "sensitivity": 0.0}
    assert pd["not_touching_bone"]["sensitivity"] == 1.0


def test_plaque_under_its_own_artery_is_not_counted_as_other():
    hu, labels, plaques = _scene()
    cal = np.zeros(hu.shape, np.uint8)
    cal[labels > 0] = ICA_L
    rows = plaque_detection(hu, labels, cal, plaques)
    assert [r["found_as"] for r in rows] == [["ICA", "L"], ["ICA", "L"]]


def test_calcium_off_deposits_splits_blooming_from_false_calcium():
    _, labels, _ = _scene()
    found = labels > 0
    assert calcium_off_deposits(found, labels, (1.0, 1.0, 1.0)) == {"beside": 0.0, "away": 0.0}
    found = found.copy()
    found[4, 2:4, 2:4] = True  # a 1-voxel rim on plaque 1: blooming
    found[5, 2, 2] = True  # two voxels off it: false calcium
    found[0, 11, 11] = True  # far from both: false calcium
    assert calcium_off_deposits(found, labels, (1.0, 1.0, 1.0)) == {"beside": 4.0, "away": 2.0}
    # at 0.5 mm the same 1 mm reach is two voxels: the voxel two off plaque 1 is blooming
    off = calcium_off_deposits(found, labels, (0.5, 0.5, 0.5))
    assert off == {"beside": 5 * 0.125, "away": 1 * 0.125}
    assert (bloom_voxels((1.0, 1.0, 1.0)), bloom_voxels((0.5, 0.5, 0.5)),
            bloom_voxels((1.0, 1.0, 2.5)), bloom_voxels((0.45, 0.45, 5.0))) == (1, 2, 1, 3)
