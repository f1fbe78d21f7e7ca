"""The element walk (fast header path) gives exactly what pydicom gives, or steps aside."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from bench.support import dicomgen, hostile
from tasks.ingest.dicom import IMAGE_TAGS, UnreadableFile, read_instance
from tasks.ingest.dicomwalk import walk


def _both(path: Path, full: bool = False):
    """(walk result, pydicom result): an instance or the UnreadableFile message."""
    out = []
    for use_walk in (True, False):
        try:
            out.append(read_instance(path, path.name, full=full, walk=use_walk))
        except UnreadableFile as exc:
            out.append(("unreadable", str(exc), exc.series_uid))
    return out


def _image(tmp: Path, name: str, syntax=ExplicitVRLittleEndian, **extra) -> Path:
    ds = Dataset()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.4"
    ds.SOPInstanceUID = "1.2.3.4.5"
    ds.StudyInstanceUID = "1.2.3.4"
    ds.SeriesInstanceUID = "1.2.3.4.6"
    ds.PatientID = "P-0001"
    ds.StudyDate = "20240102"
    ds.Modality = "MR"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "M", "ND "]
    ds.SeriesNumber = "7"
    ds.ImagePositionPatient = ["-100.5", "-120", "30.25"]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.PixelSpacing = [0.9, 0.9]
    ds.Rows, ds.Columns = 8, 200  # 200 = 0xC8: a byte above 127 in the US value
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 16, 15
    ds.SamplesPerPixel, ds.PixelRepresentation = 1, 0
    ds.PhotometricInterpretation = "MONOCHROME2"
    for k, v in extra.items():
        setattr(ds, k, v)
    ds.PixelData = np.arange(8 * 200, dtype=np.uint16).tobytes()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = syntax
    ds.file_meta = meta
    path = tmp / name
    ds.save_as(path, enforce_file_format=True)
    return path


def _nested_sequences() -> Sequence:
    inner = Dataset()
    inner.ReferencedSOPInstanceUID = "9.9.9"
    inner.ReferencedSOPClassUID = "1.2.840.10008.5.1.4.1.1.4"
    outer = Dataset()
    outer.CodeValue = "T-A0100"
    outer.ReferencedImageSequence = Sequence([inner, inner])
    return Sequence([outer])


@pytest.mark.parametrize("syntax", [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
@pytest.mark.parametrize("undefined", [False, True])
def test_walk_skips_nested_sequences(tmp_path, syntax, undefined):
    path = _image(tmp_path, "a.dcm", syntax, AnatomicRegionSequence=_nested_sequences())
    if undefined:  # rewrite with undefined-length sequences and items
        ds = pydicom.dcmread(path)
        ds["AnatomicRegionSequence"].is_undefined_length = True
        for item in ds.AnatomicRegionSequence:
            item.is_undefined_length_sequence_item = True
            item["ReferencedImageSequence"].is_undefined_length = True
            for inner in item.ReferencedImageSequence:
                inner.is_undefined_length_sequence_item = True
        ds.save_as(path)
        assert b"\xfe\xff\xdd\xe0" in path.read_bytes()  # a sequence delimiter is there
    assert walk(path.read_bytes(), IMAGE_TAGS) is not None
    fast, slow = _both(path)
    assert fast == slow
    assert fast.columns == 200 and fast.image_type == ("ORIGINAL", "PRIMARY", "M", "ND")


def test_walk_steps_aside_for_big_endian_and_non_ascii(tmp_path):
    big = _image(tmp_path, "big.dcm", ExplicitVRBigEndian)
    assert walk(big.read_bytes(), IMAGE_TAGS) is None
    fast, slow = _both(big)
    assert fast == slow
    latin = _image(tmp_path, "latin.dcm", SpecificCharacterSet="ISO_IR 192",
                   PatientID="Ødegård-07")
    fast, slow = _both(latin)
    assert fast == slow and fast.patient_id == "Ødegård-07"


@pytest.mark.parametrize("cut", [60, 131, 300, 500, -10])
def test_cut_files_give_the_same_answer(tmp_path, cut):
    path = _image(tmp_path, "cut.dcm")
    data = path.read_bytes()
    path.write_bytes(data[:cut])
    fast, slow = _both(path)
    assert fast == slow


def test_same_result_on_every_test_export_and_hostile_file(tmp_path):
    drop = tmp_path / "drop"
    patient = dicomgen.Patient("P-W-1")
    dicomgen.write_study(drop, patient, dt.date(2024, 3, 1), visit="baseline")
    hostile.generate(tmp_path / "hostile", tmp_path / "outside", n=60, seed=3)
    files = [p for root in (drop, tmp_path / "hostile") for p in sorted(root.rglob("*"))
             if p.is_file() and not p.is_symlink() and p.suffix not in (".csv", ".gz", ".nii")]
    rnd = random.Random(0)
    assert len(files) > 100
    walked = 0
    for path in rnd.sample(files, min(len(files), 400)):
        full = rnd.random() < 0.3
        try:
            fast, slow = _both(path, full)
        except (ValueError, OSError, MemoryError) as exc:  # same failure both ways
            with pytest.raises(type(exc)):
                read_instance(path, path.name, full=full, walk=True)
            continue
        assert fast == slow, path.name
        if path.stat().st_size <= 2**24:  # not the 3 GB sparse files (reading them took ~60 s)
            walked += walk(path.read_bytes(), IMAGE_TAGS) is not None
    assert walked > 50  # the fast path was really taken


def test_walk_skips_an_undefined_length_un_value(tmp_path):
    """A private UN value of undefined length holds an implicit-VR sequence (PS3.5 6.2.2)."""
    import struct

    path = _image(tmp_path, "un.dcm")
    data = path.read_bytes()
    at = data.index(b"\x10\x00\x20\x00LO")  # PatientID: private group 0009 goes before it
    un = (struct.pack("<HH", 0x0009, 0x1001) + b"UN\x00\x00" + b"\xff\xff\xff\xff"
          + struct.pack("<HHI", 0xFFFE, 0xE000, 0xFFFFFFFF)
          + struct.pack("<HHI", 0x0009, 0x0001, 4) + b"ab\xe0\xff"
          + struct.pack("<HHI", 0xFFFE, 0xE00D, 0) + struct.pack("<HHI", 0xFFFE, 0xE0DD, 0))
    path.write_bytes(data[:at] + un + data[at:])
    assert walk(path.read_bytes(), IMAGE_TAGS) is not None
    fast, slow = _both(path)
    assert fast == slow and fast.patient_id == "P-0001"


def _both_full(path: Path):
    return [read_instance(path, path.name, full=True, walk=w) for w in (True, False)]


@pytest.mark.parametrize("fields", [
    dict(SeriesDescription="t2_tirm_tra_dark-fluid", ProtocolName="FLAIR ax",
         RepetitionTime="9000", EchoTime="110.5", InversionTime="2500",
         ScanningSequence=["SE", "IR"], SequenceName="*tir2d1_21"),
    dict(SeriesDescription="swi ", RepetitionTime="28 ", EchoTime="20",
         ScanningSequence="GR"),
    dict(SeriesDescription="  leading spaces", ProtocolName="a\\b", EchoTime=["1", "2"]),
    dict(SeriesDescription="Kopf nativ", RepetitionTime="", ScanningSequence=["RM"]),
    dict(),
])
def test_series_fields_match_pydicom(tmp_path, fields):
    path = _image(tmp_path, "s.dcm", **fields)
    fast, slow = _both_full(path)
    assert fast == slow
    assert (fast.series_description, fast.protocol_name, fast.repetition_time,
            fast.echo_time, fast.inversion_time, fast.scanning_sequence, fast.sequence_name) \
        == (slow.series_description, slow.protocol_name, slow.repetition_time,
            slow.echo_time, slow.inversion_time, slow.scanning_sequence, slow.sequence_name)
