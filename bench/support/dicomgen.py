"""Tiny synthetic hospital exports (DICOM with PHI + clinical CSV) for the ingest tests.

Volumes are small (32x32x20 by default) so dcm2niix runs in milliseconds. Every series carries
the PHI strings of :data:`PHI` so the privacy test can grep for them in every output.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, MRImageStorage

#: strings planted in every DICOM; none may appear in any ingest output
PHI = {
    "PatientName": "Zyxwvu^Quintessa",
    "InstitutionName": "Saint Elsewhere Hospital Vlorbin",
    "ReferringPhysicianName": "Drqwerty^Hortensia",
    "AccessionNumber": "ACC99887766",
    "PatientBirthDate": "19430917",
}

MR_PROTOCOLS: dict[str, dict] = {
    "T1w": {"desc": "t1_se_tra", "tr": 2000.0, "te": 25.0, "ti": None, "seq": "SE",
            "name": "*se2d1"},
    "T2w": {"desc": "t2_tse_tra", "tr": 9000.0, "te": 90.0, "ti": None, "seq": "SE",
            "name": "*tse2d1_15"},
    "FLAIR": {"desc": "t2_tirm_tra_dark-fluid", "tr": 9000.0, "te": 110.0, "ti": 2500.0,
              "seq": "SE\\IR", "name": "*tir2d1_21"},
    "SWI": {"desc": "swi_tra", "tr": 28.0, "te": 20.0, "ti": None, "seq": "GR",
            "name": "*swi3d1r"},
}


def uid(*parts: object) -> str:
    """A deterministic DICOM UID (2.25 root) from ``parts``."""
    digest = hashlib.sha256("/".join(map(str, parts)).encode()).hexdigest()
    return "2.25." + str(int(digest[:30], 16))


@dataclass
class Patient:
    """A fake patient with identifying attributes."""

    patient_id: str
    name: str = PHI["PatientName"]
    birth_date: str = PHI["PatientBirthDate"]
    sex: str = "M"
    extra: dict = field(default_factory=dict)


def _base(patient: Patient, study_uid: str, study_date: dt.date, modality: str) -> Dataset:
    ds = Dataset()
    ds.PatientName = patient.name
    ds.PatientID = patient.patient_id
    ds.PatientBirthDate = patient.birth_date
    ds.PatientSex = patient.sex
    ds.AccessionNumber = PHI["AccessionNumber"]
    ds.InstitutionName = PHI["InstitutionName"]
    ds.InstitutionAddress = "1 Vlorbin Street"
    ds.ReferringPhysicianName = PHI["ReferringPhysicianName"]
    ds.StudyInstanceUID = study_uid
    ds.StudyDate = study_date.strftime("%Y%m%d")
    ds.SeriesDate = ds.StudyDate
    ds.AcquisitionDate = ds.StudyDate
    ds.ContentDate = ds.StudyDate
    ds.StudyTime = "101500"
    ds.SeriesTime = "102000"
    ds.AcquisitionTime = "102001"
    ds.ContentTime = "102001"
    ds.StudyID = "1"
    ds.Modality = modality
    ds.PatientPosition = "HFS"
    for key, value in patient.extra.items():
        setattr(ds, key, value)
    return ds


def write_series(
    out_dir: Path,
    patient: Patient,
    study_uid: str,
    study_date: dt.date,
    kind: str,
    series_number: int,
    *,
    shape: tuple[int, int, int] = (32, 32, 20),
    spacing: float = 4.0,
    seed: int = 0,
    image_type: str | None = None,
    description: str | None = None,
    first_instance: int = 0,
    tilt_deg: float = 0.0,
    volume: np.ndarray | None = None,
) -> list[Path]:
    """Write one series (``kind`` = CT, T1w, T2w, FLAIR, SWI or LOCALIZER) as one file per slice.

    CT values are stored with RescaleIntercept -1024 (HU = stored - 1024). ``tilt_deg``: CT
    gantry tilt (image planes tilted about the x axis, the table still stepping along z, as a
    tilted scanner writes them: a sheared stack). ``volume`` (rows, cols, slices) replaces the
    random pixel values (stored values).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    rows, cols, nslices = shape
    rng = np.random.default_rng(seed + series_number)
    modality = "CT" if kind == "CT" else "MR"
    series_uid = uid(study_uid, series_number, kind)
    paths = []
    for k in range(first_instance, first_instance + nslices):
        ds = _base(patient, study_uid, study_date, modality)
        meta = FileMetaDataset()
        sop_class = CTImageStorage if modality == "CT" else MRImageStorage
        sop_uid = uid(series_uid, k)
        meta.MediaStorageSOPClassUID = sop_class
        meta.MediaStorageSOPInstanceUID = sop_uid
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.file_meta = meta
        ds.SOPClassUID = sop_class
        ds.SOPInstanceUID = sop_uid
        ds.SeriesInstanceUID = series_uid
        ds.SeriesNumber = series_number
        ds.InstanceNumber = k + 1
        ds.FrameOfReferenceUID = uid(study_uid, "for")
        ds.ImagePositionPatient = [-cols * spacing / 2, -rows * spacing / 2, k * spacing]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        if tilt_deg:
            t = np.radians(tilt_deg)
            ds.ImageOrientationPatient = [1, 0, 0, 0, round(float(np.cos(t)), 6),
                                          round(float(-np.sin(t)), 6)]
            ds.GantryDetectorTilt = tilt_deg
        ds.SliceLocation = k * spacing
        ds.PixelSpacing = [spacing, spacing]
        ds.SliceThickness = spacing
        ds.Rows, ds.Columns = rows, cols
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated = 16
        ds.BitsStored = 16
        ds.HighBit = 15
        ds.Manufacturer = "GE MEDICAL SYSTEMS" if modality == "CT" else "Siemens"
        ds.StationName = "VLORBIN-CT1"
        ds.DeviceSerialNumber = "SN123456"
        if kind == "LOCALIZER":
            ds.ImageType = ["ORIGINAL", "PRIMARY", "LOCALIZER"]
            ds.SeriesDescription = "localizer"
        else:
            ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        if modality == "CT":
            ds.PixelRepresentation = 0
            ds.RescaleIntercept = -1024
            ds.RescaleSlope = 1
            ds.KVP = 120
            ds.XRayTubeCurrent = 200
            ds.ManufacturerModelName = "LightSpeed VCT"
            ds.ConvolutionKernel = "STANDARD"
            ds.SeriesDescription = "Head 1.0 STND"
            hu = rng.normal(30, 5, (rows, cols))
            hu[:2, :] = 1000  # a rim of bone
            data = np.clip(hu + 1024, 0, 4095).astype(np.uint16)
        else:
            p = MR_PROTOCOLS.get(kind, MR_PROTOCOLS["T1w"])
            ds.PixelRepresentation = 0
            ds.MagneticFieldStrength = 3
            ds.ManufacturerModelName = "Skyra"
            ds.ScanningSequence = p["seq"]
            ds.SequenceVariant = "SK\\SP"
            ds.SequenceName = p["name"]
            ds.RepetitionTime = p["tr"]
            ds.EchoTime = p["te"]
            if p["ti"]:
                ds.InversionTime = p["ti"]
            ds.FlipAngle = 90 if kind != "SWI" else 15
            ds.MRAcquisitionType = "2D"
            if kind != "LOCALIZER":
                ds.SeriesDescription = p["desc"]
                ds.ProtocolName = p["desc"]
            data = rng.integers(100, 1000, (rows, cols)).astype(np.uint16)
        if image_type:
            ds.ImageType = image_type.split("\\")
        if description:
            ds.SeriesDescription = description
        if volume is not None:
            data = np.ascontiguousarray(volume[:, :, k - first_instance]).astype(np.uint16)
        ds.PixelData = data.tobytes()
        path = out_dir / f"IM{series_number:03d}{k:04d}"
        pydicom.dcmwrite(path, ds, enforce_file_format=True)
        paths.append(path)
    return paths


def write_dose_report(out_dir: Path, patient: Patient, study_uid: str,
                      study_date: dt.date) -> Path:
    """A CT radiation dose structured report (no pixels): must be skipped."""
    out_dir.mkdir(parents=True, exist_ok=True)
    ds = _base(patient, study_uid, study_date, "SR")
    meta = FileMetaDataset()
    sop_class = "1.2.840.10008.5.1.4.1.1.88.67"
    sop_uid = uid(study_uid, "dose")
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta = meta
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_uid
    ds.SeriesInstanceUID = uid(study_uid, "dose-series")
    ds.SeriesNumber = 999
    ds.SeriesDescription = "Dose Report"
    path = out_dir / "DOSE0001"
    pydicom.dcmwrite(path, ds, enforce_file_format=True)
    return path


def write_study(drop: Path, patient: Patient, study_date: dt.date, *, visit: str,
                kinds: tuple[str, ...] = ("CT", "T1w", "T2w", "FLAIR", "SWI"),
                localizer: bool = True, dose: bool = True, seed: int = 0,
                shape: tuple[int, int, int] = (32, 32, 20)) -> dict[str, list[Path]]:
    """Write one study of ``patient`` into ``drop`` (nested hospital-export folders)."""
    study_uid = uid(patient.patient_id, visit)
    root = drop / f"pacs_{study_date:%Y%m%d}" / patient.patient_id / visit
    out: dict[str, list[Path]] = {}
    for i, kind in enumerate(kinds, start=2):
        out[kind] = write_series(root / f"S{i:02d}", patient, study_uid, study_date, kind, i,
                                 seed=seed, shape=shape)
    if localizer:
        out["LOCALIZER"] = write_series(root / "S01", patient, study_uid, study_date,
                                        "LOCALIZER", 1, shape=(shape[0], shape[1], 3))
    if dose:
        out["DOSE"] = [write_dose_report(root / "S99", patient, study_uid, study_date)]
    return out


CLINICAL_HEADER = ("patient_id,age,sex,smoking,hypertension,diabetes,hyperlipidaemia,"
                   "heart_disease,prior_stroke\n")


def write_clinical(drop: Path, rows: list[str], date: str = "20250101") -> Path:
    """Write ``drop/clinical/clinical_<date>.csv`` with the given data rows."""
    path = drop / "clinical" / f"clinical_{date}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(CLINICAL_HEADER + "".join(r + "\n" for r in rows))
    return path
