"""Anomaly injection: each class of bad data stops the batch before the curated tables, or,
for a row breaking a row rule (issue 23 item 2), is held back while the rest loads."""

from __future__ import annotations

import shutil

import pytest

from calcisvd.settings import load_settings
from tests.warehouse.conftest import edit_measures, make_fake_study
from warehouse import db
from warehouse.load import curated_fingerprint, load_derivatives


@pytest.fixture(scope="module")
def base_home(tmp_path_factory, shared_gx_dir):
    """A home with a fake study (6 subjects x 2 visits) already loaded once."""
    home = tmp_path_factory.mktemp("anomaly-base") / "home"
    settings = load_settings(env={}, overrides={"home": home, "gx_dir": shared_gx_dir})
    subjects = make_fake_study(settings.bids_dir, settings.derivatives_dir, 6, seed=3)
    assert load_derivatives(settings, build_docs=False, export=False).ok
    return home, subjects


def _sessions_tsv(settings, subject):
    return settings.bids_dir / f"sub-{subject}" / f"sub-{subject}_sessions.tsv"


def out_of_range(settings, subjects):
    edit_measures(settings.derivatives_dir, subjects[0], "M12",
                  lambda d: d["svd"].update(wmh_volume_cm3=450.0))


def null_key(settings, subjects):
    edit_measures(settings.derivatives_dir, subjects[1], "M00",
                  lambda d: d.update(session=None))


def duplicate_key(settings, subjects):
    edit_measures(settings.derivatives_dir, subjects[2], "M00",
                  lambda d: d["icac"]["arteries"].append(dict(d["icac"]["arteries"][0])))


def orphan_session(settings, subjects):
    # a session (images + measures) of a subject that participants.tsv does not know
    make_fake_study(settings.bids_dir / "tmp", settings.derivatives_dir, 1, seed=99,
                    follow_up=False)
    extra = settings.bids_dir / "tmp"
    for p in extra.iterdir():
        if p.name.startswith("sub-"):
            shutil.move(str(p), settings.bids_dir / p.name)
    shutil.rmtree(extra)


def followup_before_baseline(settings, subjects):
    path = _sessions_tsv(settings, subjects[3])
    path.write_text("session_id\tdays_since_baseline\nses-M00\t0\nses-M12\t-30\n")


def all_zero_batch(settings, subjects):
    def zero(doc):
        for block in ("icac", "svd"):
            for k, v in doc[block].items():
                if isinstance(v, int | float) and not isinstance(v, bool):
                    doc[block][k] = 0
        for art in doc["icac"]["arteries"]:
            for k, v in art.items():
                if isinstance(v, int | float) and not isinstance(v, bool):
                    art[k] = 0
    for sub in subjects:
        for ses in ("M00", "M12"):
            edit_measures(settings.derivatives_dir, sub, ses, zero)


WRONG_CHANGE = ("f.wmh_volume_cm3 - b.wmh_volume_cm3 AS wmh_volume_cm3_change",
                "b.wmh_volume_cm3 - f.wmh_volume_cm3 AS wmh_volume_cm3_change")


def wrong_change_arithmetic(settings, subjects):
    # a defective change computation (e.g. a bad view migration) in the staged change view
    # together with a batch that changes a follow-up value
    text = (db.VIEWS_DIR / "020_analyst_views.sql").read_text()
    assert WRONG_CHANGE[0] in text
    con = db.connect(settings.warehouse_path)
    con.execute("USE merged")
    db.run_script(con, text.replace(*WRONG_CHANGE))
    con.close()
    edit_measures(settings.derivatives_dir, subjects[4], "M12",
                  lambda d: d["svd"].update(wmh_volume_cm3=d["svd"]["wmh_volume_cm3"] + 2))


ANOMALIES = {
    "null_key": (null_key, "svd_measures.expect_column_values_to_not_be_null(session)"),
    "duplicate_key": (duplicate_key, "icac_artery_measures.expect_compound_columns_to_be_"
                                     "unique(subject,session,artery,side)"),
    "orphan_session": (orphan_session,
                       "session_integrity.expect_column_values_to_be_in_set(subject_exists)"),
    "wrong_change_arithmetic": (
        wrong_change_arithmetic,
        "change_arithmetic.expect_column_values_to_be_between(residual)"),
    "all_zero_batch": (all_zero_batch,
                       "batch_profile.expect_column_values_to_be_in_set(all_zero)"),
}


@pytest.mark.parametrize("kind", sorted(ANOMALIES))
def test_anomaly_is_caught_and_nothing_reaches_curated(kind, base_home, tmp_path,
                                                        shared_gx_dir):
    base, subjects = base_home
    home = tmp_path / "home"
    shutil.copytree(base, home)
    settings = load_settings(env={}, overrides={"home": home, "gx_dir": shared_gx_dir})
    con = db.connect(settings.warehouse_path, read_only=True)
    before = curated_fingerprint(con)
    con.close()

    inject, expected = ANOMALIES[kind]
    inject(settings, subjects)
    summary = load_derivatives(settings, build_docs=False, export=False)

    assert summary.status == "failed"
    assert expected in summary.failed_expectations, summary.failed_expectations
    con = db.connect(settings.warehouse_path, read_only=True)
    assert curated_fingerprint(con) == before
    run = con.execute("SELECT status, message FROM pipeline_runs WHERE run_id = $r",
                      {"r": summary.run_id}).fetchone()
    assert run[0] == "failed" and expected in run[1]
    failed = {f"{s}.{e}({c})" if c else f"{s}.{e}" for s, e, c in con.execute(
        "SELECT suite, expectation, column_name FROM validation_results "
        "WHERE run_id = $r AND NOT success", {"r": summary.run_id}).fetchall()}
    assert expected in failed
    # the bad batch stays in staging for inspection
    assert con.execute("SELECT count(DISTINCT run_id) FROM staging.svd_measures").fetchall() == [
        (1,)]
    assert con.execute("SELECT run_id FROM staging.svd_measures LIMIT 1").fetchone()[0] == (
        summary.run_id)
    con.close()


#: row-rule failures: held back (warehouse.holdback), the rest of the batch loads
HELD_BACK = {
    "out_of_range": (out_of_range, 0, "svd_measures {}/M12: wmh_volume_cm3 outside 0..300"),
    "followup_before_baseline": (followup_before_baseline, 3,
                                 "sessions {}/M12: days_since_baseline outside 0..36500"),
}


@pytest.mark.parametrize("kind", sorted(HELD_BACK))
def test_row_rule_failure_is_held_back_and_curated_keeps_the_last_good_row(
        kind, base_home, tmp_path, shared_gx_dir):
    base, subjects = base_home
    home = tmp_path / "home"
    shutil.copytree(base, home)
    settings = load_settings(env={}, overrides={"home": home, "gx_dir": shared_gx_dir})
    con = db.connect(settings.warehouse_path, read_only=True)
    before = curated_fingerprint(con)
    con.close()

    inject, which, expected = HELD_BACK[kind]
    inject(settings, subjects)
    summary = load_derivatives(settings, build_docs=False, export=False)

    assert summary.ok, summary.failed_expectations
    assert any(h.startswith(expected.format(subjects[which])) for h in summary.held_back), (
        summary.held_back)
    con = db.connect(settings.warehouse_path, read_only=True)
    assert curated_fingerprint(con) == before  # only the held row changed: nothing promoted
    con.close()


def test_every_anomaly_class_is_covered():
    assert set(ANOMALIES) | set(HELD_BACK) == {
        "out_of_range", "null_key", "duplicate_key", "orphan_session",
        "followup_before_baseline", "wrong_change_arithmetic", "all_zero_batch"}


def test_first_batch_with_anomaly_leaves_warehouse_empty(wh_settings):
    settings = wh_settings
    subjects = make_fake_study(settings.bids_dir, settings.derivatives_dir, 5, seed=4)
    null_key(settings, subjects)
    summary = load_derivatives(settings, build_docs=False, export=False)
    assert not summary.ok
    con = db.connect(settings.warehouse_path, read_only=True)
    for table in ("subjects", "sessions", "scans", "svd_measures", "icac_artery_measures"):
        assert con.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 0
    assert con.execute("SELECT count(*) FROM staging.svd_measures").fetchone()[0] == 10
    con.close()
    assert not (settings.parquet_dir / "current").exists()


