"""DICOM reads back with pydicom and converts with dcm2niix into the intended geometry."""

from __future__ import annotations

import subprocess
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest

from simulator.cohort import sample_cohort
from simulator.render import PatientRenderer
from tasks.ingest.convert import find_dcm2niix
from tests.simulator.sim_helpers import RES, fault, in_drop, truth_of


def _clean_patient(export) -> dict:
    """A patient with a follow-up (messy faults touch baselines and one missing follow-up)."""
    return next(p for p in export["cohort"]["patients"] if "followup" in p["visits"])


def _files(export: dict, truth: dict, name: str) -> list[Path]:
    """Slice files of one series named in a truth record."""
    return sorted(in_drop(export, truth["series_dirs"][name]).glob("IM*"))


def _convert(series_dir: Path, out: Path) -> nib.Nifti1Image:
    out.mkdir(parents=True, exist_ok=True)
    subprocess.run([str(find_dcm2niix()), "-z", "y", "-f", "img", "-o", str(out), str(series_dir)],
                   check=True, capture_output=True)
    return nib.load(str(out / "img.nii.gz"))


def test_headers_are_scanner_like(messy_export):
    p = _clean_patient(messy_export)
    t = truth_of(messy_export, p["patient_id"], "followup")
    ct = pydicom.dcmread(_files(messy_export, t, "ct")[0])
    assert ct.Modality == "CT" and ct.Manufacturer == "GE MEDICAL SYSTEMS"
    assert ct.ManufacturerModelName == "LightSpeed VCT"
    assert float(ct.KVP) == 120 and int(ct.XRayTubeCurrent) == 200
    assert float(ct.RescaleIntercept) == -1024 and float(ct.RescaleSlope) == 1
    assert float(ct.SliceThickness) == RES
    assert ct.PatientID == p["patient_id"] and ct.PatientName and ct.PatientBirthDate
    assert ct.AccessionNumber and ct.InstitutionName and ct.ReferringPhysicianName
    assert ct.StudyInstanceUID == t["ct_study_instance_uid"]
    fl = pydicom.dcmread(_files(messy_export, t, "FLAIR")[0])
    assert fl.Manufacturer == "SIEMENS" and fl.SeriesDescription == "t2_tirm_tra_dark-fluid"
    assert (float(fl.RepetitionTime), float(fl.EchoTime), float(fl.InversionTime)) == (
        9000, 110, 2500)
    assert fl.StudyInstanceUID == t["study_instance_uid"]
    sw = pydicom.dcmread(_files(messy_export, t, "T2starw")[0])
    assert float(sw.EchoTime) == 20
    # scouts/localizers and the dose report are there, and marked so ingestion can skip them
    ct_study = in_drop(messy_export, t["series_dirs"]["ct"]).parent
    scout = pydicom.dcmread(next((ct_study / "SE00001").glob("IM*")))
    assert "LOCALIZER" in scout.ImageType
    dose = pydicom.dcmread(next((ct_study / "SE00999").glob("IM*")))
    assert dose.SOPClassUID == "1.2.840.10008.5.1.4.1.1.7" and dose.SeriesDescription == (
        "Dose Report")
    loc = list((in_drop(messy_export, t["series_dirs"]["FLAIR"]).parent / "SE00001").glob("*"))
    assert len(loc) == 3


def test_dates_and_clinical_csv(messy_export):
    import csv

    with open(messy_export["summary"]["clinical_csv"]) as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 3
    assert set(rows[0]) == {"patient_id", "age", "sex", "smoking", "hypertension", "diabetes",
                            "hyperlipidaemia", "heart_disease", "prior_stroke"}
    for p in messy_export["cohort"]["patients"]:
        d = p["study_dates"]
        if "followup" in d:
            gap = (np.datetime64(d["followup"]) - np.datetime64(d["baseline"])).astype(int)
            assert 335 <= gap <= 395


@pytest.mark.parametrize("name", ["ct", "FLAIR", "T2starw"])
def test_dcm2niix_gives_the_intended_geometry_and_values(messy_export, tmp_path, name):
    p = _clean_patient(messy_export)
    t = truth_of(messy_export, p["patient_id"], "followup")
    series = in_drop(messy_export, t["series_dirs"][name])
    img = nib.as_closest_canonical(_convert(series, tmp_path / name))
    specs = sample_cohort(3, 11)
    spec = next(s for s in specs if s.patient_id == p["patient_id"])
    session = PatientRenderer(spec, RES).render("followup")
    arr, aff = session.images[name]
    assert img.shape == arr.shape
    assert np.allclose(img.header.get_zooms()[:3], RES)
    assert nib.aff2axcodes(img.affine) == ("R", "A", "S")
    assert np.allclose(img.affine, aff, atol=0.01)
    data = img.get_fdata()
    expected = np.round(arr) if name == "ct" else np.clip(np.round(arr), 0, None)
    assert np.abs(data - expected).max() <= 0.5  # HU through RescaleIntercept, MR as stored
    if name == "ct":
        assert data.min() >= -1024 and data.max() > 700


def test_truth_masks_share_the_image_grids(messy_export):
    p = _clean_patient(messy_export)
    d = Path(messy_export["truth"]) / p["patient_id"] / "followup"
    t = truth_of(messy_export, p["patient_id"], "followup")
    wmh = nib.load(str(d / "wmh_mask.nii.gz"))
    assert (np.asarray(wmh.dataobj) > 0).sum() * np.prod(wmh.header.get_zooms()) / 1000 == (
        pytest.approx(t["svd"]["wmh_volume_cm3"], abs=1e-3))
    lac = np.asarray(nib.load(str(d / "lacunes.nii.gz")).dataobj)
    assert len(np.unique(lac[lac > 0])) == t["svd"]["lacune_count"]
    cal = nib.load(str(d / "calcium_labels.nii.gz"))
    files = _files(messy_export, t, "ct")
    assert cal.shape == pydicom.dcmread(files[0]).pixel_array.T.shape + (len(files),)
    assert fault(messy_export, "missing_followup")  # the fixture is messy
