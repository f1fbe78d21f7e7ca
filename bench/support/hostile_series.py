"""Tiny valid DICOM series, NIfTI images, a good session and a clinical CSV: the material
the hostile cases (:mod:`bench.support.hostile`) start from and corrupt."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import random
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

GOOD_PATIENT = "GOODPAT0001"
EXPLICIT_LE = "1.2.840.10008.1.2.1"
CT_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
MR_STORAGE = "1.2.840.10008.5.1.4.1.1.4"


def uid(*parts: object) -> str:
    """A deterministic DICOM UID under the 2.25 root."""
    digest = hashlib.sha256("/".join(map(str, parts)).encode()).hexdigest()
    return "2.25." + str(int(digest[:30], 16))


@dataclass
class SeriesSpec:
    """What :func:`write_series` writes (defaults: a valid 32x32x12 head CT)."""

    patient_id: str
    study_uid: str
    series_uid: str
    kind: str = "CT"  # CT | T1w
    shape: tuple[int, int, int] = (32, 32, 12)
    spacing: float = 4.0
    z: list[float] | None = None  # slice positions (mm); default k * spacing
    description: str = "Head 1.0 STND"
    patient_name: str = "Hostile^Case"
    date: dt.date = dt.date(2021, 3, 4)
    seed: int = 0
    names: list[str] | None = None  # file names; default IM0001...
    series_number: int = 2


def _dataset(spec: SeriesSpec, k: int, z: float, pixels: np.ndarray):
    from pydicom.dataset import Dataset, FileMetaDataset

    ct = spec.kind == "CT"
    sop_class = CT_STORAGE if ct else MR_STORAGE
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.file_meta.MediaStorageSOPInstanceUID = uid(spec.series_uid, k)
    ds.file_meta.TransferSyntaxUID = EXPLICIT_LE
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = uid(spec.series_uid, k)
    ds.SpecificCharacterSet = "ISO_IR 192"  # UTF-8
    ds.PatientName = spec.patient_name
    ds.PatientID = spec.patient_id
    ds.PatientBirthDate = "19400101"
    ds.PatientSex = "F"
    ds.StudyInstanceUID = spec.study_uid
    ds.SeriesInstanceUID = spec.series_uid
    ds.StudyDate = ds.SeriesDate = ds.AcquisitionDate = spec.date.strftime("%Y%m%d")
    ds.StudyTime = "101500"
    ds.Modality = "CT" if ct else "MR"
    ds.SeriesNumber = spec.series_number
    ds.InstanceNumber = k + 1
    ds.SeriesDescription = spec.description
    ds.ProtocolName = spec.description
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.FrameOfReferenceUID = uid(spec.study_uid, "for")
    rows, cols, _ = spec.shape
    ds.ImagePositionPatient = [-cols * spec.spacing / 2, -rows * spec.spacing / 2, z]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.SliceLocation = z
    ds.PixelSpacing = [spec.spacing, spec.spacing]
    ds.SliceThickness = spec.spacing
    ds.Rows, ds.Columns = rows, cols
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    if ct:
        ds.RescaleIntercept = -1024
        ds.RescaleSlope = 1
        ds.KVP = 120
    else:
        ds.ScanningSequence = "SE"
        ds.SequenceName = "*se2d1"
        ds.RepetitionTime = 2000.0
        ds.EchoTime = 25.0
        ds.MagneticFieldStrength = 3
    ds.PixelData = pixels.astype(np.uint16).tobytes()
    return ds


def write_series(folder: Path, spec: SeriesSpec) -> list[Path]:
    """Write ``spec`` as one DICOM file per slice under ``folder``; returns the paths."""
    import pydicom

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(spec.seed)
    rows, cols, n = spec.shape
    zs = spec.z if spec.z is not None else [k * spec.spacing for k in range(n)]
    paths = []
    for k, z in enumerate(zs):
        hu = rng.normal(35.0, 6.0, (rows, cols))
        hu[:2, :] = 1200.0  # a rim of bone
        ds = _dataset(spec, k, float(z), np.clip(hu + 1024, 0, 4095))
        name = spec.names[k] if spec.names else f"IM{k + 1:04d}"
        path = folder / name
        pydicom.dcmwrite(path, ds, enforce_file_format=True)
        paths.append(path)
    return paths


def write_nifti(path: Path, data: np.ndarray, description: str = "FLAIR") -> Path:
    """A NIfTI-1 image (4 mm voxels) plus a dcm2niix-style FLAIR sidecar."""
    import nibabel as nib

    path.parent.mkdir(parents=True, exist_ok=True)
    img = nib.Nifti1Image(data.astype(np.float32), np.diag([4.0, 4.0, 4.0, 1.0]))
    nib.save(img, str(path))
    stem = path.name[:-7] if path.name.endswith(".nii.gz") else path.name[:-4]
    side = {"Modality": "MR", "SeriesDescription": description, "RepetitionTime": 9.0,
            "EchoTime": 0.11, "InversionTime": 2.5}
    (path.parent / f"{stem}.json").write_text(json.dumps(side))
    return path


def write_good_session(drop: Path, patient_id: str = GOOD_PATIENT,
                       date: dt.date = dt.date(2020, 5, 6)) -> list[Path]:
    """A valid CT + T1w study that must end up in the BIDS dataset."""
    study = uid("good", patient_id, date)
    base = drop / "good" / patient_id / date.strftime("%Y%m%d")
    paths = write_series(base / "ct", SeriesSpec(patient_id, study, uid(study, "ct"),
                                                 patient_name="Good^Patient", date=date))
    paths += write_series(base / "t1", SeriesSpec(patient_id, study, uid(study, "t1"),
                                                  kind="T1w", description="t1_se_tra",
                                                  patient_name="Good^Patient", date=date,
                                                  series_number=3, seed=1))
    return paths


def write_clinical(drop: Path, patient_ids: Iterable[str], seed: int = 0) -> Path:
    """``drop/clinical/clinical_20240101.csv`` with plausible covariates for ``patient_ids``."""
    import csv

    rnd = random.Random(seed)
    path = Path(drop) / "clinical" / "clinical_20240101.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    cols = ["patient_id", "age", "sex", "smoking", "hypertension", "diabetes",
            "hyperlipidaemia", "heart_disease", "prior_stroke"]
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(cols)
        for pid in sorted(set(patient_ids)):
            w.writerow([pid, rnd.randint(55, 85), rnd.choice("MF")]
                       + [rnd.choice(["yes", "no"]) for _ in cols[3:]])
    return path


# ---- one writer per category -----------------------------------------------------------------
