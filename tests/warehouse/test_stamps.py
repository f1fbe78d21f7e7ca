"""Rerun skips: the load, the validation and the analysis do nothing when what they read is
unchanged, and run again when a file, a session or a quarantine entry changes."""

from __future__ import annotations

import json

from tests.warehouse.conftest import edit_measures, make_fake_study
from warehouse import db
from warehouse.load import load_derivatives
from warehouse.stamps import load_inputs_fingerprint
from warehouse.validate import validate_curated


def _load_runs(settings) -> int:
    con = db.connect(settings.warehouse_path, read_only=True)
    try:
        return con.execute("SELECT count(*) FROM pipeline_runs WHERE kind = 'load'").fetchone()[0]
    finally:
        con.close()


def test_fingerprint_follows_every_input(study):
    settings, subjects = study
    first = load_inputs_fingerprint(settings)
    assert load_inputs_fingerprint(settings) == first
    edit_measures(settings.derivatives_dir, subjects[0], "M12",
                  lambda d: d["svd"].update(wmh_volume_cm3=1.5))
    second = load_inputs_fingerprint(settings)
    assert second != first
    reason = settings.quarantine_dir / "q1" / "reason.json"
    reason.parent.mkdir(parents=True)
    reason.write_text(json.dumps({"reason": "truncated DICOM"}))
    third = load_inputs_fingerprint(settings)
    assert third != second
    # copies of quarantined files and other derivative files are not load inputs
    (reason.parent / "files").mkdir()
    (reason.parent / "files" / "x.json").write_text("{}")
    (settings.derivatives_dir / "index.html").write_text("<html></html>")
    assert load_inputs_fingerprint(settings) == third


def test_load_skips_unchanged_inputs_and_keeps_a_validation_failure(study):
    settings, subjects = study
    assert load_derivatives(settings, build_docs=False, skip_unchanged=True).status == "success"
    again = load_derivatives(settings, build_docs=False, skip_unchanged=True)
    assert again.status == "unchanged" and again.ok
    assert _load_runs(settings) == 1
    # without the flag (calcisvd load --force, tests) the load runs
    assert load_derivatives(settings, build_docs=False).status == "success"
    assert _load_runs(settings) == 2
    # one new follow-up session: loaded
    make_fake_study(settings.bids_dir, settings.derivatives_dir, 7, seed=1)
    new = load_derivatives(settings, build_docs=False, skip_unchanged=True)
    assert new.status == "success" and new.written["sessions"] >= 1
    # a batch that fails validation fails again without work until an input changes
    edit_measures(settings.derivatives_dir, subjects[0], "M00",
                  lambda d: d["svd"].update(status=None))  # gates (not held)
    bad = load_derivatives(settings, build_docs=False, skip_unchanged=True)
    assert bad.status == "failed"
    runs = _load_runs(settings)
    same = load_derivatives(settings, build_docs=False, skip_unchanged=True)
    assert same.status == "failed" and not same.ok and _load_runs(settings) == runs
    assert "validation failed" in same.failed_expectations[0]
    edit_measures(settings.derivatives_dir, subjects[0], "M00",
                  lambda d: d["svd"].update(status="ok"))
    assert load_derivatives(settings, build_docs=False, skip_unchanged=True).ok
    assert _load_runs(settings) == runs + 1


def test_validation_reuses_its_report_while_tables_are_unchanged(study):
    settings, subjects = study
    assert load_derivatives(settings, build_docs=False).ok
    first = validate_curated(settings, build_docs=False, skip_unchanged=True)
    assert not first.skipped and first.report.success
    second = validate_curated(settings, build_docs=False, skip_unchanged=True)
    assert second.skipped and second.run_id == first.run_id
    assert len(second.report.outcomes) == len(first.report.outcomes)
    edit_measures(settings.derivatives_dir, subjects[1], "M12",
                  lambda d: d["svd"].update(wmh_volume_cm3=2.5))
    assert load_derivatives(settings, build_docs=False).ok
    third = validate_curated(settings, build_docs=False, skip_unchanged=True)
    assert not third.skipped and third.run_id != first.run_id
