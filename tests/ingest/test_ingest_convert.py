"""dcm2niix output selection and deterministic, scrubbed NIfTI output."""

from __future__ import annotations

import gzip
import json

import nibabel as nib
import numpy as np

from tasks.ingest.convert import collect_outputs, finalize_nifti, split_inputs


def test_collect_outputs_prefers_corrected_and_magnitude(tmp_path):
    for name in ("1.2.3.nii", "1.2.3_ph.nii", "4.5.nii", "4.5_Tilt_1.nii", "6.7_e1.nii",
                 "6.7_e2.nii", "1.2.34.nii"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "1.2.3.json").write_text(json.dumps({"Modality": "MR"}))
    out = collect_outputs(tmp_path, ["1.2.3", "4.5", "6.7", "8.9"])
    assert out["1.2.3"].nifti.name == "1.2.3.nii"
    assert out["1.2.3"].sidecar == {"Modality": "MR"}
    assert out["4.5"].nifti.name == "4.5_Tilt_1.nii"  # gantry-tilt corrected copy
    assert "2 volumes" in out["6.7"]
    assert "could not convert" in out["8.9"]


def test_finalize_is_deterministic_and_scrubbed(tmp_path):
    img = nib.Nifti1Image(np.arange(24, dtype=np.int16).reshape(2, 3, 4), np.eye(4))
    img.header["descrip"] = b"TE=25;Time=102001.000"
    img.header["aux_file"] = b"Zyxwvu"
    src = tmp_path / "a.nii"
    nib.save(img, src)
    finalize_nifti(src, tmp_path / "x.nii.gz")
    finalize_nifti(src, tmp_path / "y.nii.gz")
    a, b = (tmp_path / "x.nii.gz").read_bytes(), (tmp_path / "y.nii.gz").read_bytes()
    assert a == b
    raw = gzip.decompress(a)
    assert b"Time=" not in raw and b"Zyxwvu" not in raw
    back = nib.load(tmp_path / "x.nii.gz")
    assert np.array_equal(np.asarray(back.dataobj), np.arange(24).reshape(2, 3, 4))


def test_split_inputs_uses_pure_series_folders(tmp_path):
    pure, mixed = tmp_path / "S1", tmp_path / "S2"
    pure.mkdir()
    mixed.mkdir()
    a = [pure / "1", pure / "2"]
    b = [mixed / "1"]
    for f in [*a, *b, mixed / "localizer"]:
        f.write_bytes(b"")
    direct, linked = split_inputs({"uid-a": a, "uid-b": b})
    assert direct == [pure]
    assert list(linked) == ["uid-b"]
