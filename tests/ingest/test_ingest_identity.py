"""Identity (issue 24 item 1): patient IDs normalised, the key never silently recreated."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.ingest.dicomgen import Patient, write_study
from tests.ingest.ingest_fixtures import make_settings


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
    from tasks.ingest.deid import MissingKeyError
    from tasks.ingest.pipeline import run_ingest
    from tests.robustness.helpers import run_cli

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
