"""Issue 23 item 2: a covariate failing its expectation is held back, the batch still loads."""

from __future__ import annotations

import csv

from tests.robustness.helpers import make_settings
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
