"""Acquisition protocols: the stated geometry reaches the DICOM headers; contrasts and values."""

from __future__ import annotations

import json

import numpy as np
import pydicom
import pytest

from simulator import protocols


def _headers(folder):
    files = sorted(p for p in folder.iterdir() if p.name.startswith("IM"))
    return [pydicom.dcmread(f, stop_before_pixels=True) for f in files]


@pytest.fixture(scope="module")
def clinical_export(tmp_path_factory) -> dict:
    from simulator.export import simulate_cohort

    root = tmp_path_factory.mktemp("proto")
    simulate_cohort(1, 3, 4.0, root / "drop", root / "truth", follow_up=False,
                    protocol="clinical2d")
    truth = json.loads(next((root / "truth").glob("*/baseline/truth.json")).read_text())
    return {"root": root, "truth": truth}


def test_unknown_protocol_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown protocol 'nope'"):
        protocols.get("nope")


def test_clinical2d_mr_geometry_in_dicom(clinical_export):
    t, drop = clinical_export["truth"], clinical_export["root"] / "drop"
    pr = t["protocol"]
    assert 4.0 <= pr["mr_slice_mm"] <= 8.0 and 0.4 <= pr["mr_in_plane_mm"] <= 1.0
    assert 0 <= pr["mr_gap_mm"] <= 0.3 * pr["mr_slice_mm"] + 1e-6
    assert set(t["series_dirs"]) >= {"FLAIR", "T1w"}
    assert "T2w" not in t["series_dirs"] and "T2starw" not in t["series_dirs"]
    hs = _headers(drop / t["series_dirs"]["FLAIR"])
    h = hs[0]
    assert float(h.SliceThickness) == pytest.approx(pr["mr_slice_mm"], abs=1e-3)
    assert float(h.SpacingBetweenSlices) == pytest.approx(pr["mr_slice_mm"] + pr["mr_gap_mm"],
                                                          abs=2e-3 * 4)
    assert [float(v) for v in h.PixelSpacing] == pytest.approx([pr["mr_in_plane_mm"]] * 2,
                                                               abs=1e-3)
    z = [float(x.ImagePositionPatient[2]) for x in hs]
    assert np.allclose(np.abs(np.diff(z)), float(h.SpacingBetweenSlices), atol=1e-3)


def test_gantry_tilt_geometry_as_scanners_write_it(clinical_export):
    t, drop = clinical_export["truth"], clinical_export["root"] / "drop"
    tilt = t["protocol"]["ct_tilt_deg"]
    assert 12.0 <= tilt <= 25.0
    hs = _headers(drop / t["series_dirs"]["ct"])
    h = hs[0]
    assert float(h.GantryDetectorTilt) == pytest.approx(tilt, abs=1e-3)
    iop = np.array([float(v) for v in h.ImageOrientationPatient])
    c = np.cos(np.radians(tilt))
    s = np.sin(np.radians(tilt))
    assert iop[:3] == pytest.approx([1, 0, 0], abs=1e-5)
    assert iop[3:] == pytest.approx([0, c, -s], abs=1e-5)  # rows tilted, down posteriorly
    ipp = np.array([[float(v) for v in x.ImagePositionPatient] for x in hs])
    step = np.diff(ipp, axis=0)
    assert np.allclose(step[:, :2], 0, atol=1e-3)  # slices advance along the table only
    assert np.allclose(np.abs(step[:, 2]), 5.0 / c, atol=2e-3)
    assert float(h.SliceThickness) == pytest.approx(5.0)
    assert float(h.SpacingBetweenSlices) == pytest.approx(5.0, abs=2e-3)
    assert float(h.KVP) == 120.0


@pytest.mark.parametrize("kvp", [100.0, 140.0])
def test_kvp_shifts_calcium_and_bone_hu(kvp):
    from simulator import render_session

    base = render_session(seed=4, group="severe", location="ICA", resolution_mm=4.0)
    s = render_session(seed=4, group="severe", location="ICA", resolution_mm=4.0,
                       protocol=f"ct_{int(kvp)}kvp")
    b0, b1 = base.meta["ct_clean"][0], s.meta["ct_clean"][0]
    bone = b0 > 800
    ratio = np.median(b1[bone]) / np.median(b0[bone])
    assert ratio == pytest.approx(protocols.kvp_factor(kvp), rel=0.05)
    assert s.truth["protocol"]["kvp"] == kvp
    # the true deposit volumes do not depend on kVp
    assert s.truth["icac"]["total_calcium_volume_mm3"] == base.truth["icac"][
        "total_calcium_volume_mm3"]


def test_graded_lesions_contrast_and_weak_gm_wm():
    from simulator import render_session

    s = render_session(seed=6, group="severe", location="MCA", resolution_mm=3.0,
                       protocol="paper_graded")
    p = render_session(seed=6, group="severe", location="MCA", resolution_mm=3.0)
    fl, _ = s.images["FLAIR"]
    wmh = s.masks["wmh_mask"][0] > 0
    vent = s.masks["ventricles"][0] > 0
    from scipy import ndimage as ndi

    far = ~ndi.binary_dilation(wmh | vent, iterations=2)
    p_fl = p.images["FLAIR"][0]
    # contrast relative to the surrounding tissue is far lower than the paper protocol's
    c_graded = np.median(fl[wmh]) / np.median(fl[far & (fl > np.percentile(fl, 60))])
    c_paper = np.median(p_fl[wmh]) / np.median(p_fl[far & (p_fl > np.percentile(p_fl, 60))])
    assert c_graded < c_paper
    # WMH are T1w-hypointense: graded lesions are darker than the WM around them on T1w
    # (they were rendered brighter, which no real WMH is)
    t1 = s.images["T1w"][0]  # same pose as FLAIR up to <= 1.5 mm motion: compare cores
    core = ndi.binary_erosion(wmh, iterations=1)
    ring = ndi.binary_dilation(wmh, iterations=3) & ~ndi.binary_dilation(wmh, iterations=1)
    ring &= ~ndi.binary_dilation(vent, iterations=2)
    assert np.median(t1[core]) < np.median(t1[ring])


@pytest.mark.parametrize("seed", [0, 1, 4])
def test_graded_lesion_contrast_spans_2_5_to_8_sd_of_nawm(seed):
    """Graded WMH: inside a large lesion the contrast varies smoothly over 2.5-8 NAWM SD.

    Checked on the rendering step itself (a uniform white-matter block): the spread of a whole
    rendered head's lesions depends on partial volume and on the seed's lesion sizes.
    """
    from simulator.lesions import VisitLesions
    from simulator.render import MR_SIGNAL, NAWM_SD_FRACTION, _graded_lesions

    s = dict(MR_SIGNAL["FLAIR"])
    img = np.full((48, 48, 48), s["wm"], np.float32)
    band = np.zeros_like(img)
    band[9:39, 9:39, 9:39] = 1
    out = _graded_lesions(img, np.eye(4), band, VisitLesions(pv_band=band), np.eye(4), s, 1.0,
                          np.random.default_rng(seed))
    nawm_sd = s["wm"] * NAWM_SD_FRACTION
    z = (out[14:34, 14:34, 14:34] - s["wm"]) / nawm_sd
    assert z.min() >= 2.5 - 1e-3 and z.max() <= 8.0 + 1e-3
    assert np.percentile(z, 90) - np.percentile(z, 10) > 2.5  # graded, not one flat value



@pytest.mark.parametrize("contrast", ["FLAIR", "T2w", "T1w"])
def test_graded_lacune_rim_lies_in_the_lesion_range(contrast):
    """A lacune's gliotic rim on graded protocols is drawn like a graded WMH: 2.5-8 NAWM SD
    from white matter, on the side of the contrast's ungraded rim (bright on FLAIR/T2w, dark
    on T1w), never at the ungraded level (FLAIR 900 = 18 SD)."""
    from simulator.render import LESION_SD, MR_SIGNAL, NAWM_SD_FRACTION, lesion_level

    s = dict(MR_SIGNAL[contrast])
    sd = s["wm"] * NAWM_SD_FRACTION
    side = np.sign(s["rim"] - s["wm"])
    for k in LESION_SD:
        z = (lesion_level(s, "rim", k) - s["wm"]) / sd
        assert z == pytest.approx(side * k)
    if contrast == "FLAIR":  # the ungraded FLAIR rim (18 SD) lies far above the range
        assert (s["rim"] - s["wm"]) / sd > LESION_SD[1]
    assert lesion_level(s, "wmh", 3.0) == pytest.approx(
        s["wm"] + np.sign(s["wmh"] - s["wm"]) * 3.0 * sd)

def test_skull_stripped_flair_only():
    from simulator import render_session

    s = render_session(seed=2, group="moderate", location="BA", resolution_mm=4.0,
                       protocol="clinical2d_flair_stripped")
    assert set(s.images) == {"ct", "FLAIR"}
    fl, _ = s.images["FLAIR"]
    assert (fl == 0).mean() > 0.3  # everything outside the brain is zero
    assert s.truth["protocol"]["skull_stripped"] is True


def _head_top_template_z(img: np.ndarray, aff: np.ndarray, world_from_mni, thr: float) -> float:
    """Highest template z (mm) of the voxels of ``img`` above ``thr``."""
    ijk = np.argwhere(img > thr)
    xyz = ijk @ np.asarray(aff)[:3, :3].T + np.asarray(aff)[:3, 3]
    m = np.linalg.inv(np.asarray(world_from_mni, float))
    return float((xyz @ m[:3, :3].T + m[:3, 3])[:, 2].max())


@pytest.mark.parametrize("name", ["ct_tilt", "ct_clinical"])
def test_tilted_ct_covers_the_whole_head_skull_base_to_vertex(name):
    """A tilted protocol's CT reaches the vertex (as high as the MR, which covers the whole
    head), its first and last slices are air (the scan is not cut off), and the skull base
    stays in it; the paper's CT stops at the orbital roof slab."""
    from simulator.render import render_session

    s = render_session(seed=5, resolution_mm=4.0, protocol=name)
    hu, aff = s.images["ct"]
    fl, faff = s.images["FLAIR"]
    poses = s.meta["poses_world_from_mni"]
    assert protocols.get(name).ct_whole_head
    top_ct = _head_top_template_z(hu, aff, poses["ct"], -500.0)
    top_mr = _head_top_template_z(fl, faff, poses["FLAIR"], 0.1 * float(fl.max()))
    assert top_ct >= top_mr - 8.0
    assert not (hu[..., 0] > -500).any() and not (hu[..., -1] > -500).any()
    paper = render_session(seed=5, resolution_mm=4.0, protocol="paper")
    p_hu, p_aff = paper.images["ct"]
    assert _head_top_template_z(p_hu, p_aff, paper.meta["poses_world_from_mni"]["ct"],
                                -500.0) < top_mr - 30.0


def _air_noise_sd(hu: np.ndarray) -> float:
    from scipy import ndimage

    head = ndimage.binary_dilation(hu > -900.0, iterations=3)  # and a spline's ringing
    air = ~head & (np.abs(hu + 1000.0) < 50.0)
    return float(np.std(hu[air]))


def test_tilted_ct_has_the_kernel_noise_per_voxel():
    """A scanner reconstructs the tilted slices directly: their noise is the kernel's, voxel by
    voxel. Resampling a finished noisy image onto the tilted grid averaged it down (to about
    0.6-0.8 of the kernel's SD) and spread every deposit over the interpolation's blur."""
    from simulator.render import render_session

    tilted = render_session(seed=5, resolution_mm=4.0, protocol="ct_tilt").images["ct"][0]
    paper = render_session(seed=5, resolution_mm=4.0, protocol="paper").images["ct"][0]
    ref = _air_noise_sd(paper)
    assert ref == pytest.approx(protocols.KERNEL["soft"][0], rel=0.1)
    assert _air_noise_sd(tilted) == pytest.approx(ref, rel=0.1)
