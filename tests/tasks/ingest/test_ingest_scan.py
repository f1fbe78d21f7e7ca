"""scan_drop: which files of the drop folder go to which source, and which are left out."""

from __future__ import annotations

import os
from pathlib import Path

from tasks.ingest.quarantine import path_sha256
from tasks.ingest.scan import scan_drop


def _touch(root: Path, rel: str, text: str = "x") -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _by_kind(drop: Path) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for source in scan_drop(drop):
        key = source.kind + (f":{source.root}" if source.kind == "bids" else "")
        out[key] = source.files
    return out


def test_scan_sorts_files_by_source_and_leaves_out_what_is_not_input(tmp_path):
    drop = tmp_path / "drop"
    for rel in ["export/b/IM2", "export/b/IM1", "export/a/IM1", "top.dcm",
                "nifti/t1.nii.gz", "nifti/t1.json", "nifti/lonely.json",
                "ds/dataset_description.json", "ds/participants.tsv",
                "ds/sub-1/anat/sub-1_T1w.nii.gz", "ds/sub-1/anat/sub-1_T1w.json",
                "ds/derivatives/x/sub-1_T1w.nii.gz", "ds/code/run.nii",
                ".hidden", ".git/objects/ab", "export/.DS_Store",
                "clinical/covariates.csv"]:
        _touch(drop, rel)
    outside = tmp_path / "outside"
    _touch(outside, "secret.dcm")
    os.symlink(outside / "secret.dcm", drop / "export" / "a" / "link.dcm")
    os.symlink(outside, drop / "linked_dir")
    os.symlink(tmp_path / "missing", drop / "dangling")
    os.symlink(outside, drop / ".hidden_link")

    kinds = _by_kind(drop)
    assert kinds["dicom"] == ["top.dcm", "export/a/IM1", "export/b/IM1", "export/b/IM2",
                              "nifti/lonely.json"]
    assert kinds["nifti"] == ["nifti/t1.nii.gz"]
    assert kinds["bids:ds"] == ["ds/sub-1/anat/sub-1_T1w.nii.gz"]
    assert kinds["symlink"] == ["dangling", "export/a/link.dcm", "linked_dir"]
    assert set(kinds) == {"dicom", "nifti", "bids:ds", "symlink"}


def test_scan_of_a_missing_or_empty_drop_folder(tmp_path):
    assert scan_drop(tmp_path / "nope") == []
    (tmp_path / "empty").mkdir()
    assert scan_drop(tmp_path / "empty") == []


def _lock_folder(monkeypatch, name: str = "locked") -> None:
    """``scandir`` of ``name`` fails as for a folder without read permission (the tests run
    as root, who can list anything)."""
    import tasks.ingest.scan as scan

    real = os.scandir

    def scandir(path):
        if str(path).endswith(name):
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(scan.os, "scandir", scandir)


def test_unlistable_folder_is_reported_not_passed_over(tmp_path, monkeypatch):
    drop = tmp_path / "drop"
    _touch(drop, "ok/IM1")
    _touch(drop, "sub/locked/IM1")
    _lock_folder(monkeypatch)
    assert _by_kind(drop) == {"dicom": ["ok/IM1"], "symlink": ["sub/locked"]}


def test_unlistable_folder_is_quarantined_with_the_reason(tmp_path, monkeypatch):
    import datetime as dt
    import json

    from bench.support.dicomgen import Patient, write_study
    from tasks.ingest.pipeline import run_ingest
    from tests.tasks.ingest.ingest_fixtures import make_settings

    settings = make_settings(tmp_path / "home")
    drop = settings.drop_dir
    write_study(drop, Patient("P1"), dt.date(2024, 2, 1), visit="v1", kinds=("FLAIR",),
                localizer=False, dose=False, shape=(16, 16, 6))
    _touch(drop, "locked/IM1")
    _lock_folder(monkeypatch)
    summary = run_ingest(settings)
    assert (summary["ingested"], summary["quarantined"]) == (1, 1), summary
    reasons = [json.loads(p.read_text()) for p in settings.quarantine_dir.glob("*/reason.json")]
    assert [r["reason"] for r in reasons] == [
        "folder cannot be listed (Permission denied): <file>; its files were not read"]
    assert reasons[0]["files_sha256"] == [path_sha256("locked")]  # no name kept
    monkeypatch.undo()  # readable again: its files are read by the next run
    again = run_ingest(settings)
    assert again["quarantined"] == 1 and "Permission denied" not in json.dumps(again)


def test_fifo_is_quarantined_not_read(tmp_path):
    """A FIFO (which would block any reader) is quarantined with a reason naming it; the
    run ends and the other inputs are ingested."""
    import datetime as dt
    import json
    import os

    from bench.support.dicomgen import Patient, write_study
    from tasks.ingest.pipeline import run_ingest
    from tests.tasks.ingest.ingest_fixtures import make_settings

    settings = make_settings(tmp_path / "home")
    drop = settings.drop_dir
    write_study(drop, Patient("P1"), dt.date(2024, 2, 1), visit="v1", kinds=("FLAIR",),
                localizer=False, dose=False, shape=(16, 16, 6))
    os.mkfifo(drop / "pipe.dcm")
    summary = run_ingest(settings)
    assert summary["ingested"] == 1
    reasons = [json.loads(p.read_text()) for p in settings.quarantine_dir.glob("*/reason.json")]
    by_sha = {f: r["reason"] for r in reasons for f in r["files_sha256"]}
    assert "not a regular file (FIFO)" in by_sha[path_sha256("pipe.dcm")]
    again = run_ingest(settings)
    assert (again["ingested"], again["quarantined"]) == (0, 0)
