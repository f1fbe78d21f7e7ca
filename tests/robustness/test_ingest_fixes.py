"""Unit checks of the ingestion fixes found by the hostile-input suite (docs/reliability.md).

Small, fast cases of each check, with exact numbers: slice positions along the normal,
quarantine folder names, the volume check (slices, NaN/inf), character sets and symlinks.
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from tasks.ingest.dicom import DicomInstance
from tasks.ingest.quarantine import path_sha256


def _inst(z: float, *, ori=(1.0, 0.0, 0.0, 0.0, 1.0, 0.0), n: int = 0) -> DicomInstance:
    return DicomInstance(path=Path("x"), rel=f"s/{n:03d}", sha256="", size=0, sop_uid=str(n),
                         sop_class="", patient_id="p", study_uid="st", series_uid="se",
                         study_date="", modality="CT", rows=4, columns=4,
                         pixel_spacing=(0.5, 0.5), orientation=ori, position=(0.0, 0.0, z),
                         has_pixels=True)


def _series(zs, **kw) -> list[DicomInstance]:
    return [_inst(z, n=k, **kw) for k, z in enumerate(zs)]


def test_regular_slices_pass_in_any_file_order():
    from tasks.ingest.sources.series_checks import geometry_problem

    assert geometry_problem(_series([8.0, 0.0, 4.0, 12.0, 16.0])) is None


def test_repeated_slice_position_is_a_problem():
    from tasks.ingest.sources.series_checks import geometry_problem

    reason = geometry_problem(_series([0.0, 4.0, 8.0, 8.0, 12.0]))
    assert reason is not None and "1 repeated slice position" in reason


@pytest.mark.parametrize("zs", [[0.0, 4.0, 8.0, 16.0, 20.0], [0.0, 4.0, 8.1, 12.0, 16.0]])
def test_gaps_and_uneven_spacing_are_a_problem(zs):
    from tasks.ingest.sources.series_checks import geometry_problem

    reason = geometry_problem(_series(zs))
    assert reason is not None and "uneven slice spacing" in reason and "4 mm" in reason


def test_spacing_is_measured_along_the_slice_normal():
    """An oblique (tilted 30 degrees) stack 5 mm apart along its normal passes."""
    from tasks.ingest.sources.series_checks import slice_problem

    c, s = np.cos(np.pi / 6), np.sin(np.pi / 6)
    ori = (1.0, 0.0, 0.0, 0.0, round(c, 6), round(s, 6))
    normal = np.cross(ori[:3], ori[3:])
    insts = [replace(_inst(0.0, ori=ori, n=k), position=tuple(float(v) for v in 5.0 * k * normal))
             for k in range(6)]
    assert slice_problem(insts) is None
    insts[3] = replace(insts[3], position=tuple(float(v) for v in 16.0 * normal))
    assert "uneven slice spacing" in (slice_problem(insts) or "")


def test_quarantine_ident_depends_on_the_paths():
    from tasks.ingest.quarantine import QuarantineItem

    a = QuarantineItem(reason="empty file (0 bytes)", category="unreadable", files=["a/x.dcm"],
                       hashes=["e3b0"])
    b = QuarantineItem(reason="empty file (0 bytes)", category="unreadable", files=["b/x.dcm"],
                       hashes=["e3b0"])
    assert a.ident() != b.ident()
    assert a.ident() == replace(a).ident()


def _nifti(path: Path, data: np.ndarray) -> Path:
    import nibabel as nib

    nib.save(nib.Nifti1Image(data, np.eye(4)), path)
    return path


@pytest.mark.parametrize(("shape", "value", "expected"), [
    ((4, 4, 3), 1.0, None),
    ((4, 4, 2), 1.0, "too few slices"),
    ((4, 4, 1), 1.0, "too few slices"),
    ((4, 4, 3), np.nan, "48 of 48 voxels are NaN or infinite"),
])
def test_check_volume(tmp_path, shape, value, expected):
    from tasks.ingest.convert import Converted
    from tasks.ingest.session import _check_volume

    out = Converted(nifti=_nifti(tmp_path / "v.nii", np.full(shape, value, np.float32)),
                    sidecar={})
    res = _check_volume(out)
    if expected is None:
        assert res is out
    else:
        assert isinstance(res, str) and expected in res


def test_one_infinite_voxel_is_found(tmp_path):
    from tasks.ingest.convert import Converted
    from tasks.ingest.session import _check_volume

    data = np.zeros((5, 5, 4), np.float64)
    data[2, 3, 1] = -np.inf
    res = _check_volume(Converted(nifti=_nifti(tmp_path / "v.nii", data), sidecar={}))
    assert isinstance(res, str) and "1 of 100 voxels" in res


def test_patient_id_is_decoded_with_the_character_set(tmp_path):
    import pydicom
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    from tasks.ingest.dicom import read_instance

    ds = pydicom.Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.PatientID = "Ødegård-07"
    ds.SOPInstanceUID = generate_uid()
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.SeriesInstanceUID = generate_uid()
    ds.save_as(tmp_path / "a.dcm", enforce_file_format=True)
    assert read_instance(tmp_path / "a.dcm", "a.dcm").patient_id == "Ødegård-07"


def test_symlinks_are_quarantined_without_their_content(tmp_path):
    from tasks.ingest.quarantine import quarantine
    from tasks.ingest.scan import LINK_REASON, SymlinkSource, scan_drop
    from tasks.ingest.sources.base import Context

    drop, outside = tmp_path / "drop", tmp_path / "outside"
    (drop / "pat").mkdir(parents=True)
    outside.mkdir()
    (outside / "secret.txt").write_text("secret")
    os.symlink(outside / "secret.txt", drop / "pat" / "a.dcm")
    os.symlink(outside, drop / "linked-dir", target_is_directory=True)
    os.symlink(tmp_path / "nowhere", drop / "pat" / "dangling.dcm")
    (sources,) = scan_drop(drop)
    assert isinstance(sources, SymlinkSource)
    assert sources.files == ["linked-dir", "pat/a.dcm", "pat/dangling.dcm"]
    disc = sources.discover(Context(drop_dir=drop, key=b"k" * 32, file_cache={}, instances={},
                                    series={}))
    assert [i.files for i in disc.quarantine] == [[f] for f in sources.files]
    assert all(i.reason.startswith(LINK_REASON) for i in disc.quarantine)
    qdir = tmp_path / "q"
    for item in disc.quarantine:
        folder = quarantine(item, drop, qdir, "run-1")
        assert json.loads((folder / "reason.json").read_text())["files_sha256"] == sorted(
            path_sha256(f) for f in item.files)
    assert [p for p in qdir.rglob("*") if p.is_file() and p.name != "reason.json"] == []


def test_echoes_and_phase_images_are_separate_stacks():
    """Two echoes (and magnitude + phase) share slice positions without being repeats."""
    from tasks.ingest.sources.series_checks import slice_problem

    zs = [0.0, 3.0, 6.0, 9.0]
    echoes = [replace(i, echo=e) for e in ("1", "2") for i in _series(zs)]
    assert slice_problem(echoes) is None
    parts = [replace(i, image_type=("ORIGINAL", "PRIMARY", t)) for t in ("M", "P")
             for i in _series(zs)]
    assert slice_problem(parts) is None
    assert "2 repeated" in (slice_problem(_series(zs) + _series(zs[1:3])) or "")


@pytest.mark.parametrize("shared_folder", [False, True])
def test_header_cut_last_slice_holds_back_its_series(tmp_path, shared_folder):
    """The last slice cut inside its header leaves no position gap; the series of its folder
    is still quarantined as incomplete. In a folder shared by two series the damaged file
    cannot be attributed: it is quarantined alone and both series go on."""
    from bench.support.hostile import SeriesSpec, write_series
    from tasks.ingest.sources.base import Context
    from tasks.ingest.sources.dicom_export import DicomExportSource

    drop = tmp_path / "drop"
    paths = write_series(drop / "pat" / "ct", SeriesSpec("P1", "1.2.3", "1.2.3.1"))
    if shared_folder:
        write_series(drop / "pat" / "ct", SeriesSpec("P1", "1.2.3", "1.2.3.2",
                                                      shape=(32, 32, 4),
                                                      description="Head 5mm"))
    last = paths[-1]
    last.write_bytes(last.read_bytes()[:200])  # DICM preamble kept, UIDs cut off
    files = sorted(p.relative_to(drop).as_posix() for p in (drop / "pat").rglob("*")
                   if p.is_file())
    disc = DicomExportSource(files).discover(
        Context(drop_dir=drop, key=b"k" * 32, file_cache={}, instances={}, series={}))
    reasons = {item.category: item for item in disc.quarantine}
    assert reasons["unreadable"].files == [last.relative_to(drop).as_posix()]
    if shared_folder:
        assert "incomplete" not in reasons
        assert len(disc.studies) == 1
    else:
        assert reasons["incomplete"].reason.startswith("incomplete series: 1 of its images")
        assert len(reasons["incomplete"].files) == len(paths) - 1
        assert not disc.studies


def test_headers_read_in_worker_processes_match_the_serial_read(tmp_path, monkeypatch):
    """A large drop is read by several processes; results (damage reasons and the series of a
    truncated image included) are those of the serial read, in input order."""
    import tasks.ingest.dicom as dicom
    import tasks.ingest.dicomread as dicomread
    from bench.support.hostile import SeriesSpec, write_series

    paths = write_series(tmp_path / "a", SeriesSpec("P1", "1.2.3", "1.2.3.1"))
    paths[3].write_bytes(paths[3].read_bytes()[:-500])  # truncated pixel data
    (tmp_path / "a" / "empty.dcm").write_bytes(b"")
    rels = sorted(p.relative_to(tmp_path).as_posix() for p in (tmp_path / "a").iterdir())
    serial = dicomread.read_many(tmp_path, rels, workers=1)
    monkeypatch.setattr(dicomread, "PARALLEL_READ_MIN_FILES", 2)
    parallel = dicomread.read_many(tmp_path, rels, workers=2)
    assert [type(r) for r in parallel] == [type(r) for r in serial]
    damaged = [r for r in parallel if isinstance(r, dicom.UnreadableFile)]
    assert sorted(str(r)[:9] for r in damaged) == ["empty fil", "truncated"]
    assert {r.series_uid for r in damaged} == {"", "1.2.3.1"}
    assert [r.sop_uid for r in parallel if isinstance(r, dicom.DicomInstance)] == [
        r.sop_uid for r in serial if isinstance(r, dicom.DicomInstance)]
