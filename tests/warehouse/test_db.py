"""Migrations and SQL scripts."""

from __future__ import annotations

from warehouse import db


def test_migrate_creates_schema_once(tmp_path):
    con = db.connect(tmp_path / "w.duckdb")
    tables = {r[0] for r in con.execute(
        "SELECT table_schema || '.' || table_name FROM information_schema.tables").fetchall()}
    for name in ("main.subjects", "main.sessions", "main.scans", "main.icac_artery_measures",
                 "main.icac_session_measures", "main.svd_measures", "main.pipeline_runs",
                 "main.ingest_quarantine", "main.ingest_log", "main.validation_results",
                 "main.svd_measures_history", "staging.svd_measures", "merged.svd_measures",
                 "main.v_baseline_cohort", "main.v_one_year_change", "main.v_session_measures",
                 "main.v_icac_by_artery", "main.v_subject_summary",
                 "merged.v_one_year_change_live", "main.mat_one_year_change"):
        assert name in tables, name
    assert db.migrate(con) == []
    versions = [r[0] for r in con.execute(
        "SELECT version FROM schema_migrations ORDER BY version").fetchall()]
    assert versions[0] == "001" and "R:020_analyst_views.sql" in versions
    # a changed view file (checksum) is applied again
    con.execute("UPDATE schema_migrations SET checksum = 'old' "
                "WHERE version = 'R:020_analyst_views.sql'")
    assert db.migrate(con) == ["020_analyst_views.sql"]
    con.close()


def test_split_statements_and_bound_script(tmp_path):
    sql = "-- c\nCREATE TABLE t (a VARCHAR);\nINSERT INTO t VALUES ($v);\nSELECT 1;\n"
    assert len(db.split_statements(sql)) == 3
    con = db.connect(tmp_path / "w.duckdb", migrate_schema=False)
    db.run_script(con, sql, {"v": "x'); DROP TABLE t; --", "unused": 1})
    assert con.execute("SELECT a FROM t").fetchall() == [("x'); DROP TABLE t; --",)]
    con.close()


def test_read_only_connect_fails_fast_when_locked(tmp_path):
    import subprocess
    import sys
    import time

    path = tmp_path / "w.duckdb"
    db.connect(path).close()
    holder = subprocess.Popen([sys.executable, "-c",
                               "import duckdb, time, sys; c = duckdb.connect(sys.argv[1]); "
                               "print('ok', flush=True); time.sleep(30)", str(path)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ok"
        t = time.monotonic()
        try:
            db.connect(path, read_only=True)
            raise AssertionError("expected WarehouseLockedError")
        except db.WarehouseLockedError:
            pass
        assert time.monotonic() - t < 2.0
    finally:
        holder.kill()
        holder.wait()
