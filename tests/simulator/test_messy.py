"""`--messy` makes every fault it names, and the truth records where."""

from __future__ import annotations

import filecmp
from pathlib import Path

import numpy as np
import pydicom
import pytest

from tests.simulator.sim_helpers import fault, in_drop, truth_of


def test_every_fault_is_recorded(messy_export):
    from simulator.export import MESSY_FAULTS

    names = {f["fault"] for f in messy_export["summary"]["faults"]}
    assert names == set(MESSY_FAULTS)


def test_missing_followup(messy_export):
    (f,) = fault(messy_export, "missing_followup")
    pid = f["patient_id"]
    assert not (Path(messy_export["truth"]) / pid / "followup").exists()
    ids = set()
    for p in Path(messy_export["drop"]).rglob("IM00001"):
        ds = pydicom.dcmread(p, stop_before_pixels=True)
        if ds.PatientID == pid and ds.Modality == "MR":
            ids.add(ds.StudyInstanceUID)
    assert len(ids) == 1  # only the baseline MR study


def test_duplicate_series_is_identical(messy_export):
    (f,) = fault(messy_export, "duplicate_series")
    a, b = in_drop(messy_export, f["original"]), in_drop(messy_export, f["duplicate"])
    names = sorted(x.name for x in a.iterdir())
    assert names and names == sorted(x.name for x in b.iterdir())
    assert all(filecmp.cmp(a / n, b / n, shallow=False) for n in names)
    assert a.parents[3] != b.parents[3]  # arrives in another export


def test_truncated_file_fails_to_read(messy_export):
    (f,) = fault(messy_export, "truncated_file")
    path = in_drop(messy_export, f["path"])
    sib = sorted(path.parent.glob("IM*"))
    assert path.stat().st_size < sib[0].stat().st_size
    with pytest.raises(Exception):  # noqa: B017 - pydicom raises several kinds
        _ = pydicom.dcmread(path).pixel_array


def test_non_image_dicom_is_a_dose_sr(messy_export):
    (f,) = fault(messy_export, "non_image_dicom")
    ds = pydicom.dcmread(in_drop(messy_export, f["path"]))
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.88.67"
    assert "PixelData" not in ds and ds.Modality == "SR"


def test_non_dicom_files(messy_export):
    (f,) = fault(messy_export, "non_dicom_file")
    for p in f["paths"]:
        assert in_drop(messy_export, p).is_file()
        with pytest.raises(pydicom.errors.InvalidDicomError):
            pydicom.dcmread(in_drop(messy_export, p))


def test_unusual_orientations(messy_export):
    items = fault(messy_export, "unusual_orientation")
    assert {i["orientation"] for i in items} == {"sagittal", "oblique"}
    for item in items:
        t = truth_of(messy_export, item["patient_id"], "baseline")
        assert t["orientation"] == {item["contrast"]: item["orientation"]}
        folder = in_drop(messy_export, t["series_dirs"][item["contrast"]])
        ds = pydicom.dcmread(sorted(folder.glob("IM*"))[0])
        iop = np.array(ds.ImageOrientationPatient, dtype=float)
        normal = np.cross(iop[:3], iop[3:])
        if item["orientation"] == "sagittal":
            assert abs(normal[0]) == pytest.approx(1.0, abs=1e-3)
            assert "_sag" in ds.SeriesDescription
        else:
            assert 0.05 < abs(normal[1]) < 0.7 and abs(normal[2]) > 0.7  # tilted axial
