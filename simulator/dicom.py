"""DICOM writing with pydicom 3: one file per slice, scanner-like headers, LPS geometry.

Geometry (DICOM PS3.3 C.7.6.2): for slice ``k`` of an array with RAS affine ``A``, the
pixel at (row ``r``, column ``c``) is voxel ``(c, r, k)``; ``ImageOrientationPatient`` holds the
LPS directions of increasing column (array axis 0) and row (axis 1), ``ImagePositionPatient``
the LPS centre of voxel ``(0, 0, k)``, ``PixelSpacing`` = [row spacing, column spacing]. Arrays
are first reordered so that in-plane axes point like a scanner's (left/posterior/feet).

CT pixels are stored unsigned with ``RescaleIntercept = -1024`` (HU = stored - 1024); MR pixels
as unsigned integers without rescaling. Files are written to a temporary name and renamed, so
an interrupted run leaves no partial files; existing files are skipped.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

UID_PREFIX = "1.2.826.0.1.3680043.10.1187."  # simulator root (documentation only)
CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"
MR_IMAGE = "1.2.840.10008.5.1.4.1.1.4"
SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"
DOSE_SR = "1.2.840.10008.5.1.4.1.1.88.67"
LPS = np.diag([-1.0, -1.0, 1.0, 1.0])


def make_uid(*parts: Any) -> str:
    """Deterministic UID from the given parts (seed, patient, visit, series, instance...)."""
    h = int.from_bytes(hashlib.sha256(":".join(map(str, parts)).encode()).digest()[:12], "big")
    return f"{UID_PREFIX}{h}"[:64]


@dataclass
class SeriesSpec:
    """What a series looks like in its headers."""

    modality: str  # CT | MR | OT | SR
    series_number: int
    description: str
    series_uid: str
    image_type: list[str] = field(default_factory=lambda: ["ORIGINAL", "PRIMARY", "AXIAL"])
    extra: dict[str, Any] = field(default_factory=dict)  # keyword -> value


def scanner_order(arr: NDArray, affine: NDArray, slice_axis: int = 2
                  ) -> tuple[NDArray, NDArray]:
    """Reorder an array so slices lie along axis 2 and in-plane axes point like a scanner's.

    In-plane axes are flipped so that their dominant LPS component is positive (towards left or
    posterior), except a superior-inferior axis, which points to the feet. Returns the new array
    and its RAS affine (same world geometry).
    """
    order = [a for a in range(3) if a != slice_axis] + [slice_axis]
    arr = np.transpose(arr, order)
    aff = affine.copy()
    aff[:3, :3] = affine[:3, order]
    for ax in (0, 1):
        lps = (LPS @ aff)[:3, ax]
        dom = int(np.argmax(np.abs(lps)))
        want = -1.0 if dom == 2 else 1.0
        if np.sign(lps[dom]) != want:
            n = arr.shape[ax]
            arr = np.flip(arr, ax)
            aff[:3, 3] = aff[:3, 3] + aff[:3, ax] * (n - 1)
            aff[:3, ax] = -aff[:3, ax]
    return np.ascontiguousarray(arr), aff


def _base_dataset(study: dict[str, Any], series: SeriesSpec, sop_class: str):
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = UID_PREFIX + "1"
    meta.ImplementationVersionName = "CALCISVD_SIM"
    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = sop_class
    for k, v in study.items():
        setattr(ds, k, v)
    ds.Modality = series.modality
    ds.SeriesInstanceUID = series.series_uid
    ds.SeriesNumber = series.series_number
    ds.SeriesDescription = series.description
    ds.ImageType = series.image_type
    ds.SeriesDate = study["StudyDate"]
    ds.SeriesTime = study["StudyTime"]
    ds.AcquisitionDate = study["StudyDate"]
    ds.ContentDate = study["StudyDate"]
    for k, v in series.extra.items():
        setattr(ds, k, v)
    return ds


def _encode(elem, encodings: list[str]) -> bytes:
    """One data element as explicit-VR little-endian bytes."""
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_data_element

    fp = DicomBytesIO()
    fp.is_little_endian = True
    fp.is_implicit_VR = False
    write_data_element(fp, elem, encodings)
    return fp.getvalue()


class FastSliceWriter:
    """Writes many files sharing one header, re-encoding only the per-slice elements.

    pydicom's dataset writer costs milliseconds per file; here the shared elements are encoded
    once and the per-slice ones (SOP instance UID, instance number, position, slice location,
    pixel data, and the meta group) are spliced in tag order.
    """

    VARYING = ("SOPInstanceUID", "InstanceNumber", "ImagePositionPatient", "SliceLocation",
               "PixelData")

    def __init__(self, ds):
        from pydicom.charset import convert_encodings
        from pydicom.datadict import tag_for_keyword

        self.ds = ds
        self.enc = convert_encodings(ds.get("SpecificCharacterSet", "ISO_IR 100"))
        self.var_tags = {tag_for_keyword(k) for k in self.VARYING}
        for k in self.VARYING:
            if k not in ds:
                setattr(ds, k, "" if k != "PixelData" else b"")
        self.order = sorted(int(t) for t in ds.keys())  # noqa: SIM118 (iter gives elements)
        self.fixed = {t: _encode(ds[t], self.enc) for t in self.order
                      if t not in self.var_tags}
        meta = ds.file_meta
        self.meta_fixed = [(int(t), _encode(meta[t], self.enc)) for t in sorted(meta.keys())
                           if int(t) not in (0x00020000, 0x00020003)]

    def write(self, path: Path) -> None:
        """Write the dataset's current per-slice values to ``path`` (atomically)."""
        from pydicom.dataelem import DataElement

        ds = self.ds
        sop = _encode(DataElement(0x00020003, "UI", ds.SOPInstanceUID), self.enc)
        meta = sorted([*self.meta_fixed, (0x00020003, sop)])
        body_meta = b"".join(b for _, b in meta)
        group = _encode(DataElement(0x00020000, "UL", len(body_meta)), self.enc)
        parts = [b"\0" * 128, b"DICM", group, body_meta]
        for t in self.order:
            parts.append(self.fixed[t] if t in self.fixed else _encode(ds[t], self.enc))
        tmp = path.with_name(path.name + ".part")
        tmp.write_bytes(b"".join(parts))
        os.replace(tmp, path)


def _write(ds, path: Path) -> None:
    tmp = path.with_name(path.name + ".part")
    ds.save_as(tmp, enforce_file_format=True)
    os.replace(tmp, path)


def write_image_series(folder: Path, arr: NDArray, affine: NDArray, study: dict[str, Any],
                       series: SeriesSpec, slice_axis: int = 2, uid_parts: tuple = (),
                       first_instance: int = 1,
                       slice_thickness_mm: float | None = None) -> list[Path]:
    """Write one image series, one file per slice (``IM00001``...); returns the paths.

    ``slice_thickness_mm`` (default: the slice spacing) is less than the spacing when the
    protocol leaves gaps between slices."""
    folder.mkdir(parents=True, exist_ok=True)
    arr, aff = scanner_order(arr, affine, slice_axis)
    lps = LPS @ aff
    col_dir = lps[:3, 0] / np.linalg.norm(lps[:3, 0])
    row_dir = lps[:3, 1] / np.linalg.norm(lps[:3, 1])
    sp = np.linalg.norm(aff[:3, :3], axis=0)
    normal = np.cross(col_dir, row_dir)
    ct = series.modality == "CT"
    ds = _base_dataset(study, series, CT_IMAGE if ct else MR_IMAGE)
    ds.ImageOrientationPatient = [round(float(v), 6) for v in (*col_dir, *row_dir)]
    ds.PixelSpacing = [round(float(sp[1]), 4), round(float(sp[0]), 4)]
    ds.SliceThickness = round(float(slice_thickness_mm or sp[2]), 4)
    # perpendicular distance between slice planes (slice step projected on the normal): the
    # slice step on a gantry-tilted series runs along the table, not along the normal
    ds.SpacingBetweenSlices = round(float(abs(lps[:3, 2] @ normal)), 4)
    _grey_pixel_module(ds, int(arr.shape[1]), int(arr.shape[0]), bits=16)
    ds.PositionReferenceIndicator = ""
    if ct:
        ds.RescaleIntercept = -1024
        ds.RescaleSlope = 1
        ds.RescaleType = "HU"
        ds.WindowCenter, ds.WindowWidth = 40, 80
        stored = np.clip(np.round(arr + 1024), 0, 65535).astype(np.uint16)
    else:
        hi = float(np.percentile(arr, 99.5))
        ds.WindowCenter, ds.WindowWidth = round(hi / 2), round(hi)
        stored = np.clip(np.round(arr), 0, 65535).astype(np.uint16)
    paths = []
    writer = None
    for k in range(arr.shape[2]):
        inst = first_instance + k
        path = folder / f"IM{inst:05d}"
        paths.append(path)
        if path.exists():
            continue
        uid = make_uid(*uid_parts, series.series_uid, inst)
        ds.SOPInstanceUID = uid
        ds.file_meta.MediaStorageSOPInstanceUID = uid
        ds.InstanceNumber = inst
        pos = lps[:3, :3] @ np.array([0.0, 0.0, k]) + lps[:3, 3]
        ds.ImagePositionPatient = [round(float(v), 4) for v in pos]
        ds.SliceLocation = round(float(pos @ normal), 4)
        ds.PixelData = np.ascontiguousarray(stored[:, :, k].T).tobytes()
        ds["PixelData"].VR = "OW"
        if writer is None:
            writer = FastSliceWriter(ds)
        writer.write(path)
    return paths


def _grey_pixel_module(ds, rows: int, columns: int, *, bits: int) -> None:
    """Image pixel module of an unsigned greyscale image (MONOCHROME2, ``bits`` per pixel)."""
    ds.Rows, ds.Columns = rows, columns
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = bits
    ds.BitsStored = bits
    ds.HighBit = bits - 1
    ds.PixelRepresentation = 0


def write_secondary_capture(path: Path, image: NDArray, study: dict[str, Any],
                            series: SeriesSpec) -> Path:
    """A single-frame secondary capture (e.g. a scanner's ``Dose Report`` screen)."""
    ds = _base_dataset(study, series, SECONDARY_CAPTURE)
    uid = make_uid(series.series_uid, "sc")
    ds.SOPInstanceUID = uid
    ds.file_meta.MediaStorageSOPInstanceUID = uid
    ds.InstanceNumber = 1
    ds.ConversionType = "WSD"
    _grey_pixel_module(ds, *image.shape, bits=8)
    ds.PixelData = image.astype(np.uint8).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        _write(ds, path)
    return path


def write_dose_sr(path: Path, study: dict[str, Any], series: SeriesSpec,
                  ctdi_vol: float, dlp: float) -> Path:
    """A minimal X-Ray Radiation Dose Structured Report (no pixel data)."""
    from pydicom.dataset import Dataset

    ds = _base_dataset(study, series, DOSE_SR)
    uid = make_uid(series.series_uid, "sr")
    ds.SOPInstanceUID = uid
    ds.file_meta.MediaStorageSOPInstanceUID = uid
    ds.InstanceNumber = 1
    ds.ValueType = "CONTAINER"
    ds.ContinuityOfContent = "SEPARATE"
    ds.CompletionFlag = "COMPLETE"
    ds.VerificationFlag = "UNVERIFIED"
    title = Dataset()
    title.CodeValue, title.CodingSchemeDesignator = "113701", "DCM"
    title.CodeMeaning = "X-Ray Radiation Dose Report"
    ds.ConceptNameCodeSequence = [title]
    items = []
    for code, meaning, value, unit in (("113830", "Mean CTDIvol", ctdi_vol, "mGy"),
                                       ("113838", "DLP", dlp, "mGy.cm")):
        it = Dataset()
        it.RelationshipType, it.ValueType = "CONTAINS", "NUM"
        name = Dataset()
        name.CodeValue, name.CodingSchemeDesignator, name.CodeMeaning = code, "DCM", meaning
        it.ConceptNameCodeSequence = [name]
        mv = Dataset()
        mv.NumericValue = f"{value:.2f}"
        u = Dataset()
        u.CodeValue, u.CodingSchemeDesignator, u.CodeMeaning = unit, "UCUM", unit
        mv.MeasurementUnitsCodeSequence = [u]
        it.MeasuredValueSequence = [mv]
        items.append(it)
    ds.ContentSequence = items
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        _write(ds, path)
    return path


def text_image(lines: list[str], shape: tuple[int, int] = (192, 256)) -> NDArray:
    """A crude 8-bit 'screen' with one bright bar per text line (a dose report look-alike)."""
    img = np.zeros(shape, np.uint8)
    for i, line in enumerate(lines):
        y = 20 + i * 18
        if y + 8 < shape[0]:
            img[y:y + 8, 16:16 + min(shape[1] - 32, 6 * len(line))] = 200
    return img
