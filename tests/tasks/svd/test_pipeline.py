"""One session end to end in memory (tasks.svd.pipeline) on a simulated 3 mm session."""

from __future__ import annotations

import numpy as np
import pytest

from calcisvd.measures import SVD_MEASURES
from tasks.svd.image import DegenerateImageError
from tasks.svd.pipeline import quantify_svd
from tasks.svd.steps import assemble_measures

KEYS = set(SVD_MEASURES) | {"status", "reason"} | {"qc"}


def test_measures_shape_and_values(sim_session, sim_result):
    m = sim_result.measures
    assert set(m) == KEYS
    assert m["status"] == "ok" and m["microbleed_contrast"] == "T2starw"
    from bench.truth_grades import svd_grades

    truth = dict(sim_session.truth["svd"], **svd_grades(sim_session.truth["svd"]))  # raw truth
    # severe case: the WMH burden is found, PV + deep add up
    assert m["wmh_volume_cm3"] == pytest.approx(truth["wmh_volume_cm3"], rel=0.35)
    assert m["wmh_volume_cm3"] == pytest.approx(
        m["wmh_pv_volume_cm3"] + m["wmh_deep_volume_cm3"], abs=0.01)
    assert abs(m["fazekas_total"] - truth["fazekas_total"]) <= 1
    assert m["fazekas_total"] == m["fazekas_pv"] + m["fazekas_deep"]
    assert 0 <= m["svd_score"] <= 4 and 0 <= m["pv_punctate_grade"] <= 3
    assert m["lacune_count"] >= 1 and m["microbleed_count"] >= 1


def test_masks_on_reference_grid(sim_session, sim_result):
    shape = sim_session.images["FLAIR"][0].shape
    assert sim_result.reference == "FLAIR"
    for name in ("brain", "ventricles", "wmh", "microbleeds", "lacunes", "pvs", "tissue"):
        assert sim_result.masks[name].shape == shape, name
    truth_v = sim_session.masks["ventricles"][0] > 0
    v = sim_result.masks["ventricles"]
    assert 2 * (v & truth_v).sum() / (v.sum() + truth_v.sum()) > 0.6


def test_missing_flair_keeps_the_rest(sim_session):
    imgs = {k: sim_session.images[k] for k in ("T1w", "T2w")}
    r = quantify_svd(imgs)
    m = r.measures
    assert r.reference == "T2w"
    assert m["status"] == "ok"
    for k in ("wmh_volume_cm3", "fazekas_total", "pv_punctate_grade", "svd_score"):
        assert m[k] is None
    assert "no FLAIR" in m["reason"] and "microbleeds counted on T2w" in m["reason"]
    assert m["microbleed_contrast"] == "T2w"
    assert m["lacune_count"] is not None


def test_no_images_is_missing():
    m = quantify_svd({"FLAIR": None, "T1w": None}).measures
    assert m["status"] == "missing" and m["wmh_volume_cm3"] is None


def test_degenerate_image_raises(sim_session):
    flair, aff = sim_session.images["FLAIR"]
    with pytest.raises(DegenerateImageError, match="FLAIR"):
        quantify_svd({"FLAIR": (np.zeros_like(flair), aff)})


def test_assemble_zero_lesions():
    wmh = {"volume_cm3": 0.0, "pv_volume_cm3": 0.0, "deep_volume_cm3": 0.0, "fazekas_pv": 0,
           "fazekas_deep": 0, "fazekas_total": 0, "pv_punctate_grade": 0}
    m = assemble_measures(wmh=wmh, microbleeds=[], contrast="T2starw", lacunes=[], pvs=[],
                          bg_pvs_count=0, reasons=[])
    assert set(m) == KEYS
    assert m["svd_score"] == 0 and m["microbleed_count"] == 0 and m["lacune_count"] == 0
    assert m["reason"] is None


def test_thick_slice_flair_t1_keeps_wmh_and_reports_cavities_as_not_measured(sim_session):
    """The session cut into 6 mm axial slabs at 1 mm in plane with a +-20 % residual field
    along z (a clinical 2-D FLAIR + T1w): WMH Dice against the slab truth stays near the 3 mm
    result (0.66 measured at this commit; it collapsed to 0 on the simulator's clinical2d
    protocol before issue 16), and lacunes/PVS/microbleeds are None with a reason."""
    from simulator.protocols import thick_slices

    imgs = {}
    for k in ("T1w", "FLAIR"):
        arr, aff = sim_session.images[k]
        field = np.linspace(0.8, 1.2, arr.shape[2], dtype=np.float32)[None, None, :]
        imgs[k] = thick_slices((arr * field).astype(np.float32), aff, 6.0, 0.0, 1.0)
    m, _ = thick_slices(sim_session.masks["wmh_mask"][0].astype(np.float32),
                        sim_session.masks["wmh_mask"][1], 6.0, 0.0, 1.0)
    truth = m >= 0.5
    r = quantify_svd(imgs)
    est = r.masks["wmh"]
    assert est.shape == truth.shape == imgs["FLAIR"][0].shape  # native thick-slice grid
    dice = 2 * (truth & est).sum() / (truth.sum() + est.sum())
    assert dice >= 0.55, dice
    meas = r.measures
    assert meas["lacune_count"] is None and meas["pvs_count"] is None
    assert meas["microbleed_count"] is None and meas["svd_score"] is None
    assert "lacunes and PVS not measurable" in meas["reason"]
    assert "microbleeds not computed" in meas["reason"]


def test_analytic_head_phantom_wmh_found_with_t1_and_t2(phantom2):
    """The phantom's WMH are dark on T1w and bright on T2w, so k-means puts them in the CSF
    class; FLAIR-bright voxels are still no sulcal CSF, so the cortex rule keeps them (before,
    as "sulcal CSF" they lay within CORTEX_MM of themselves and none was found).

    Only the share found is tested: the phantom's two grey nuclei (FLAIR 22 % above WM, an
    ellipsoid head whose template WM territory covers them) are found as WMH too since the
    NAWM reference blocks are 32 mm (16 mm blocks were filled by a nucleus and took it for
    NAWM, as they took a confluent lesion; see ``image.LOCAL_REF_BLOCK_MM``)."""
    r = quantify_svd(phantom2.images)
    truth = np.asarray(phantom2.truth["wmh"]) > 0
    found = np.asarray(r.masks["wmh"]) > 0
    assert found.shape == truth.shape
    assert (found & truth).sum() >= 0.7 * truth.sum(), (found & truth).sum() / truth.sum()


def test_skull_stripped_export_gives_no_microbleeds_in_its_blanked_pockets():
    """Simulator protocol ``stripped3d`` (each contrast skull-stripped in its own pose, 0
    outside; T2w, no T2*w) at 2 mm, seed 2205: the blanked sulcal pockets inside the brain
    mask were 19 false microbleeds; with the blanked voxels out of the brain mask and the
    no-signal voxels out of the detection, 5 (measured 2026-12-07)."""
    from simulator import render_session

    s = render_session(seed=2205, group="moderate", location="MCA", resolution_mm=2.0,
                       protocol="stripped3d")
    r = quantify_svd({k: s.images[k] for k in ("T1w", "T2w", "FLAIR")})
    truth = [np.asarray(t["centre_ras"]) for t in s.truth["microbleeds"]]
    false = [f for f in r.lesions["microbleeds"]
             if min(np.linalg.norm(np.asarray(f.centre_ras) - c) for c in truth) > 5.0]
    assert len(false) <= 6, [f.as_dict() for f in false]
    assert r.measures["microbleed_contrast"] == "T2w"
    from tasks.svd.image import blanked

    assert not (r.masks["brain"] > 0)[blanked(s.images["FLAIR"][0])].any()
