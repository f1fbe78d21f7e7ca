"""Issue 23 item 2: a covariate failing its expectation is held back, the batch still loads."""

from __future__ import annotations

import csv

from bench.support.cli import make_settings
from tests.warehouse.conftest import make_fake_study


def _edit_participants(path, changes: dict[int, dict[str, str]]) -> list[str]:
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    for i, change in changes.items():
        rows[i].update(change)
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]), delimiter="\t", lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    return [r["participant_id"][4:] for r in rows]


def test_one_implausible_age_does_not_keep_the_batch_out(tmp_path):
    import duckdb

    from warehouse.load import load_derivatives

    settings = make_settings(tmp_path / "home")
    make_fake_study(settings.bids_dir, settings.derivatives_dir, 4, seed=3)
    subjects = _edit_participants(settings.bids_dir / "participants.tsv",
                                  {1: {"age": "250"}, 2: {"sex": "X"}})
    summary = load_derivatives(settings, build_docs=False)
    assert summary.ok, summary.failure_details
    assert len(summary.held_back) == 2
    held = sorted(summary.held_back)
    expected = sorted([f"subjects {subjects[1]}: age outside 18..100",
                       f"subjects {subjects[2]}: sex not one of"])
    assert all(h.startswith(e) for h, e in zip(held, expected, strict=True)), held
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        ages = dict(con.execute("SELECT subject, age FROM subjects").fetchall())
        n_sessions = con.execute("SELECT count(*) FROM sessions").fetchone()[0]
        logged = con.execute("SELECT path FROM ingest_log WHERE message LIKE '%held back%' "
                             "ORDER BY path").fetchall()
    finally:
        con.close()
    assert ages[subjects[1]] is None and ages[subjects[0]] is not None
    assert f"subjects:{subjects[1]}: subject lacks age" in "\n".join(summary.problems)
    assert f"subjects:{subjects[2]}: subject lacks sex" in "\n".join(summary.problems)
    assert n_sessions > 0  # the imaging rows of every subject were promoted
    assert [p for (p,) in logged] == sorted([f"subjects:{subjects[1]}",
                                             f"subjects:{subjects[2]}"])


def test_holdback_reads_the_bounds_from_the_suite():
    from warehouse.holdback import row_rules

    rules = {(r["type"], r["kwargs"]["column"]) for r in row_rules("subjects")}
    assert ("expect_column_values_to_be_between", "age") in rules
    assert ("expect_column_values_to_be_in_set", "sex") in rules


def test_status_names_the_held_back_rows(tmp_path):
    from calcisvd.status import collect_status, format_status
    from warehouse.load import load_derivatives

    settings = make_settings(tmp_path / "home")
    make_fake_study(settings.bids_dir, settings.derivatives_dir, 3, seed=5)
    subjects = _edit_participants(settings.bids_dir / "participants.tsv", {0: {"age": "-3"}})
    assert load_derivatives(settings, build_docs=False, export=False).ok
    text = format_status(collect_status(settings, with_prefect=False))
    assert "held back by the last load: 1 value(s)" in text
    assert f"subjects:{subjects[0]}: age outside 18..100" in text


def _set_days(bids_dir, subject: str, session: str, days: int) -> None:
    path = bids_dir / f"sub-{subject}" / f"sub-{subject}_sessions.tsv"
    lines = path.read_text().splitlines()
    path.write_text("\n".join(f"ses-{session}\t{days}" if ln.startswith(f"ses-{session}\t")
                              else ln for ln in lines) + "\n")


def _first_artery_agatston(value):
    def fn(doc):
        doc["icac"]["arteries"][0]["agatston"] = value
    return fn


def test_failing_session_and_measure_rows_are_held_back_the_rest_loads(wh_settings):
    """Issue 23 item 2 beyond covariates: a sessions, ICAC or SVD row breaking its rule is held
    back (with the rows depending on it); curated keeps the last passing version; the other
    rows, including new values, are promoted; status names every held row."""
    import duckdb

    from calcisvd.status import collect_status, format_status
    from tests.warehouse.conftest import edit_measures
    from warehouse.load import load_derivatives

    s = wh_settings
    subs = make_fake_study(s.bids_dir, s.derivatives_dir, 5, seed=11)
    assert load_derivatives(s, build_docs=False, export=False).ok

    def curated(sql):
        con = duckdb.connect(str(s.warehouse_path), read_only=True)
        try:
            return con.execute(sql).fetchall()
        finally:
            con.close()

    before_wmh = curated(f"SELECT wmh_volume_cm3 FROM svd_measures WHERE subject = '{subs[0]}' "
                         "AND session = 'M12'")
    edit_measures(s.derivatives_dir, subs[0], "M12",
                  lambda d: d["svd"].update(wmh_volume_cm3=999.0))  # max 300
    edit_measures(s.derivatives_dir, subs[1], "M00", _first_artery_agatston(-5.0))  # min 0
    _set_days(s.bids_dir, subs[2], "M12", 40000)  # max 36500
    _set_days(s.bids_dir, subs[3], "M00", -1)  # a baseline out of range: follow-up goes too
    edit_measures(s.derivatives_dir, subs[4], "M12", lambda d: d["svd"].update(pvs_count=42))

    summary = load_derivatives(s, build_docs=False, export=False)
    assert summary.ok, summary.failure_details
    held = "\n".join(summary.held_back)
    assert f"svd_measures {subs[0]}/M12: wmh_volume_cm3 outside 0..300" in held
    assert f"icac_artery_measures {subs[1]}/M00/" in held and "agatston outside 0..None" in held
    assert "row held back with 6 icac_artery_measures, 1 icac_session_measures row(s)" in held
    assert (f"sessions {subs[2]}/M12: days_since_baseline outside 0..36500 "
            "(expect_column_values_to_be_between): row held back with 7 icac_artery_measures, "
            "1 icac_session_measures, 4 scans, 9 session_iqms, 1 svd_measures row(s) of its "
            "session") in held
    assert (f"sessions {subs[3]}/M12: held back with the baseline session of {subs[3]}: row "
            "held back with 7 icac_artery_measures") in held
    assert "999" not in held and "40000" not in held  # reasons name the rule, never the value

    # the last passing versions stand, the new valid value of another subject is promoted
    assert curated(f"SELECT wmh_volume_cm3 FROM svd_measures WHERE subject = '{subs[0]}' "
                   "AND session = 'M12'") == before_wmh
    assert curated(f"SELECT min(agatston) FROM icac_artery_measures WHERE subject = "
                   f"'{subs[1]}'")[0][0] >= 0
    assert curated(f"SELECT days_since_baseline FROM sessions WHERE subject = '{subs[2]}' "
                   "AND session = 'M12'")[0][0] < 36500
    assert curated(f"SELECT pvs_count FROM svd_measures WHERE subject = '{subs[4]}' "
                   "AND session = 'M12'") == [(42,)]
    assert summary.written["svd_measures"] == 1

    text = format_status(collect_status(s, with_prefect=False))
    for where in (f"svd_measures:{subs[0]}/M12", f"sessions:{subs[2]}/M12",
                  f"sessions:{subs[3]}/M00", f"sessions:{subs[3]}/M12",
                  f"icac_artery_measures:{subs[1]}/M00/"):
        assert where in text, text


def test_a_held_back_row_never_loaded_before_stays_out(wh_settings):
    """On a first load, a failing svd row is simply absent; its session and the others load."""
    import duckdb

    from tests.warehouse.conftest import edit_measures
    from warehouse.load import load_derivatives

    s = wh_settings
    subs = make_fake_study(s.bids_dir, s.derivatives_dir, 3, seed=12)
    edit_measures(s.derivatives_dir, subs[1], "M00",
                  lambda d: d["svd"].update(microbleed_count=-2))
    summary = load_derivatives(s, build_docs=False, export=False)
    assert summary.ok, summary.failure_details
    assert summary.held_back == [f"svd_measures {subs[1]}/M00: microbleed_count outside "
                                 "0..None (expect_column_values_to_be_between): row held "
                                 "back, the rest of the batch loads"]
    con = duckdb.connect(str(s.warehouse_path), read_only=True)
    try:
        svd = set(con.execute("SELECT subject, session FROM svd_measures").fetchall())
        n_sessions = con.execute("SELECT count(*) FROM sessions").fetchone()[0]
    finally:
        con.close()
    assert (subs[1], "M00") not in svd and len(svd) == 5 and n_sessions == 6


def test_a_failing_measure_without_hold_back_rule_still_gates(wh_settings):
    """Rules that are not about one row's value (here: a null status) still gate the batch."""
    from tests.warehouse.conftest import edit_measures
    from warehouse.load import load_derivatives

    s = wh_settings
    subs = make_fake_study(s.bids_dir, s.derivatives_dir, 2, seed=13)
    edit_measures(s.derivatives_dir, subs[0], "M00", lambda d: d["svd"].update(status=None))
    summary = load_derivatives(s, build_docs=False, export=False)
    assert not summary.ok
    assert any("svd_measures" in f and "status" in f for f in summary.failed_expectations)


def test_every_dependent_table_has_key_columns():
    """A table held back as a dependent of a session needs its own key for the report."""
    from warehouse import holdback

    deps = {t for ts in holdback._DEPENDENTS.values() for t in ts}
    assert deps - set(holdback.ROW_HOLD_BACK) <= set(holdback._DEPENDENT_KEYS)
