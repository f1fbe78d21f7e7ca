"""Ratings and QC status in a real warehouse: load (real GX), `calcisvd qc rate` through the
CLI, the views that decide, and the real analyze flow leaving the excluded sessions out."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.warehouse.conftest import edit_measures, make_fake_study
from warehouse import db, ratings
from warehouse.load import load_derivatives

QC = {"brain_volume_ml": 1450.0, "mask_vertex_offset_mm": 8.0, "mask_lateral_offset_mm": 1.5,
      "registration_scale": 1.02, "mask_fov_fraction": 1.0, "registration_nmi": 1.08,
      "mask_foreground_fraction": 0.85, "nawm_median": 410.0, "nawm_sd": 22.0,
      "nawm_cov": 0.054, "wmh_contrast_sd": 4.1, "slice_thickness_mm": 2.0, "inplane_mm": 2.0}


@pytest.fixture
def qc_study(wh_settings):
    """12 subjects x 2 sessions loaded; every MRI has svd.qc; one baseline MRI in review."""
    subjects = make_fake_study(wh_settings.bids_dir, wh_settings.derivatives_dir, 12, seed=3)

    def add_qc(doc, review=False):
        doc["svd"]["qc"] = dict(QC)
        if review:
            doc["svd"]["qc"]["mask_vertex_offset_mm"] = 61.0
            doc["svd"]["status"] = "review"
            doc["svd"]["reason"] = "brain mask 61 mm below the top of the head"

    for sub in subjects:
        for ses in ("M00", "M12"):
            edit_measures(wh_settings.derivatives_dir, sub, ses,
                          lambda d, s=sub, e=ses: add_qc(d, review=(s, e) == (subjects[0],
                                                                             "M00")))
    summary = load_derivatives(wh_settings, build_docs=False, export=False)
    assert summary.ok, summary.failure_details
    return wh_settings, subjects


def _cli(settings, *argv):
    from calcisvd.cli import main

    return main(["qc", *argv, "--home", str(settings.home)])


def test_qc_metrics_status_and_reason_reach_the_warehouse(qc_study):
    settings, subjects = qc_study
    con = db.connect(settings.warehouse_path, read_only=True)
    try:
        row = con.execute("SELECT status, reason, qc_brain_volume_ml, qc_mask_vertex_offset_mm, "
                          "qc_registration_nmi FROM svd_measures WHERE subject = ? AND "
                          "session = 'M00'", [subjects[0]]).fetchone()
        decisions = dict(con.execute("SELECT qc_decision, count(*) FROM v_session_qc "
                                     "GROUP BY ALL").fetchall())
    finally:
        con.close()
    assert row == ("review", "brain mask 61 mm below the top of the head", 1450.0, 61.0, 1.08)
    assert decisions == {"review": 1, "ok": 23}


def test_review_without_reason_fails_validation(wh_settings):
    """A review with no reason gates the batch (not a one-row range rule)."""
    subjects = make_fake_study(wh_settings.bids_dir, wh_settings.derivatives_dir, 3, seed=4)

    def bad(doc):
        doc["svd"]["status"] = "review"
        doc["svd"]["reason"] = None

    edit_measures(wh_settings.derivatives_dir, subjects[1], "M12", bad)
    summary = load_derivatives(wh_settings, build_docs=False, export=False)
    assert not summary.ok
    assert "reason" in " ".join(summary.failed_expectations)


def test_impossible_qc_value_holds_back_that_session_only(wh_settings):
    """A QC metric outside its physical range holds back its row; the rest of the batch loads."""
    subjects = make_fake_study(wh_settings.bids_dir, wh_settings.derivatives_dir, 3, seed=4)

    def bad(doc):
        doc["svd"]["qc"] = {**QC, "mask_fov_fraction": 1.7}

    edit_measures(wh_settings.derivatives_dir, subjects[1], "M12", bad)
    summary = load_derivatives(wh_settings, build_docs=False, export=False)
    assert summary.ok, summary.failed_expectations
    held = " ".join(summary.held_back)
    assert "svd_measures" in held and subjects[1] in held and "qc_mask_fov_fraction" in held


def test_rate_through_the_cli_keeps_history_and_latest_wins(qc_study, capsys):
    settings, subjects = qc_study
    target = f"sub-{subjects[1]}_ses-M12"
    assert _cli(settings, "rate", target, "--rating", "fail", "--reason", "motion") == 0
    assert _cli(settings, "rate", target, "--rating", "pass", "--rater", "dr-b") == 0
    assert "pass by dr-b" in capsys.readouterr().out
    assert _cli(settings, "rate", "sub-nobody_ses-M00", "--rating", "fail") == 2
    assert "not in the warehouse" in capsys.readouterr().out
    with pytest.raises(SystemExit):  # argparse refuses an unknown verdict
        _cli(settings, "rate", target, "--rating", "maybe")
    capsys.readouterr()
    assert _cli(settings, "history", target, "--json") == 0
    hist = json.loads(capsys.readouterr().out)
    assert [h["rating"] for h in hist] == ["fail", "pass"]
    assert hist[0]["reason"] == "motion" and hist[1]["rater"] == "dr-b"
    assert hist[0]["rater"] and hist[0]["source"] == "cli"
    con = db.connect(settings.warehouse_path, read_only=True)
    try:
        latest = con.execute("SELECT rating, rater FROM v_qc_latest_rating WHERE subject = ? "
                             "AND session = 'M12'", [subjects[1]]).fetchone()
        n = con.execute("SELECT count(*) FROM qc_ratings").fetchone()[0]
    finally:
        con.close()
    assert latest == ("pass", "dr-b") and n == 2


def test_latest_is_by_time_then_insertion(qc_study):
    settings, subjects = qc_study
    con = db.connect(settings.warehouse_path)
    try:
        t = datetime(2026, 12, 1, tzinfo=UTC)
        ratings.add_rating(con, subjects[2], "M00", "fail", "late", "a", now=t)
        ratings.add_rating(con, subjects[2], "M00", "pass", "early", "b",
                           now=t - timedelta(hours=1))
        ratings.add_rating(con, subjects[3], "M00", "review", None, "a", now=t)
        ratings.add_rating(con, subjects[3], "M00", "pass", None, "a", now=t)
        rows = dict(con.execute("SELECT subject, rating FROM v_qc_latest_rating").fetchall())
        with pytest.raises(ratings.RatingError, match="rater"):
            ratings.add_rating(con, subjects[2], "M00", "pass", None, " ")
    finally:
        con.close()
    assert rows == {subjects[2]: "fail", subjects[3]: "pass"}


def test_analyze_leaves_out_failed_and_review_sessions(prefect_harness, qc_study):
    """The real analyze flow on the loaded warehouse: a fail rating and a method review
    drop two baseline sessions; --include-review brings the review one back; a pass rating
    on the review session accepts it."""
    import pandas as pd

    from flows.analyze import analyze_flow

    settings, subjects = qc_study
    fast = {"n_boot": 20, "n_perm": 0, "seed": 1}
    assert _cli(settings, "rate", f"sub-{subjects[1]}_ses-M00", "--rating", "fail",
                "--reason", "brain mask in the neck") == 0
    out = analyze_flow(settings, **fast)
    assert out["n_subjects"] == 10
    note = next(n for n in out["notes"] if n.startswith("quality control"))
    assert "2 session(s) excluded" in note and "1 rated fail" in note and "1 in review" in note
    excl = pd.read_csv(out["csv"]["qc_exclusions"])
    assert set(excl["subject"]) == {subjects[0], subjects[1]}
    assert "brain mask in the neck" in excl.set_index("subject").loc[subjects[1], "why"]
    assert "61 mm" in excl.set_index("subject").loc[subjects[0], "why"]
    html = Path(out["html"]).read_text(encoding="utf-8")
    assert "2 session(s) excluded" in html

    kept = analyze_flow(settings, include_review=True, **fast)
    assert kept["n_subjects"] == 11 and not kept.get("skipped")
    assert _cli(settings, "rate", f"sub-{subjects[0]}_ses-M00", "--rating", "pass") == 0
    again = analyze_flow(settings, **fast)  # the rating changed what the report reads
    assert not again.get("skipped") and again["n_subjects"] == 11
