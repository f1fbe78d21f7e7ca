"""Loading derivatives: upserts, idempotent reloads, history, quarantine, views."""

from __future__ import annotations

import json

import pytest

from tests.warehouse.conftest import edit_measures, measures_path
from warehouse import db
from warehouse.load import curated_fingerprint, load_derivatives


def _ro(settings):
    return db.connect(settings.warehouse_path, read_only=True)


def test_load_then_reload_changes_nothing(study):
    settings, subjects = study
    first = load_derivatives(settings, build_docs=False)
    assert first.ok, first.failure_details
    assert first.staged == {"subjects": 6, "sessions": 12, "scans": 54,
                            "icac_artery_measures": 84, "icac_session_measures": 12,
                            "svd_measures": 12, "session_iqms": 12 * 9}
    assert first.written["icac_artery_measures"] == 84
    con = _ro(settings)
    before = curated_fingerprint(con)
    runs_before = con.execute("SELECT count(*) FROM pipeline_runs").fetchone()[0]
    con.close()

    second = load_derivatives(settings, build_docs=False)
    assert second.ok
    assert sum(second.written.values()) == 0 and sum(second.superseded.values()) == 0
    con = _ro(settings)
    assert curated_fingerprint(con) == before
    assert con.execute("SELECT count(*) FROM pipeline_runs").fetchone()[0] == runs_before + 1
    # every curated row still carries the first run's id
    assert con.execute("SELECT DISTINCT run_id FROM svd_measures").fetchall() == [
        (first.run_id,)]
    assert con.execute("SELECT count(*) FROM svd_measures_history").fetchone()[0] == 0
    # image-quality metrics (issue 20): long rows with units, a missing value stays NULL
    assert con.execute("SELECT unit, value FROM session_iqms WHERE modality = 'ct' AND "
                       "metric = 'csf_hu' LIMIT 1").fetchone() == ("HU", 8.0)
    assert con.execute("SELECT count(*) FROM session_iqms WHERE metric = 'fber' AND "
                       "value IS NULL").fetchone()[0] == 12
    con.close()


def test_views_match_the_measures_files(study):
    settings, subjects = study
    assert load_derivatives(settings, build_docs=False).ok
    sub = subjects[0]
    base = json.loads(measures_path(settings.derivatives_dir, sub, "M00").read_text())
    fu = json.loads(measures_path(settings.derivatives_dir, sub, "M12").read_text())
    con = _ro(settings)
    row = con.execute("SELECT wmh_volume_cm3_baseline, wmh_volume_cm3_followup, "
                      "wmh_volume_cm3_change, fazekas_total_change, severity_group, "
                      "days_between FROM v_one_year_change WHERE subject = $s",
                      {"s": sub}).fetchone()
    assert row[0] == pytest.approx(base["svd"]["wmh_volume_cm3"])
    assert row[1] == pytest.approx(fu["svd"]["wmh_volume_cm3"])
    assert row[2] == pytest.approx(fu["svd"]["wmh_volume_cm3"] - base["svd"]["wmh_volume_cm3"])
    assert row[3] == fu["svd"]["fazekas_total"] - base["svd"]["fazekas_total"]
    assert row[4] == base["icac"]["severity_group"]
    assert 300 < row[5] < 400
    assert con.execute("SELECT count(*) FROM v_baseline_cohort").fetchone()[0] == 6
    assert con.execute("SELECT count(*) FROM v_one_year_change").fetchone()[0] == 6
    assert con.execute("SELECT count(*) FROM v_session_measures").fetchone()[0] == 12
    assert con.execute("SELECT count(*) FROM v_icac_by_artery").fetchone()[0] == 84
    summary = con.execute("SELECT n_sessions, n_followups, n_scans, baseline_severity_group "
                          "FROM v_subject_summary WHERE subject = $s", {"s": sub}).fetchone()
    assert summary == (2, 1, 9, base["icac"]["severity_group"])
    ses = con.execute("SELECT visit, has_ct, has_t2starw, n_scans FROM sessions "
                      "WHERE subject = $s ORDER BY session", {"s": sub}).fetchall()
    assert ses == [("baseline", True, True, 5), ("followup", False, True, 4)]
    flair = con.execute("SELECT repetition_time, inversion_time, length(content_sha256) "
                        "FROM scans WHERE subject = $s AND modality = 'FLAIR' "
                        "AND session = 'M00'", {"s": sub}).fetchone()
    assert flair == (9.0, 2.5, 64)
    cohort = con.execute("SELECT sex, age, smoking FROM v_baseline_cohort WHERE subject = $s",
                         {"s": sub}).fetchone()
    assert cohort[0] in {"M", "F"} and 45 <= cohort[1] <= 80 and isinstance(cohort[2], bool)
    con.close()


def test_requantified_session_goes_to_history(study):
    settings, subjects = study
    first = load_derivatives(settings, build_docs=False)
    sub = subjects[1]
    old = json.loads(measures_path(settings.derivatives_dir, sub, "M12").read_text())

    def requantify(doc):
        doc["pipeline"]["version"] = "0.2.0"
        doc["pipeline"]["inputs_hash"] = "new"
        doc["svd"]["wmh_volume_cm3"] = round(doc["svd"]["wmh_volume_cm3"] + 1.0, 3)
        doc["icac"]["arteries"][0]["calcium_volume_mm3"] += 2.0

    edit_measures(settings.derivatives_dir, sub, "M12", requantify)
    second = load_derivatives(settings, build_docs=False)
    assert second.ok, second.failure_details
    assert second.written == {"subjects": 0, "sessions": 0, "scans": 0,
                              "icac_session_measures": 1, "icac_artery_measures": 1,
                              "svd_measures": 1, "session_iqms": 0}
    assert second.superseded["svd_measures"] == 1
    con = _ro(settings)
    hist = con.execute("SELECT wmh_volume_cm3, code_version, run_id, superseded_by_run_id "
                       "FROM svd_measures_history").fetchall()
    assert hist == [(old["svd"]["wmh_volume_cm3"], "0.1.0", first.run_id, second.run_id)]
    cur = con.execute("SELECT wmh_volume_cm3, code_version, run_id FROM svd_measures "
                      "WHERE subject = $s AND session = 'M12'", {"s": sub}).fetchone()
    assert cur == (pytest.approx(old["svd"]["wmh_volume_cm3"] + 1.0), "0.2.0", second.run_id)
    # untouched sessions keep the first run id
    assert con.execute("SELECT count(*) FROM svd_measures WHERE run_id = $r",
                       {"r": first.run_id}).fetchone()[0] == 11
    con.close()


def test_quarantine_and_problems_are_recorded(study):
    settings, subjects = study
    q = settings.quarantine_dir / "q-0123456789abcdef"
    (q / "files" / "x").mkdir(parents=True)
    (q / "reason.json").write_text(json.dumps({"reason": "no PatientID", "category": "dicom",
                                                "files": ["pacs/a.dcm"]}))
    (q / "files" / "x" / "copy.json").write_text("{}")  # a quarantined file, not a reason
    edit_measures(settings.derivatives_dir, subjects[2], "M00",
                  lambda d: d["svd"].update(pvs_count="many"))
    summary = load_derivatives(settings, build_docs=False)
    assert summary.ok
    assert any("pvs_count" in p and "many" in p for p in summary.problems)
    con = _ro(settings)
    from calcisvd.io import source_hash

    # a record without ingestion's public part: its paths leave as a hash, never as they are
    assert con.execute("SELECT path, reason, source FROM ingest_quarantine").fetchall() == [
        ("q-0123456789abcdef/reason.json", "no PatientID", source_hash(["pacs/a.dcm"]))]
    assert "pacs/a.dcm" not in con.execute("SELECT details FROM ingest_quarantine").fetchone()[0]
    assert con.execute("SELECT count(*) FROM ingest_log WHERE message LIKE '%pvs_count%'"
                       ).fetchone()[0] == 1
    assert con.execute("SELECT pvs_count FROM svd_measures WHERE subject = $s AND session = "
                       "'M00'", {"s": subjects[2]}).fetchone() == (None,)
    con.close()


def test_reading_in_worker_processes_gives_the_serial_batch(study, monkeypatch):
    """Above ``PARALLEL_READ_MIN_SUBJECTS`` the tree is read by ``n_procs`` processes in
    chunks; rows, problems and new hashes are those of the serial read, in the same order."""

    import warehouse.load as wl

    settings, _subjects = study
    con = db.connect(settings.warehouse_path)
    try:
        cache = wl.hash_cache(con)
        serial = wl.read_batch(settings.replace(n_procs=1), cache)
        monkeypatch.setattr(wl, "PARALLEL_READ_MIN_SUBJECTS", 2)
        parallel = wl.read_batch(settings.replace(n_procs=2), cache)
    finally:
        con.close()
    assert parallel.counts() == serial.counts() and serial.counts()["scans"] == 54
    assert parallel.rows == serial.rows
    assert parallel.problems == serial.problems
    assert parallel.hash_cache == serial.hash_cache and len(serial.hash_cache) == 54


def test_failed_parquet_export_is_a_partial_load_not_a_success(study):
    """The curated tables are written, the snapshot is not: the run is recorded ``partial``
    with the reason, the summary is not ok (non-zero exit), and the next load is not skipped
    as unchanged: it exports again."""
    from warehouse.load import LoadIncompleteError
    from warehouse.stamps import stage_is_current

    settings, _ = study
    blocker = settings.home / "not-a-folder"
    blocker.write_text("a file where the Parquet folder should be")
    broken = settings.replace(parquet_dir=blocker)
    summary = load_derivatives(broken, build_docs=False)
    assert summary.status == "partial" and not summary.ok
    assert summary.snapshot is None
    assert any("Parquet export" in d and str(blocker) in d for d in summary.failure_details)
    assert summary.written["svd_measures"] == 12  # the curated tables were written
    con = _ro(settings)
    status, message = con.execute("SELECT status, message FROM pipeline_runs "
                                  "WHERE run_id = $r", {"r": summary.run_id}).fetchone()
    con.close()
    assert status == "partial" and "Parquet export" in message
    assert not stage_is_current("load", broken)
    with pytest.raises(LoadIncompleteError, match="partial"):
        load_derivatives(broken, build_docs=False, raise_on_failure=True,
                         skip_unchanged=True)
    again = load_derivatives(settings, build_docs=False, skip_unchanged=True)
    assert again.status == "success" and again.snapshot is not None
    assert sum(again.written.values()) == 0
