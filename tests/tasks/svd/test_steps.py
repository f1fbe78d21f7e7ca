"""One implementation per step: the Nipype workflow and the in-memory chain give the same
measures and masks on the same session (issue 21 item 4), also on thick slices."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from tasks.svd.steps import CAVITY_MAX_SLICE_MM, WMH_APPROX_SLICE_MM, session_reasons

MASKS = {"wmh": "wmh_mask", "microbleeds": "microbleed_mask", "lacunes": "lacune_mask",
         "pvs": "pvs_mask", "ventricles": "ventricle_mask", "brain": "brain_mask"}


def test_session_reasons_name_what_is_not_measured():
    thin, thick = (1.0, 1.0, 1.0), (0.5, 0.5, 6.0)
    assert session_reasons({"T1w", "T2w", "FLAIR", "T2starw"}, thin, True) == []
    assert session_reasons({"FLAIR"}, thin, False) == [
        "no ventricles found: all WMH counted as deep",
        "no T2*w or T2w: microbleeds not computed"]
    got = session_reasons({"T1w", "FLAIR"}, thick, True)
    assert got[1] == (f"slices 6.0 mm thick (> {CAVITY_MAX_SLICE_MM:g} mm): "
                      "lacunes and PVS not measurable")
    # thick slices: the WMH markers are reported, and said to be approximate
    assert got[2] == (f"slices 6.0 mm thick (> {WMH_APPROX_SLICE_MM:g} mm): WMH volume and "
                      "Fazekas grades approximate (partial volume across the slice)")
    assert not any("WMH" in r for r in session_reasons({"FLAIR"}, (1.0, 1.0, 2.0), True))
    assert session_reasons({"T1w"}, thick, True)[-1] == "no FLAIR: WMH markers not computed"
    assert session_reasons({"T2starw"}, thin, True) == [
        "no T1w/T2w/FLAIR: lacunes and PVS not computed", "no FLAIR: WMH markers not computed"]


def _both(images, tmp_path):
    """(quantify_svd result, workflow outputs) on the same images written as NIfTI."""
    from tasks.quantify.runner import run_workflow
    from tasks.svd.pipeline import quantify_svd
    from tasks.workflows.mri import init_mri_svd_wf

    for key, (arr, aff) in images.items():
        nib.save(nib.Nifti1Image(np.asarray(arr, np.float32), aff), tmp_path / f"{key}.nii.gz")
    # the in-memory chain reads the same (float32) voxels the workflow reads
    loaded = {k: (np.asanyarray(nib.load(tmp_path / f"{k}.nii.gz").dataobj),
                  nib.load(tmp_path / f"{k}.nii.gz").affine) for k in images}
    mem = quantify_svd(loaded)
    wf = init_mri_svd_wf(**{f"has_{k.lower()}": k in images
                            for k in ("T1w", "T2w", "FLAIR", "T2starw")}, name="mri_svd_wf")
    wf.base_dir = str(tmp_path / "work")
    for key in images:
        setattr(wf.inputs.inputnode, key.lower(), str(tmp_path / f"{key}.nii.gz"))
    return mem, run_workflow(wf, "Linear", None)


def _assert_same(mem, out):
    wf_measures = {k: v for k, v in out["measures"].items() if k != "iqms"}
    assert wf_measures == mem.measures
    for key, field in MASKS.items():
        if key not in mem.masks:
            assert field not in out, f"{field}: the workflow wrote a mask the chain did not"
            continue
        got = np.asarray(nib.load(out[field]).dataobj) > 0
        assert np.array_equal(got, np.asarray(mem.masks[key]) > 0), field


@pytest.mark.slow
def test_workflow_and_in_memory_chain_agree(tmp_path, sim_session):
    images = {k: sim_session.images[k] for k in ("T1w", "T2w", "FLAIR", "T2starw")}
    mem, out = _both(images, tmp_path)
    assert mem.measures["status"] in ("ok", "review")
    assert mem.measures["lacune_count"] is not None  # 3 mm: cavities measurable
    _assert_same(mem, out)


@pytest.mark.slow
def test_they_agree_on_thick_slices_and_report_no_cavities(tmp_path):
    from simulator import render_session

    s = render_session(seed=2204, group="severe", location="MCA", resolution_mm=3.0,
                       protocol="clinical2d")
    images = {k: s.images[k] for k in ("T1w", "FLAIR") if k in s.images}
    mem, out = _both(images, tmp_path)
    assert max(np.linalg.norm(images["FLAIR"][1][:3, :3], axis=0)) > CAVITY_MAX_SLICE_MM
    assert mem.measures["lacune_count"] is None and mem.measures["pvs_count"] is None
    assert "lacunes and PVS not measurable" in mem.measures["reason"]
    _assert_same(mem, out)


def _wm_cube(n: int = 40, sp: float = 2.0):
    from tasks.svd.steps import anatomy_from_masks

    brain = np.zeros((n,) * 3, bool)
    brain[2:-2, 2:-2, 2:-2] = True
    return anatomy_from_masks(brain, np.where(brain, 3, 0).astype(np.uint8),
                              np.zeros(brain.shape, bool), (sp,) * 3)


@pytest.mark.parametrize("case", ["dark_wm_class", "missed_load"])
def test_wmh_qc_volume_is_the_smaller_of_the_two_global_passes(case):
    """The WMH step's QC volume (``global_reference_cm3``): on FLAIR alone with weak grey/white
    contrast the WM intensity class is the darker part of the white matter, which then stands
    about 1.5 of its SDs above it and 1.8 wide: a pass against that class finds much "WMH",
    the pass at the mode
    of the white matter (dark-side SD) none, and the check must not fire. A load the local
    reference missed (a +6 SD block, absent from the local z) both passes see."""
    from tasks.svd.steps import wmh_step

    a = _wm_cube()
    rng = np.random.default_rng(7)
    local = np.where(a.brain, rng.normal(0.0, 1.0, a.brain.shape), 0).astype(np.float32)
    glob = np.where(a.brain, rng.normal(0.0, 1.0, a.brain.shape), 0).astype(np.float32)
    block = np.zeros(a.brain.shape, bool)
    block[14:26, 14:26, 14:26] = True  # 13.8 mL at 2 mm
    if case == "dark_wm_class":
        # the WM class's level and SD are the darker, narrower half of the white matter
        glob = np.where(a.brain, 1.5 + 1.8 * glob, 0).astype(np.float32)
    else:
        glob[block] += 6.0
    _, res, _ = wmh_step(local, a, (2.0,) * 3, t1_z=None, lacune_mask=None, cavity_mask=None,
                         wm_prior=None, flair_global_z=glob)
    assert res.volume_cm3 < 1.0
    if case == "dark_wm_class":
        assert res.global_reference_cm3 < 2.0
    else:
        assert 10.0 < res.global_reference_cm3 < 20.0
