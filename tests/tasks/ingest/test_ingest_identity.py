"""Identity (issue 24 item 1): patient IDs normalised, the key never silently recreated."""

from __future__ import annotations

import datetime as dt

import pytest

from bench.support.dicomgen import Patient, write_study
from tests.tasks.ingest.ingest_fixtures import make_settings


def _study(drop, pid: str, date: dt.date, visit: str) -> None:
    write_study(drop, Patient(pid), date, visit=visit, kinds=("CT",), localizer=False,
                dose=False, shape=(16, 16, 6))


def test_a_changed_case_or_padding_is_the_same_patient(tmp_path):
    from tasks.ingest.deid import normalise_patient_id
    from tasks.ingest.pipeline import run_ingest

    assert normalise_patient_id(" h1512204\t") == "H1512204"
    settings = make_settings(tmp_path / "home")
    _study(settings.drop_dir, "H1512204", dt.date(2024, 1, 5), "v1")
    run_ingest(settings)
    _study(settings.drop_dir, "h1512204 ", dt.date(2025, 1, 7), "v2")
    run_ingest(settings)
    bids = settings.bids_dir
    assert len(list(bids.glob("sub-*"))) == 1
    assert sorted(p.name for p in bids.glob("sub-*/ses-*")) == ["ses-M00", "ses-M12"]


def test_a_missing_key_or_map_is_refused_when_the_dataset_has_subjects(tmp_path):
    from bench.support.cli import run_cli
    from tasks.ingest.deid import MissingKeyError
    from tasks.ingest.pipeline import run_ingest

    settings = make_settings(tmp_path / "home")
    _study(settings.drop_dir, "HOSP0001", dt.date(2024, 1, 5), "v1")
    run_ingest(settings)
    key = settings.pseudonym_key_path
    saved = key.read_bytes()
    key.unlink()
    _study(settings.drop_dir, "HOSP0002", dt.date(2024, 2, 5), "v1")
    with pytest.raises(MissingKeyError, match="restore pseudonym.key from your backup"):
        run_ingest(settings)
    assert not key.exists()  # never recreated
    proc = run_cli(settings.home, "ingest", "--no-prefect")
    assert proc.returncode == 6 and "restore pseudonym.key" in proc.stderr
    assert "Traceback" not in proc.stderr
    key.write_bytes(saved)
    settings.reid_map_path.rename(settings.reid_map_path.with_suffix(".bak"))
    with pytest.raises(MissingKeyError, match="restore reid_map.tsv"):
        run_ingest(settings)
    assert len(list(settings.bids_dir.glob("sub-*"))) == 1  # nothing changed


def test_a_run_killed_right_after_its_first_images_keeps_their_secrets(tmp_path, monkeypatch):
    """The subject's re-identification rows are written before its images enter the dataset:
    a run that dies just after the first session's images were committed (the robustness
    test's SIGKILL once landed there) leaves a map, so the next run goes on instead of
    refusing for a "missing" map."""
    import tasks.ingest.session as session
    from tasks.ingest.pipeline import run_ingest

    class Killed(BaseException):
        pass

    real = session.replace_dir

    def commit_then_die(staged, target):
        real(staged, target)
        raise Killed

    settings = make_settings(tmp_path / "home")
    _study(settings.drop_dir, "HOSP0001", dt.date(2024, 1, 5), "v1")
    monkeypatch.setattr(session, "replace_dir", commit_then_die)
    with pytest.raises(Killed):
        run_ingest(settings)
    monkeypatch.undo()
    assert len(list(settings.bids_dir.glob("sub-*/ses-*"))) == 1
    assert "HOSP0001" in settings.reid_map_path.read_text()
    run_ingest(settings)  # not refused
    assert len(list(settings.bids_dir.glob("sub-*/ses-*"))) == 1


def test_possible_duplicate_patient_is_reported_without_phi(tmp_path):
    """The same person (family and given name, birth year, sex) under two PatientIDs is
    reported as a possible duplicate by pseudonyms only; another person is not."""
    import datetime as dt
    import json

    from bench.support.dicomgen import Patient, write_study
    from calcisvd.status import format_status
    from tasks.ingest.pipeline import run_ingest
    from tests.tasks.ingest.ingest_fixtures import make_settings

    settings = make_settings(tmp_path / "home")
    drop = settings.drop_dir
    a = Patient("H1512204", name="NOVAK^WEI H", birth_date="19570118", sex="M")
    b = Patient("77-0091", name="Novak^Wei", birth_date="19570301", sex="M")
    c = Patient("H2000001", name="NOVAK^ANNA", birth_date="19570118", sex="F")
    for i, p in enumerate((a, c)):
        write_study(drop, p, dt.date(2024, 2, 1), visit=f"v{i}", kinds=("FLAIR",),
                    localizer=False, dose=False, shape=(16, 16, 6))
    assert run_ingest(settings)["possible_duplicates"] == []
    write_study(drop, b, dt.date(2024, 3, 1), visit="v9", kinds=("FLAIR",), localizer=False,
                dose=False, shape=(16, 16, 6))
    s2 = run_ingest(settings)
    subjects = sorted(d.name for d in settings.bids_dir.glob("sub-*"))
    assert len(subjects) == 3  # reported, never merged
    (group,) = s2["possible_duplicates"]
    assert len(group) == 2 and set(group) < set(subjects)
    report = (settings.var_dir / "ingest" / "identity_report.json").read_text()
    for phi in ("NOVAK", "Novak", "H1512204", "77-0091", "1957"):
        assert phi not in report and phi not in json.dumps(s2)
    text = format_status({"home": "h", "backlog": {"to_quantify": [], "to_load": [],
                                                   "failed_measurements": [],
                                                   "warehouse_readable": False},
                          "warehouse": None, "quarantine": [], "skipped_series": {},
                          "possible_duplicates": json.loads(report)["possible_duplicates"]})
    assert " = ".join(group) in text
