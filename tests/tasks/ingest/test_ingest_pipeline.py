"""End-to-end ingest (without Prefect) on a tiny export with faults."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import threading

import nibabel as nib
import numpy as np

from bench.support.dicomgen import Patient, write_study
from tasks.ingest.layout import list_sessions
from tasks.ingest.pipeline import ingest_lock, run_ingest
from tasks.ingest.quarantine import find_files
from tests.tasks.ingest.ingest_fixtures import make_settings, tree_digest, write_cohort


def _json(path):
    return json.loads(path.read_text())


def test_layout_and_counts(ingested):
    settings, summary, _ = ingested
    assert summary["status"] == "partial"  # the fault study is quarantined
    # P1: 2 sessions x 5 kinds, P2: 5, P5 (fault study): T1w + FLAIR
    assert summary["ingested"] == 17
    assert summary["skipped"] == 5  # 3 localizers + 2 dose reports
    assert summary["quarantined"] == 6
    sessions = list_sessions(settings.bids_dir)
    assert len(sessions) == 4
    by_len = sorted(len(s["files"]) for s in sessions)
    assert by_len == [2, 5, 5, 5]
    labels = sorted(s["session"] for s in sessions)
    assert labels == ["M00", "M00", "M00", "M12"]
    ct = next(s["files"]["ct"] for s in sessions if "ct" in s["files"])
    assert ct.name.endswith("_ct.nii.gz")
    img = nib.load(ct)
    assert img.shape == (32, 32, 20)
    hu = np.asarray(img.dataobj, dtype=np.float32)
    assert -50 < float(np.median(hu)) < 100  # soft tissue ~30 HU after RescaleIntercept -1024
    assert hu.max() > 900  # the bone rim


def test_dataset_files(ingested):
    settings, _, _ = ingested
    bids = settings.bids_dir
    desc = _json(bids / "dataset_description.json")
    assert desc["BIDSVersion"] == "1.10.0" and desc["DatasetType"] == "raw"
    assert (bids / ".bidsignore").read_text() == "**/*_ct.*\n"
    assert (bids / "README").is_file()
    rows = (bids / "participants.tsv").read_text().splitlines()
    assert rows[0].split("\t")[:3] == ["participant_id", "age", "sex"]
    assert len(rows) == 1 + 3
    values = {r.split("\t")[1:3][0] + r.split("\t")[2] for r in rows[1:]}
    assert {"63M", "70F"} <= values
    pj = _json(bids / "participants.json")
    assert pj["sex"]["Levels"] == {"M": "male", "F": "female"}
    assert pj["age"]["Units"] == "year"
    p1 = next(s for s in list_sessions(bids) if s["session"] == "M12")["subject"]
    ses = (bids / f"sub-{p1}" / f"sub-{p1}_sessions.tsv").read_text().splitlines()
    assert ses == ["session_id\tdays_since_baseline", "ses-M00\t0", "ses-M12\t368"]
    scans = (bids / f"sub-{p1}" / "ses-M12" / f"sub-{p1}_ses-M12_scans.tsv").read_text()
    assert scans.splitlines()[0] == "filename"
    assert f"anat/sub-{p1}_ses-M12_acq-swi_T2starw.nii.gz" in scans
    reid = settings.reid_map_path.read_text().splitlines()
    assert reid[0] == "patient_id\tsubject\tstudy_instance_uid\tsession"
    assert any(line.startswith(f"HOSP0001\t{p1}\t") and line.endswith("\tM12") for line in reid)


def test_quarantine_reasons_and_drop_untouched(ingested):
    settings, _, before = ingested
    assert tree_digest(settings.drop_dir) == before
    reasons = [_json(p) for p in sorted(settings.quarantine_dir.glob("*/reason.json"))]
    text = " | ".join(r["reason"] for r in reasons)
    for words in ("empty file", "not a DICOM file", "truncated", "inconsistent geometry",
                  "PatientID differs", "incomplete series"):
        assert words in text
    for r in reasons:  # records keep SHA-256 hashes of the paths, the copies are named so
        assert len(find_files(r, settings.drop_dir)) == r["n_files"] == len(r["files_sha256"])
        folder = next(p.parent for p in settings.quarantine_dir.glob("*/reason.json")
                      if _json(p) == r)
        assert all((folder / "files" / h).is_file() for h in r["files_sha256"])


def test_rerun_changes_nothing_and_reads_nothing(ingested):
    settings, _, _ = ingested
    snap_bids = tree_digest(settings.bids_dir)
    snap_q = tree_digest(settings.quarantine_dir)
    mtimes = {p: p.stat().st_mtime_ns for p in settings.bids_dir.rglob("*")}
    again = run_ingest(settings)
    assert (again["ingested"], again["skipped"], again["quarantined"]) == (0, 0, 0)
    # Every file is known by its fingerprint, so none is parsed again (structural, not a
    # wall-clock ratio: those fail on a loaded CI machine).
    assert again["files_new"] == 0 and again["files_unchanged"] >= 300
    assert tree_digest(settings.bids_dir) == snap_bids
    assert tree_digest(settings.quarantine_dir) == snap_q
    assert {p: p.stat().st_mtime_ns for p in settings.bids_dir.rglob("*")} == mtimes


def test_follow_up_later_and_before_baseline(tmp_path):
    settings = make_settings(tmp_path / "home")
    drop = settings.drop_dir
    p = Patient("HOSP0042")
    write_study(drop, p, dt.date(2024, 2, 1), visit="v1", kinds=("CT", "FLAIR"),
                localizer=False, dose=False, shape=(16, 16, 6))
    assert run_ingest(settings)["ingested"] == 2
    # the follow-up arrives a year later, under a new export folder and other file names
    write_study(drop, p, dt.date(2025, 1, 30), visit="v2", kinds=("FLAIR", "T1w"),
                localizer=False, dose=False, shape=(16, 16, 6))
    # and the real baseline (before the first study received) turns up: it becomes M00 and
    # the sessions already in the dataset are re-labelled (tasks/ingest/relabel.py)
    write_study(drop, p, dt.date(2023, 6, 1), visit="v0", kinds=("FLAIR",), localizer=False,
                dose=False, shape=(16, 16, 6))
    (sub,) = [d.name[4:] for d in settings.bids_dir.glob("sub-*")]
    old_deriv = settings.derivatives_dir / f"sub-{sub}" / "ses-M00"
    old_deriv.mkdir(parents=True)
    (old_deriv / "measures.json").write_text("{}")
    s2 = run_ingest(settings)
    assert s2["ingested"] == 3
    assert s2["quarantined"] == 0
    assert s2["relabelled_subjects"] == [f"sub-{sub}: M00->M08"]
    sessions = {(s["session"], tuple(sorted(s["files"]))) for s in list_sessions(
        settings.bids_dir)}
    # 2023-06-01 baseline; 2024-02-01 is day 245 (M08), 2025-01-30 day 609 (M20)
    assert sessions == {("M00", ("FLAIR",)), ("M08", ("FLAIR", "ct")),
                        ("M20", ("FLAIR", "T1w"))}
    subdir = settings.bids_dir / f"sub-{sub}"
    assert sorted(p.name for p in (subdir / "ses-M08").rglob("*") if p.is_file()) == sorted(
        f"sub-{sub}_ses-M08_{n}" for n in ("FLAIR.json", "FLAIR.nii.gz", "ct.json",
                                           "ct.nii.gz", "scans.tsv"))
    assert "anat/sub-" + sub + "_ses-M08_ct.nii.gz" in (
        subdir / "ses-M08" / f"sub-{sub}_ses-M08_scans.tsv").read_text()
    tsv = (subdir / f"sub-{sub}_sessions.tsv").read_text().splitlines()
    assert tsv[1:] == ["ses-M00\t0", "ses-M08\t245", "ses-M20\t609"]
    reid = settings.reid_map_path.read_text()
    assert "M08" in reid and "\tM12" not in reid
    assert not (settings.derivatives_dir / f"sub-{sub}").exists()  # redone by quantify
    again = run_ingest(settings)
    assert (again["ingested"], again["quarantined"], again["relabelled_subjects"]) == (0, 0, [])
    # the same files copied again under another name are skipped by UID + content
    src = next(drop.glob("pacs_20250130/**/S02"))
    copy = drop / "resent" / "again"
    copy.mkdir(parents=True)
    for f in src.iterdir():
        (copy / f"X{f.name}").write_bytes(f.read_bytes())
    s3 = run_ingest(settings)
    assert (s3["ingested"], s3["quarantined"]) == (0, 0)
    assert s3["duplicate_files"] == 6
    # a resent image with the same UID but different content is quarantined
    f = next(copy.iterdir())
    data = bytearray(f.read_bytes())
    data[-10] ^= 0xFF
    f.write_bytes(bytes(data))
    s4 = run_ingest(settings)
    assert s4["quarantine_reasons"] == {"duplicate": 1}


def test_lock_second_run_skips_cleanly(tmp_path):
    settings = make_settings(tmp_path / "home")
    write_cohort(settings.drop_dir)
    held, release = threading.Event(), threading.Event()

    def holder():
        with ingest_lock(settings):
            held.set()
            release.wait(10)

    t = threading.Thread(target=holder)
    t.start()
    held.wait(5)
    try:
        busy = run_ingest(settings, lock_timeout_s=0.3)
    finally:
        release.set()
        t.join()
    assert busy["status"] == "locked"
    assert not list(settings.bids_dir.glob("sub-*"))
    assert run_ingest(settings, lock_timeout_s=5)["ingested"] == 15


def test_outputs_are_gzip_deterministic(ingested):
    settings, _, _ = ingested
    nii = next(settings.bids_dir.glob("sub-*/ses-*/anat/*_T1w.nii.gz"))
    raw = nii.read_bytes()
    assert raw[4:8] == b"\x00\x00\x00\x00"  # gzip mtime 0
    hdr = gzip.decompress(raw)[:348]
    assert hdr[148:228] == bytes(80)  # descrip cleared


def test_fixed_file_makes_the_quarantined_series_judged_whole(tmp_path):
    """A repaired slice re-sent: its series (the 5 unchanged quarantined slices with it) is
    re-read and ingested whole; the old quarantine folder is marked resolved."""
    import json

    import nibabel as nib

    settings = make_settings(tmp_path / "home")
    files = write_study(settings.drop_dir, Patient("HOSP0066"), dt.date(2024, 5, 1),
                        visit="v1", kinds=("T1w",), localizer=False, dose=False,
                        shape=(16, 16, 6))["T1w"]
    good = files[2].read_bytes()
    files[2].write_bytes(good[:-300])
    first = run_ingest(settings)
    assert first["ingested"] == 0 and first["quarantine_reasons"] == {"incomplete": 1,
                                                                       "unreadable": 1}
    files[2].write_bytes(good)  # the hospital re-sends the repaired slice
    second = run_ingest(settings)
    assert second["ingested"] == 1 and second["quarantined"] == 0
    assert second["files_in_quarantine"] == 0
    (t1,) = settings.bids_dir.glob("sub-*/ses-*/anat/*_T1w.nii.gz")
    assert nib.load(t1).shape[2] == 6
    status = {json.loads(p.read_text())["status"]
              for p in settings.quarantine_dir.glob("q-*/reason.json")}
    assert "resolved" in status
    third = run_ingest(settings)
    assert third["ingested"] == 0 and third["files_unchanged"] == 6
