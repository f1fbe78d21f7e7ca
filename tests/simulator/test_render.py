"""Rendered sessions: truth agrees with masks, rules and targets; images are plausible."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from bench.truth_grades import icac_grades, svd_grades


def _vox(aff):
    return float(abs(np.linalg.det(aff[:3, :3])))


def test_api_shapes_and_names(sessions):
    from calcisvd.measures import ICAC_SESSION_MEASURES, SVD_MEASURES

    s = sessions["moderate"]
    assert set(s.images) == {"ct", "T1w", "T2w", "FLAIR", "T2starw"}
    for arr, aff in s.images.values():
        assert arr.dtype == np.float32 and arr.ndim == 3 and aff.shape == (4, 4)
    graded = ("fazekas_pv", "fazekas_deep", "fazekas_total", "pv_punctate_grade", "svd_score",
              "pv_punctate_foci", "microbleed_contrast")
    assert set(SVD_MEASURES) - set(graded) <= set(s.truth["svd"])
    assert not set(graded[:5]) & set(s.truth["svd"])  # raw truth: no grades stored
    icac_graded = ("severity_group", "dominant_location", "total_agatston")
    assert set(ICAC_SESSION_MEASURES) - set(icac_graded) <= set(s.truth["icac"])
    assert not set(icac_graded) & set(s.truth["icac"])
    assert len(s.truth["icac"]["arteries"]) == 7
    for kind in ("plaques", "microbleeds", "lacunes", "pvs"):
        for item in s.truth[kind]:
            assert len(item["centre_ras"]) == 3


@pytest.mark.parametrize("group", ["none_mild", "moderate", "severe"])
def test_icac_truth_matches_group_location_and_rule(sessions, group):
    s = sessions[group]
    ic = s.truth["icac"]
    labels, aff = s.masks["calcium_labels"]
    clean, caff = s.meta["ct_clean"]
    g = icac_grades(s.truth, clean, labels, tuple(np.abs(np.diag(aff))[:3]))
    assert g["severity_group"] == group
    assert g["dominant_location"] == s.truth["location"]
    vols = sum(p["volume_mm3"] for p in s.truth["plaques"])
    assert ic["total_calcium_volume_mm3"] == pytest.approx(vols, rel=1e-3)
    if group == "severe":
        assert ic["max_circumferential_extent_deg"] >= 200
    else:
        assert ic["max_circumferential_extent_deg"] <= 120
        assert ic["total_calcium_volume_mm3"] < 200
    assert np.array_equal(aff, caff)
    if (labels > 0).any():
        assert clean[labels > 0].min() >= 130  # labelled voxels are calcified
    if group == "severe":  # small deposits vanish in 4 mm voxels; the severe one does not
        assert g["total_agatston"] > 0 and ic["total_mass_mg"] > 0


@pytest.mark.parametrize("group", ["none_mild", "moderate", "severe"])
def test_svd_truth_matches_masks_and_rules(sessions, group):
    s = sessions[group]
    sv = s.truth["svd"]
    wmh, aff = s.masks["wmh_mask"]
    vox = _vox(aff)
    assert wmh.sum() * vox / 1000 == pytest.approx(sv["wmh_volume_cm3"], abs=1e-3)
    mb, _ = s.masks["microbleeds"]
    assert (mb > 0).sum() * vox == pytest.approx(sv["microbleed_volume_mm3"])
    assert len(np.unique(mb[mb > 0])) == sv["microbleed_count"] == len(s.truth["microbleeds"])
    lac, _ = s.masks["lacunes"]
    assert len(np.unique(lac[lac > 0])) == sv["lacune_count"] == len(s.truth["lacunes"])
    assert sv["ventricle_volume_cm3"] == pytest.approx(
        (s.masks["ventricles"][0] > 0).sum() * vox / 1000, abs=1e-3)
    # the split at 10 mm from the ventricle wall
    vent, _ = s.masks["ventricles"]
    dist = ndi.distance_transform_edt(vent == 0, sampling=np.abs(np.diag(aff))[:3])
    pv = (wmh > 0) & (dist <= 10)
    assert pv.sum() * vox / 1000 == pytest.approx(sv["wmh_pv_volume_cm3"], abs=1e-3)


@pytest.mark.parametrize("group", ["none_mild", "moderate", "severe"])
def test_truth_realises_the_targets(sessions, group):
    s = sessions[group]
    sv, t = dict(s.truth["svd"], **svd_grades(s.truth["svd"])), s.truth["targets"]
    assert sv["microbleed_count"] == t["microbleed_count"]
    assert sv["lacune_count"] == t["lacune_count"]
    # PV band volume is fitted on the FLAIR grid; punctate foci and rims may add a little
    assert sv["wmh_volume_cm3"] == pytest.approx(t["wmh_volume_cm3"], rel=0.25, abs=0.6)
    assert abs(sv["fazekas_total"] - t["fazekas_total"]) <= 1


def test_images_have_plausible_tissue_values(sessions):
    s = sessions["severe"]
    ct, _ = s.images["ct"]
    assert np.percentile(ct, 1) < -900  # air
    assert ct.max() > 700  # bone
    flair, _ = s.images["FLAIR"]
    t2, _ = s.images["T2w"]
    vent, _ = s.masks["ventricles"]
    wmh, _ = s.masks["wmh_mask"]
    core = ndi.binary_erosion(vent > 0)
    if core.sum() > 3:
        assert np.median(flair[core]) < np.median(flair[wmh > 0])  # CSF dark, WMH bright
        assert np.median(t2[core]) > np.median(t2[wmh > 0]) * 0.9  # CSF bright on T2
    swi, _ = s.images["T2starw"]
    mb, _ = s.masks["microbleeds"]
    if (mb > 0).any():
        assert np.median(swi[mb > 0]) < np.median(swi[wmh > 0])  # dark dots


def test_followup_evolves(sessions):
    from simulator.cohort import sample_patient
    from simulator.render import PatientRenderer

    spec = sample_patient(5, 2, "severe", "BA")
    r = PatientRenderer(spec, 4.0)
    b, f = r.render("baseline"), r.render("followup")
    assert f.truth["svd"]["microbleed_count"] >= b.truth["svd"]["microbleed_count"]
    assert f.truth["svd"]["lacune_count"] >= b.truth["svd"]["lacune_count"]
    assert f.truth["svd"]["wmh_volume_cm3"] > b.truth["svd"]["wmh_volume_cm3"]
    assert (f.truth["icac"]["total_calcium_volume_mm3"]
            >= b.truth["icac"]["total_calcium_volume_mm3"])


def test_thick_slice_wmh_truth_is_what_a_reader_sees_bright():
    """A thick slab that is at least half lesion is WMH truth only if its noise-free FLAIR is
    visibly above white matter (``THICK_TRUTH_VISIBLE_SD``): a faint lesion on the ventricle
    wall whose slab also holds CSF is darker than NAWM and is not drawn; the same lesion
    without CSF in its slab is."""
    from types import SimpleNamespace

    from simulator.render import NAWM_SD_FRACTION, THICK_TRUTH_VISIBLE_SD, _mr_thick

    wm, csf = 430.0, 70.0
    lesion = wm * (1 + 2.5 * NAWM_SD_FRACTION)  # the faintest lesion drawn (2.5 SD)
    shape = (8, 8, 10)
    aff = np.eye(4)
    clean = np.full(shape, wm, np.float32)
    wmh = np.zeros(shape, np.uint8)
    vent = np.zeros(shape, np.uint8)
    wmh[:, :, :6] = 1  # every slab is 60 % lesion ...
    clean[:, :, :6] = lesion
    clean[4:, :, 6] = csf  # ... and on the x >= 4 side 10 % ventricle (the wall)
    vent[4:, :, 6] = 1
    pr = SimpleNamespace(mr_slice_mm=(10.0, 10.0), mr_gap_frac=(0.0, 0.0),
                         mr_in_plane_mm=(1.0, 1.0))
    level = wm * (1 + THICK_TRUTH_VISIBLE_SD * NAWM_SD_FRACTION)
    _, masks, _ = _mr_thick({"FLAIR": (clean.copy(), aff)},
                            {"wmh_mask": (wmh, aff), "ventricles": (vent, aff)}, pr,
                            np.random.default_rng(0), (clean, level))
    truth = masks["wmh_mask"][0]
    assert truth.shape == (8, 8, 1)
    assert truth[:4].all()  # 60 % lesion at 2.5 SD: (0.6 x 1.15 + 0.4) = 1.09 x WM, seen
    assert not truth[4:].any()  # the same with 10 % CSF: 1.006 x WM, not seen
    assert not masks["ventricles"][0].any()


def test_visible_wmh_truth_marks_every_slab_the_lesion_makes_bright():
    """``wmh_visible`` is the reader who marks every slab a WMH makes visibly bright: a bright
    lesion (8 SD) filling 30 % of a slab is in it but not in the half-slab truth; a slab as
    bright for another reason (grey matter, no lesion) is in neither."""
    from types import SimpleNamespace

    from simulator.render import NAWM_SD_FRACTION, THICK_TRUTH_VISIBLE_SD, _mr_thick

    wm = 430.0
    sd = wm * NAWM_SD_FRACTION
    shape = (8, 8, 10)
    aff = np.eye(4)
    clean = np.full(shape, wm, np.float32)
    wmh = np.zeros(shape, np.uint8)
    lesion = np.zeros(shape, np.float32)
    wmh[:4, :, :3] = 1  # x < 4: 30 % of the slab is an 8 SD lesion
    lesion[:4, :, :3] = 8 * sd
    clean += lesion
    clean[4:, :, :] = wm + 3 * sd  # x >= 4: bright tissue, no lesion
    pr = SimpleNamespace(mr_slice_mm=(10.0, 10.0), mr_gap_frac=(0.0, 0.0),
                         mr_in_plane_mm=(1.0, 1.0))
    level = wm * (1 + THICK_TRUTH_VISIBLE_SD * NAWM_SD_FRACTION)
    _, masks, _ = _mr_thick({"FLAIR": (clean.copy(), aff)}, {"wmh_mask": (wmh, aff)}, pr,
                            np.random.default_rng(0), (clean, level),
                            (lesion, THICK_TRUTH_VISIBLE_SD * sd))
    visible, half = masks["wmh_visible"][0], masks["wmh_mask"][0]
    assert visible.shape == half.shape == (8, 8, 1)
    assert visible[:4].all() and not half[:4].any()  # 0.3 x 8 = 2.4 SD: seen, under half
    assert not visible[4:].any() and not half[4:].any()  # bright, but not from a lesion
