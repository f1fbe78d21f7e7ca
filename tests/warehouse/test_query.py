"""`calcisvd sql`, bound parameters, the Parquet fallback and readers during a load."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time

import pyarrow.parquet as pq
import pytest

from calcisvd.cli import main
from tests.warehouse.conftest import make_fake_study
from warehouse import db
from warehouse.export import current_snapshot
from warehouse.load import load_derivatives
from warehouse.query import parse_params, run_query

INJECTION = "x'; DROP TABLE subjects; --"


@pytest.fixture(scope="module")
def loaded(tmp_path_factory, shared_gx_dir):
    """A loaded warehouse shared by the read-only tests of this module."""
    from calcisvd.settings import load_settings

    home = tmp_path_factory.mktemp("query") / "home"
    settings = load_settings(env={}, overrides={"home": home, "gx_dir": shared_gx_dir})
    subjects = make_fake_study(settings.bids_dir, settings.derivatives_dir, 6, seed=1)
    assert load_derivatives(settings, build_docs=False).ok
    return settings, subjects


@pytest.fixture
def fresh(study):
    """A loaded warehouse of its own (for tests that load again)."""
    settings, subjects = study
    assert load_derivatives(settings, build_docs=False).ok
    return settings, subjects


def _cli(settings, *argv):
    return main(["sql", "--home", str(settings.home), *argv])


def test_parse_params():
    assert parse_params(["s=ab", "a:int=65", "w:float=1.5", "b:bool=yes", "e="]) == {
        "s": "ab", "a": 65, "w": 1.5, "b": True, "e": ""}
    for bad in (["novalue"], ["1x=2"], ["a:date=1"]):
        with pytest.raises(ValueError):
            parse_params(bad)


def test_sql_binds_values_never_formats_them(loaded, capsys):
    settings, subjects = loaded
    assert _cli(settings, "SELECT count(*) AS n FROM subjects WHERE subject = $s",
                "--param", f"s={INJECTION}", "--format", "csv") == 0
    assert capsys.readouterr().out.splitlines() == ["n", "0"]
    assert _cli(settings, "SELECT subject, age FROM v_baseline_cohort WHERE subject = $s",
                "--param", f"s={subjects[0]}", "--format", "csv") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "subject,age" and lines[1].startswith(subjects[0])
    table, _ = run_query(settings, "SELECT count(*) AS n FROM subjects")
    assert table.to_pylist() == [{"n": 6}]


def test_sql_is_read_only_and_reports_errors(loaded, capsys):
    settings, _ = loaded
    assert _cli(settings, "DROP TABLE subjects") == 1
    assert "read-only" in capsys.readouterr().err.lower()
    assert _cli(settings, "SELECT * FROM subjects WHERE subject = $missing") == 2
    table, _ = run_query(settings, "SELECT count(*) AS n FROM subjects")
    assert table.to_pylist() == [{"n": 6}]


def test_sql_formats(loaded, tmp_path, capsys):
    settings, _ = loaded
    out = tmp_path / "ses.parquet"
    assert _cli(settings, "SELECT * FROM v_session_measures ORDER BY ALL",
                "--format", "parquet", "--output", str(out)) == 0
    assert pq.read_table(out).num_rows == 12
    assert _cli(settings, "SELECT subject, session FROM sessions ORDER BY ALL LIMIT 2") == 0
    text = capsys.readouterr().out
    assert "subject" in text and "(2 rows)" in text


def test_locked_warehouse_is_read_from_the_snapshot(loaded):
    settings, _ = loaded
    snap = current_snapshot(settings.parquet_dir)
    assert snap is not None and (snap / "svd_measures.parquet").is_file()
    writer = db.connect(settings.warehouse_path)  # holds the file like a running load
    try:
        table, source = run_query(settings, "SELECT count(*) AS n FROM v_one_year_change "
                                  "WHERE subject <> $s", {"s": INJECTION})
    finally:
        writer.close()
    assert source == "parquet" and table.to_pylist() == [{"n": 6}]
    _, source = run_query(settings, "SELECT 1")
    assert source == "duckdb"


READER = textwrap.dedent("""
    import json, pathlib, sys, time
    from calcisvd.settings import load_settings
    from warehouse.query import run_query
    settings = load_settings(env={}, overrides={"home": sys.argv[1]})
    stop = pathlib.Path(sys.argv[2])
    count = pathlib.Path(sys.argv[3])
    seen, errors, t_end = [], [], time.monotonic() + 120
    while time.monotonic() < t_end and not stop.exists():
        try:
            t, source = run_query(settings,
                "SELECT (SELECT count(*) FROM subjects) AS s, (SELECT count(*) FROM sessions)"
                " AS ses, (SELECT count(*) FROM svd_measures) AS svd,"
                " (SELECT count(*) FROM icac_artery_measures) AS art,"
                " (SELECT count(*) FROM v_one_year_change) AS chg")
            r = t.to_pylist()[0]
            seen.append([r["s"], r["ses"], r["svd"], r["art"], r["chg"], source])
        except Exception as exc:
            errors.append(repr(exc))
        if len(seen) + len(errors) == 1:
            print("ready", flush=True)  # one read done before the load starts
        count.write_text(str(len(seen) + len(errors)))
        time.sleep(0.01)
    print(json.dumps({"seen": seen, "errors": errors}))
""")


def test_reader_in_a_loop_during_a_load_sees_whole_batches(fresh, tmp_path):
    settings, _ = fresh
    make_fake_study(settings.bids_dir, settings.derivatives_dir, 9, seed=1)  # +3 subjects
    script = tmp_path / "reader.py"
    script.write_text(READER)
    stop, count = tmp_path / "stop", tmp_path / "count"
    reader = subprocess.Popen([sys.executable, str(script), str(settings.home), str(stop),
                               str(count)],
                              stdout=subprocess.PIPE, text=True, cwd=str(db.PACKAGE_DIR.parent))
    assert reader.stdout.readline().strip() == "ready"
    summary = load_derivatives(settings, build_docs=False)
    assert summary.ok, summary.failure_details
    # wait for two reads that started after the load returned (not a fixed sleep: a loaded
    # machine makes the reader slow)
    n, deadline = int(count.read_text() or 0), time.monotonic() + 60
    while int(count.read_text() or 0) < n + 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.touch()
    out, _ = reader.communicate(timeout=120)
    result = json.loads(out.strip().splitlines()[-1])
    assert result["errors"] == []
    states = {tuple(r[:5]) for r in result["seen"]}
    assert states <= {(6, 12, 12, 84, 6), (9, 18, 18, 126, 9)}, states
    assert (6, 12, 12, 84, 6) in states and (9, 18, 18, 126, 9) in states
    sources = {r[5] for r in result["seen"]}
    assert "parquet" in sources  # the load held the file: answered from the snapshot


def test_reader_thread_during_a_load_sees_whole_batches(fresh):
    import threading

    settings, _ = fresh
    make_fake_study(settings.bids_dir, settings.derivatives_dir, 9, seed=1)
    seen, errors, stop = [], [], threading.Event()
    sql = ("SELECT (SELECT count(*) FROM subjects) AS s, (SELECT count(*) FROM svd_measures) "
           "AS svd, (SELECT count(*) FROM v_one_year_change) AS chg")

    def read_loop() -> None:
        while not stop.is_set():
            try:
                t, _ = run_query(settings, sql)
                r = t.to_pylist()[0]
                seen.append((r["s"], r["svd"], r["chg"]))
            except Exception as exc:  # any error fails the test below
                errors.append(repr(exc))
            time.sleep(0.005)

    reader = threading.Thread(target=read_loop)
    reader.start()
    try:
        summary = load_derivatives(settings, build_docs=False)
    finally:
        # wait for two reads that started after the load returned (a loaded machine can
        # make the reader slow; a fixed sleep made this test flaky)
        n, deadline = len(seen), time.monotonic() + 60
        while len(seen) < n + 2 and time.monotonic() < deadline and reader.is_alive():
            time.sleep(0.05)
        stop.set()
        reader.join(60)
    assert summary.ok and errors == []
    assert set(seen) <= {(6, 12, 6), (9, 18, 9)} and (9, 18, 9) in set(seen)
