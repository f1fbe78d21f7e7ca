"""DICOMweb pull (tasks/pacs/dicomweb.py, flows/pull.py) against a real Orthanc."""

from __future__ import annotations

import dataclasses
import hashlib
import json

import pydicom
import pytest

from bench.support.pacs_helpers import dicom_files
from tasks.pacs.dicomweb import (
    StudyRef,
    empty_state,
    load_state,
    record,
    save_state,
    since_filter,
    study_refs,
    to_fetch,
)


def test_study_refs_from_dicom_json():
    results = [{"0020000D": {"vr": "UI", "Value": ["1.2.3"]},
                "00080020": {"vr": "DA", "Value": ["20240105"]},
                "00201208": {"vr": "IS", "Value": [12]}},
               {"0020000D": {"vr": "UI", "Value": ["1.2.2"]}},
               {"00080020": {"vr": "DA", "Value": ["20240101"]}}]  # no UID: ignored
    assert study_refs(results) == [StudyRef("1.2.2", "", 0), StudyRef("1.2.3", "20240105", 12)]


def test_since_filter_and_what_to_fetch(tmp_path):
    assert since_filter(None, 30) is None
    assert since_filter("2024-03-01", 30) == "20240131-"
    key = b"k" * 32
    state = empty_state()
    a, b = StudyRef("1.1", "20240101", 10), StudyRef("1.2", "20240102", 5)
    assert to_fetch([a, b], state, key) == [a, b]
    record(state, key, a, 10, "pull-x")
    assert to_fetch([a, b], state, key) == [b]
    assert to_fetch([dataclasses.replace(a, instances=11), b], state, key)[0].uid == "1.1"
    path = tmp_path / "var" / "pacs" / "pull_state.json"
    save_state(path, state)
    assert load_state(path) == state
    assert "1.1" not in path.read_text()  # keyed hashes only
    path.write_text("{not json")
    with pytest.raises(ValueError, match="pull_state.json"):
        load_state(path)


def _pull_settings(settings, orthanc, patient_ids):
    settings.secrets_dir.mkdir(parents=True, exist_ok=True)
    (settings.secrets_dir / "pacs_patients.txt").write_text("\n".join(patient_ids) + "\n")
    return settings.replace(dicomweb_url=orthanc.dicomweb_url)


def _study_files(drop):
    """Study date -> the simulated export's DICOM files of that date."""
    out: dict[str, list] = {}
    for f in dicom_files(drop):
        try:
            ds = pydicom.dcmread(f, stop_before_pixels=True)
        except pydicom.errors.InvalidDicomError:
            continue
        out.setdefault(str(ds.StudyDate), []).append(f)
    return out


def test_pull_flow_fetches_new_studies_once(cohort, orthanc, settings, prefect_harness):
    from flows.pull import pull_flow

    by_date = _study_files(cohort / "drop")
    assert len(by_date) == 2  # baseline and follow-up
    first, second = sorted(by_date)
    pid = str(pydicom.dcmread(by_date[first][0]).PatientID)
    s = _pull_settings(settings, orthanc, [pid, "NOT-IN-PACS"])
    orthanc.upload(by_date[first])
    summary = pull_flow(settings=s)
    n_first = len(by_date[first])
    assert summary["status"] == "ok" and summary["instances"] == n_first
    assert summary["studies_pulled"] == summary["studies_found"] >= 1
    pulled = {hashlib.sha256(p.read_bytes()).hexdigest()
              for p in (s.drop_dir / "pacs").rglob("*.dcm")}
    assert pulled == {hashlib.sha256(f.read_bytes()).hexdigest() for f in by_date[first]}
    assert not any((s.drop_dir / ".incoming").rglob("*.dcm"))
    state_text = (s.var_dir / "pacs" / "pull_state.json").read_text()
    assert pid not in state_text and json.loads(state_text)["last_pull"]

    again = pull_flow(settings=s)  # nothing new
    assert again["studies_pulled"] == 0 and again["instances"] == 0

    orthanc.upload(by_date[second])  # the follow-up arrives in the PACS
    # its StudyDate is a year after the baseline but before "today": widen the look-back
    later = pull_flow(settings=s.replace(dicomweb_lookback_days=100000))
    assert later["instances"] == len(by_date[second])
    assert len(list((s.drop_dir / "pacs").rglob("*.dcm"))) == n_first + len(by_date[second])
    study_uid = str(pydicom.dcmread(by_date[first][0]).StudyInstanceUID)
    recorded = _prefect_records()
    assert "pacs-retrieve-0" in recorded  # the records were read
    assert pid not in recorded and study_uid not in recorded


def _prefect_records() -> str:
    """Every flow run, task run, log and artifact in the Prefect API, as one JSON text."""
    import asyncio

    from prefect.client.orchestration import get_client

    async def read() -> str:
        async with get_client() as client:
            parts = [await client.read_flow_runs(), await client.read_task_runs(),
                     await client.read_logs(), await client.read_artifacts()]
        return json.dumps([[r.model_dump(mode="json") for r in p] for p in parts])

    return asyncio.run(read())


def test_pull_command_refuses_without_cohort(tmp_path):
    import os
    import subprocess

    from bench.support.pacs_helpers import BIN

    (tmp_path / "h").mkdir()  # an existing home (a missing one is refused before this)
    env = {**os.environ, "CALCISVD_HOME": str(tmp_path / "h"),
           "CALCISVD_DICOMWEB_URL": "http://127.0.0.1:9/dicom-web"}
    proc = subprocess.run([str(BIN / "calcisvd"), "pull"], env=env, capture_output=True,
                          text=True, timeout=120, check=False)
    assert proc.returncode == 2 and "no cohort to pull" in proc.stderr


def test_failures_name_no_identifier(orthanc, settings):
    from tasks.pacs.config import dicomweb_config
    from tasks.pacs.dicomweb import PacsError, StudyRef, make_client, query, retrieve

    pid, uid = "HOSP-SECRET-77", "1.2.826.0.1.999.42"
    s = _pull_settings(settings, orthanc, [pid])
    bad = dicomweb_config(s.replace(dicomweb_url=orthanc.url + "/no-such-root"))
    with pytest.raises(PacsError) as exc:
        query(make_client(bad), bad, "20240101-")
    assert "HTTP 404" in str(exc.value) and pid not in str(exc.value)
    assert exc.value.__cause__ is None and exc.value.__suppress_context__
    with pytest.raises(PacsError) as exc:
        retrieve(make_client(bad), s.drop_dir, StudyRef(uid, "", 1))
    assert uid not in str(exc.value)
    assert not list(s.drop_dir.rglob("*.dcm"))  # nothing published, nothing left behind
