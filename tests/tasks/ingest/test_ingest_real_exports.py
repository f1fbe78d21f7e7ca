"""Real-export cases of issue 18: masked dates, placeholder identities, series choice, and a
quarantine that can be fixed (re-send, retry, dismiss)."""

from __future__ import annotations

import datetime as dt
import json

import pydicom

from bench.support.dicomgen import Patient, write_series, write_study
from calcisvd.cli import main
from tasks.ingest.pipeline import run_ingest
from tests.tasks.ingest.ingest_fixtures import make_settings

DAY = dt.date(2024, 5, 1)
MASKED = {"StudyDate": "***", "SeriesDate": "", "AcquisitionDate": "***", "ContentDate": ""}


def _t1(drop, patient, **kw):
    return write_study(drop, patient, DAY, visit="v1", kinds=("T1w",), localizer=False,
                       dose=False, shape=(16, 16, 6), **kw)["T1w"]


def _set(files, **values):
    for f in files:
        ds = pydicom.dcmread(f)
        for k, v in values.items():
            setattr(ds, k, v)
        ds.save_as(f)


def test_date_falls_back_to_series_then_content_date(tmp_path):
    settings = make_settings(tmp_path / "home")
    _t1(settings.drop_dir, Patient("HOSP0101", extra={"StudyDate": "***", "SeriesDate": "",
                                                      "AcquisitionDate": "20240502"}))
    out = run_ingest(settings)
    assert out["ingested"] == 1 and out["quarantined"] == 0


def test_undated_study_quarantined_with_the_fix_then_resent(tmp_path):
    settings = make_settings(tmp_path / "home")
    files = _t1(settings.drop_dir, Patient("HOSP0102", extra=MASKED))
    first = run_ingest(settings)
    assert first["ingested"] == 0 and first["quarantine_reasons"] == {"date": 1}
    (doc,) = [json.loads(p.read_text())
              for p in settings.quarantine_dir.glob("q-*/reason.json")]
    for words in ("StudyDate, SeriesDate, AcquisitionDate and ContentDate", "'***'",
                  "Set StudyDate"):
        assert words in doc["reason"]
    assert "files" not in doc["public"] and doc["public"]["source_sha256"]
    # nothing changed: a rerun says the files are still in quarantine (not silently unchanged)
    again = run_ingest(settings)
    assert again["files_in_quarantine"] == 6 and again["ingested"] == 0
    # the case of the issue: StudyDate set in the drop files, rerun -> ingested, not "incomplete"
    _set(files, StudyDate="20240501")
    fixed = run_ingest(settings)
    assert fixed["ingested"] == 1 and fixed["quarantined"] == 0, fixed
    assert {json.loads(p.read_text())["status"]
            for p in settings.quarantine_dir.glob("q-*/reason.json")} == {"resolved"}


def test_deleted_quarantine_folder_means_retry(tmp_path):
    import shutil

    settings = make_settings(tmp_path / "home")
    _t1(settings.drop_dir, Patient("HOSP0103", extra=MASKED))
    run_ingest(settings)
    for folder in settings.quarantine_dir.glob("q-*"):
        shutil.rmtree(folder)
    again = run_ingest(settings)  # judged again (still undated): quarantined again, said so
    assert again["files_unchanged"] == 0 and again["quarantine_reasons"] == {"date": 1}
    assert len(list(settings.quarantine_dir.glob("q-*"))) == 1


def test_undated_rule_baseline(tmp_path):
    settings = make_settings(tmp_path / "home")
    _t1(settings.drop_dir, Patient("HOSP0104", extra=MASKED))
    out = run_ingest(settings.replace(ingest_undated="baseline"))
    assert out["ingested"] == 1
    assert list(settings.bids_dir.glob("sub-*/ses-M00/anat/*_T1w.nii.gz"))


def test_quarantine_command_list_retry_dismiss(tmp_path, capsys):
    home = tmp_path / "home"
    settings = make_settings(home)
    _t1(settings.drop_dir, Patient("HOSP0105", extra=MASKED))
    _t1(settings.drop_dir, Patient("***"))
    run_ingest(settings)
    assert main(["quarantine", "list", "--home", str(home)]) == 0
    listed = capsys.readouterr().out
    assert "date" in listed and "identity" in listed and "2 item(s)" in listed
    items = {d["category"]: d["id"] for d in
             (json.loads(p.read_text()) | {"id": p.parent.name}
              for p in settings.quarantine_dir.glob("q-*/reason.json"))}
    assert main(["quarantine", "dismiss", items["identity"], "--home", str(home)]) == 0
    assert main(["quarantine", "retry", items["date"], "--home", str(home)]) == 0
    assert main(["quarantine", "retry", "q-0000", "--home", str(home)]) == 2
    capsys.readouterr()
    out = run_ingest(settings)
    # retried: read again (still undated); dismissed: unchanged and not reported again
    assert out["quarantine_reasons"] == {"date": 1} and out["files_unchanged"] == 6
    assert out["files_in_quarantine"] == 0


def test_placeholder_identities(tmp_path):
    from tasks.ingest.deid import placeholder_id

    for value in ("", "***", "ANONYMOUS", "0000000", "XXXX", "anonymized", "---"):
        assert placeholder_id(value), value
    for value in ("HOSP0001", "12345", "AB1234"):
        assert placeholder_id(value) is None, value
    settings = make_settings(tmp_path / "home")
    _t1(settings.drop_dir, Patient("ANONYMOUS"))
    out = run_ingest(settings)
    assert out["ingested"] == 0 and out["quarantine_reasons"] == {"identity": 1}
    ruled = make_settings(tmp_path / "home2")
    _t1(ruled.drop_dir, Patient("***"))
    assert run_ingest(ruled.replace(ingest_placeholder_ids="study"))["ingested"] == 1


def test_series_choice_and_skipped_list(tmp_path, capsys):
    settings = make_settings(tmp_path / "home")
    drop, p = settings.drop_dir / "exp", Patient("HOSP0106")
    study = "2.25.4242"
    kw = dict(shape=(16, 16, 8))
    write_series(drop / "s2", p, study, DAY, "CT", 2, spacing=5.0, **kw)
    write_series(drop / "s3", p, study, DAY, "CT", 3, spacing=1.0, description="Head iDose 4",
                 **kw)
    write_series(drop / "s4", p, study, DAY, "CT", 4, spacing=0.8, **kw,
                 description="Head BONE 0.8")
    write_series(drop / "s5", p, study, DAY, "T2w", 5, description="dti_tra_12dir", **kw)
    write_series(drop / "s6", p, study, DAY, "T2w", 6, description="ax t2",
                 image_type="ORIGINAL\\PRIMARY\\DIFFUSION\\NONE", **kw)
    for f in (drop / "s4").iterdir():
        ds = pydicom.dcmread(f)
        ds.ConvolutionKernel = "BONE"
        ds.save_as(f)
    out = run_ingest(settings)
    assert out["ingested"] == 1, out
    (ct,) = settings.bids_dir.glob("sub-*/ses-*/anat/*_ct.json")
    import nibabel as nib

    zooms = nib.load(str(ct).replace(".json", ".nii.gz")).header.get_zooms()
    assert abs(zooms[2] - 1.0) < 1e-3  # the 1 mm standard kernel, not the 5 mm or bone
    skipped = {s["description"]: s["reason"] for s in out["skipped_series"]}
    assert "kept the thinnest standard-kernel" in skipped["Head 1.0 STND"]
    assert "kernel BONE" in skipped["Head BONE 0.8"]
    assert "diffusion" in skipped["dti_tra_12dir"]
    assert "ImageType DIFFUSION" in skipped["ax t2"]
    assert len(list((settings.quarantine_dir / "skipped").glob("*.json"))) == 4
    assert main(["status", "--no-prefect", "--home", str(settings.home)]) == 0
    text = capsys.readouterr().out
    assert "skipped series: 4" in text and "dti_tra_12dir" in text


def test_site_heuristics_file(tmp_path):
    settings = make_settings(tmp_path / "home")
    (settings.home / "heuristics.json").parent.mkdir(parents=True, exist_ok=True)
    (settings.home / "heuristics.json").write_text(json.dumps({"descriptions": [
        {"datatype": "anat", "suffix": "FLAIR", "criteria": {"SeriesDescription": "*hirn_fl*"}},
        {"datatype": "dwi", "suffix": "dwi", "criteria": {"SeriesDescription": "kopf_d*"}}]}))
    drop, p = settings.drop_dir, Patient("HOSP0107")
    write_series(drop / "a", p, "2.25.77", DAY, "T1w", 2, description="HIRN_FL_AX",
                 shape=(16, 16, 6))
    write_series(drop / "b", p, "2.25.77", DAY, "T1w", 3, description="KOPF_D_TRA",
                 shape=(16, 16, 6))
    out = run_ingest(settings)
    assert list(settings.bids_dir.glob("sub-*/ses-*/anat/*_FLAIR.nii.gz"))
    assert out["skipped_series"][0]["reason"].startswith("site heuristic #2 (dwi/dwi)")


def test_warehouse_gets_hashed_source_paths(tmp_path):
    """Export folder names often carry patient names: the warehouse row of a quarantine item
    holds the SHA-256 of the source paths and the reason without paths."""
    from warehouse.sources import Batch, read_quarantine

    settings = make_settings(tmp_path / "home")
    folder = settings.drop_dir / "Zyxwvu_Quintessa_19430917"
    folder.mkdir(parents=True)
    (folder / "notes.txt").write_bytes(b"not dicom")
    assert run_ingest(settings)["quarantined"] == 1
    batch = Batch()
    read_quarantine(settings.quarantine_dir, batch)
    (row,) = batch.quarantine
    assert "Zyxwvu" not in json.dumps(row) and len(row["source"]) == 64
    assert row["reason"].startswith("not a DICOM file")


def test_two_studies_of_one_visit_are_merged_and_reported(tmp_path):
    settings = make_settings(tmp_path / "home")
    p = Patient("HOSP0108")
    write_series(settings.drop_dir / "a", p, "2.25.501", DAY, "CT", 2, shape=(16, 16, 6))
    write_series(settings.drop_dir / "b", p, "2.25.502", DAY, "T1w", 3, shape=(16, 16, 6))
    out = run_ingest(settings)
    assert out["ingested"] == 2
    (note,) = out["merged_sessions"]
    assert "same-month rule" in note and note.startswith("sub-")
    from tasks.ingest.summary import summary_markdown

    assert "Sessions of several studies" in summary_markdown(out)
