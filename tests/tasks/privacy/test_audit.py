"""The privacy audit finds what is planted, in every form, and reports no value."""

from __future__ import annotations

import datetime as dt
import gzip
from pathlib import Path

import duckdb
import pydicom
from pydicom.dataset import FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from tasks.privacy.audit import collect_phi, scan, tokens_for


def _write_dicom(path: Path) -> None:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = pydicom.Dataset()
    ds.file_meta = meta
    ds.PatientName = "Kowalczyk^Marianna"
    ds.PatientID = "MRN7741203"
    ds.PatientBirthDate = "19480317"
    ds.AccessionNumber = "ACC55512"
    ds.InstitutionName = "Saint Elsewhere General"
    ds.StudyDate = "20240611"
    ds.SeriesInstanceUID = generate_uid()
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)


def test_tokens_cover_common_forms() -> None:
    assert set(tokens_for("PatientBirthDate", "19480317")) == {
        "19480317", "1948-03-17", "17.03.1948"}
    names = tokens_for("PatientName", "Kowalczyk^Marianna")
    assert "Kowalczyk Marianna" in names and "Marianna Kowalczyk" in names
    assert tokens_for("PatientID", "123") == []  # too short to search without noise


def test_audit_finds_planted_phi_everywhere(tmp_path: Path) -> None:
    drop, out = tmp_path / "drop", tmp_path / "out"
    _write_dicom(drop / "export" / "IM0001")
    (drop / "clinical").mkdir()
    (drop / "clinical" / "c.csv").write_text("patient_id,age\nHOSP99812,70\n")
    tokens = collect_phi(drop)
    assert tokens["MRN7741203"] == "patient ID" and tokens["HOSP99812"] == "patient ID"

    out.mkdir()
    (out / "clean.json").write_text('{"subject": "ab12cd34ef", "value": 20240612}')
    (out / "sidecar.json").write_text('{"InstitutionName": "Saint Elsewhere General"}')
    (out / "img.nii.gz").write_bytes(gzip.compress(b"header descrip=mrn7741203 rest"))
    (out / "log.txt").write_text("ingested study of 2024-06-11\n")
    con = duckdb.connect(str(out / "w.duckdb"))
    con.execute("CREATE TABLE subjects (label VARCHAR)")
    con.execute("INSERT INTO subjects VALUES ('Marianna Kowalczyk')")
    con.close()

    findings, n = scan([out], tokens)
    got = {(Path(f.path).name, f.category) for f in findings}
    assert ("sidecar.json", "institution") in got
    assert ("img.nii.gz", "patient ID") in got  # found inside the gzip, case-insensitively
    assert ("log.txt", "study date") in got
    assert any(name == "w.duckdb" and cat == "patient name" for name, cat in got)
    assert not any(name == "clean.json" for name, _ in got)
    assert n == 5
    # findings never carry the identifying value itself
    assert all("7741203" not in f.where and "Kowalczyk" not in f.category for f in findings)


def test_excluded_roots_are_not_searched(tmp_path: Path) -> None:
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "map.tsv").write_text("MRN7741203\tab12\n")
    findings, n = scan([tmp_path], {"MRN7741203": "patient ID"},
                       exclude=[tmp_path / "secrets"])
    assert findings == [] and n == 0


def test_phantom_named_head_gives_no_finding(tmp_path: Path) -> None:
    """A real phantom's PatientName HEAD and an ID 'dicom' are common words, not searched
    alone; whole tokens only; the real identifying parts are still found."""
    tokens = {}
    for attr, value in (("PatientName", "HEAD"), ("PatientID", "dicom"),
                        ("InstitutionName", "orange"), ("PatientName", "Kowalczyk^HEAD")):
        tokens.update(dict.fromkeys(tokens_for(attr, value), "x"))
    assert "HEAD" not in tokens and "dicom" not in tokens and "orange" not in tokens
    assert "Kowalczyk" in tokens  # the family name of a real name stays
    out = tmp_path / "out"
    out.mkdir()
    (out / "README").write_text("Head CT and brain MRI; DICOM to NIfTI; orange button\n")
    (out / "report.html").write_text("<h1>HEAD</h1> Kowalczyks is another word\n")
    findings, _ = scan([out], tokens)
    assert findings == []
    (out / "leak.txt").write_text("patient Kowalczyk HEAD\n")
    findings, _ = scan([out], tokens)
    assert [Path(f.path).name for f in findings] == ["leak.txt"]


def test_ids_after_escapes_are_found(tmp_path: Path) -> None:
    """Logs and Prefect's database hold JSON: an ID right after an escaped newline, or a name
    with \\u escapes, must still be found."""
    from tasks.privacy.audit import unescape

    assert unescape(rb"a\nb\u00e9\"c\\nd") == b'a\nb\xc3\xa9"c\nd'
    tokens = {"MRN7741203": "patient ID", "Jos\u00e9 Garc\u00eda": "patient name"}
    out = tmp_path / "out"
    out.mkdir()
    (out / "flow.log").write_text('{"message": "read file\\nMRN7741203 done"}\n')
    (out / "prefect.db").write_bytes(b'..{"p": "{\\"n\\": \\"Jos\\\\u00e9 Garc\\\\u00eda\\"}"}..')
    findings, _ = scan([out], tokens)
    got = {(Path(f.path).name, f.category, f.where) for f in findings}
    assert ("flow.log", "patient ID", "bytes+unescaped") in got
    assert ("prefect.db", "patient name", "bytes+unescaped") in got


def test_ids_of_a_csv_ingest_could_not_use_are_searched_for(tmp_path: Path) -> None:
    """The undecodable-CSV case of issue 24: a UTF-16, semicolon-separated export (and a binary
    one) whose IDs could reach an exception text in Prefect's database are still collected,
    and found there after an escaped newline."""
    drop, out = tmp_path / "drop", tmp_path / "out"
    (drop / "clinical").mkdir(parents=True)
    (drop / "clinical" / "a.csv").write_bytes("Patient_ID;age\nHOSP55120;70\n".encode("utf-16"))
    (drop / "clinical" / "b.csv").write_bytes(b"patient_id,age\nHOSP77031,6\x01\x02\n")
    tokens = collect_phi(drop)
    assert tokens.get("HOSP55120") == "patient ID" and tokens.get("HOSP77031") == "patient ID"
    out.mkdir()
    (out / "prefect.db").write_bytes(
        b'..{"message": "UnicodeDecodeError: patient_id;age\\\\nHOSP55120;70"}..')
    findings, _ = scan([out], tokens)
    assert {(Path(f.path).name, f.category) for f in findings} == {("prefect.db", "patient ID")}


def test_a_header_cut_in_its_file_meta_is_passed_over(tmp_path: Path) -> None:
    """pydicom raises struct.error on a file cut inside its file meta group (found by
    bench/robustness, truncated-header case): the audit goes on with the other files."""
    from bench.support.dicomgen import Patient, uid, write_series

    good, cut = write_series(tmp_path / "drop", Patient("HOSP7701"), uid("c"),
                             dt.date(2024, 1, 5), "CT", 2, shape=(8, 8, 2))
    cut.write_bytes(cut.read_bytes()[:153])  # inside an explicit-VR length field
    tokens = collect_phi(tmp_path / "drop")
    assert tokens.get("HOSP7701") == "patient ID"


def test_audit_phi_searches_the_work_folders_text_files(tmp_path: Path, capsys) -> None:
    """`calcisvd audit-phi` reads the work folder's crash reports and node reports (issue 24
    item 6), not its intermediate images; and var/ingest, var/cache."""
    from calcisvd.cli import main as cli

    home = tmp_path / "home"
    _write_dicom(home / "drop" / "export" / "IM0001")
    crash = home / "var" / "work" / "crash" / "crash-20260101-000000-node-x.txt"
    crash.parent.mkdir(parents=True)
    crash.write_text("Traceback ...\nValueError: bad header in MRN7741203\n")
    image = home / "var" / "work" / "sub-a_ses-M00" / "v1" / "wf" / "node" / "t1.nii.gz"
    image.parent.mkdir(parents=True)
    image.write_bytes(gzip.compress(b"an intermediate image"))
    (home / "var" / "ingest").mkdir(parents=True)
    (home / "var" / "ingest" / "waiting.json").write_text('{"note": "Saint Elsewhere General"}')
    assert cli(["audit-phi", "--home", str(home)]) == 1
    out = capsys.readouterr().out
    assert "crash-20260101-000000-node-x.txt" in out and "waiting.json" in out, out
    assert "t1.nii.gz" not in out
    crash.write_text("Traceback ...\nValueError: bad header in <id>\n")
    (home / "var" / "ingest" / "waiting.json").write_text("{}")
    assert cli(["audit-phi", "--home", str(home)]) == 0, capsys.readouterr().out


def test_nifti_images_are_searched_in_header_and_extensions(tmp_path: Path) -> None:
    """Text in a NIfTI lives in its header (descrip, aux_file) and extensions; the voxel data
    is not read (numbers), which made the audit take minutes on a demo home."""
    import nibabel as nib
    import numpy as np

    from tasks.privacy.audit import nifti_text_part

    def image(name: str, descrip: str = "", ext: bytes = b"") -> Path:
        img = nib.Nifti1Image(np.zeros((4, 4, 4), np.int16), np.eye(4))
        img.header["descrip"] = descrip.encode()
        if ext:
            img.header.extensions.append(nib.nifti1.Nifti1Extension(6, ext))  # comment
        path = tmp_path / "out" / name
        path.parent.mkdir(exist_ok=True)
        nib.save(img, path)
        return path

    image("clean.nii.gz")
    image("descrip.nii.gz", descrip="MRN7741203")
    image("ext.nii", ext=b"exported for Kowalczyk Marianna")
    findings, n = scan([tmp_path / "out"], {"MRN7741203": "patient ID",
                                            "Kowalczyk Marianna": "patient name"})
    assert n == 3
    assert sorted((Path(f.path).name, f.category, f.where) for f in findings) == [
        ("descrip.nii.gz", "patient ID", "nifti-header"),
        ("ext.nii", "patient name", "nifti-header")]
    raw = (tmp_path / "out" / "ext.nii").read_bytes()
    assert 352 < nifti_text_part(raw[:544]) < len(raw)  # header + extension, not the voxels
    assert nifti_text_part(b"header descrip=mrn7741203 rest") is None  # not NIfTI: all read
