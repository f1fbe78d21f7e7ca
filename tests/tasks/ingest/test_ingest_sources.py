"""Import paths: a folder of already converted NIfTI, and an existing BIDS dataset."""

from __future__ import annotations

import gzip
import json

import nibabel as nib
import numpy as np

from tasks.ingest.layout import list_sessions
from tasks.ingest.pipeline import run_ingest
from tests.tasks.ingest.ingest_fixtures import make_settings


def _nifti(path, descrip=b"PatientName=Zyxwvu"):
    img = nib.Nifti1Image(np.arange(8 * 8 * 5, dtype=np.int16).reshape(8, 8, 5), np.eye(4))
    img.header["descrip"] = descrip
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(img, path)


def test_nifti_folder_import(tmp_path):
    settings = make_settings(tmp_path / "home")
    root = settings.drop_dir / "nifti_export"
    for date in ("20240110", "20250112"):
        _nifti(root / "HOSP0077" / date / "t1_mprage.nii.gz")
        _nifti(root / "HOSP0077" / date / "series5.nii")
        (root / "HOSP0077" / date / "series5.json").write_text(json.dumps(
            {"Modality": "MR", "RepetitionTime": 9.0, "EchoTime": 0.11, "InversionTime": 2.5,
             "InstitutionName": "Saint Elsewhere", "SeriesDescription": "ax"}))
    _nifti(root / "loose.nii.gz")
    summary = run_ingest(settings)
    assert summary["ingested"] == 4
    assert summary["quarantined"] == 1  # loose.nii.gz: no patient/date folders
    sessions = list_sessions(settings.bids_dir)
    assert [(s["session"], sorted(s["files"])) for s in sessions] == [
        ("M00", ["FLAIR", "T1w"]), ("M12", ["FLAIR", "T1w"])]
    flair = sessions[0]["files"]["FLAIR"]
    side = json.loads(flair.with_name(flair.name.replace(".nii.gz", ".json")).read_text())
    assert "InstitutionName" not in side and side["InversionTime"] == 2.5
    assert gzip.decompress(flair.read_bytes())[148:228] == bytes(80)
    assert run_ingest(settings)["ingested"] == 0


def test_existing_bids_import(tmp_path):
    settings = make_settings(tmp_path / "home")
    src = settings.drop_dir / "old_study_bids"
    (src).mkdir(parents=True)
    (src / "dataset_description.json").write_text('{"Name": "old", "BIDSVersion": "1.8.0"}')
    for ses in ("baseline", "followup"):
        anat = src / "sub-K17" / f"ses-{ses}" / "anat"
        _nifti(anat / f"sub-K17_ses-{ses}_T2w.nii.gz")
        _nifti(anat / f"sub-K17_ses-{ses}_acq-swi_T2starw.nii.gz")
    (src / "sub-K17" / "sub-K17_sessions.tsv").write_text(
        "session_id\tdays_since_baseline\nses-baseline\t0\nses-followup\t372\n")
    summary = run_ingest(settings)
    assert summary["ingested"] == 4
    sessions = list_sessions(settings.bids_dir)
    assert [(s["session"], sorted(s["files"])) for s in sessions] == [
        ("M00", ["T2starw", "T2w"]), ("M12", ["T2starw", "T2w"])]
    sub = sessions[0]["subject"]
    assert sub != "K17" and len(sub) == 10
    tsv = (settings.bids_dir / f"sub-{sub}" / f"sub-{sub}_sessions.tsv").read_text()
    assert "ses-M12\t372" in tsv
