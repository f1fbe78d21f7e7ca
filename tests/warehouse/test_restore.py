"""Issue 23 item 4: a truncated warehouse is named damaged and restored from the snapshot."""

from __future__ import annotations

import os

import pytest

from bench.support.cli import make_settings, run_cli, warehouse_hash
from tests.warehouse.conftest import make_fake_study


def test_a_truncated_warehouse_is_detected_and_restored(tmp_path):
    from warehouse import db
    from warehouse.load import load_derivatives

    settings = make_settings(tmp_path / "home")
    make_fake_study(settings.bids_dir, settings.derivatives_dir, 4, seed=3)
    assert load_derivatives(settings, build_docs=False).ok
    reference = warehouse_hash(settings)
    path = settings.warehouse_path
    size = path.stat().st_size
    os.truncate(path, size // 3)

    proc = run_cli(settings.home, "load", "--no-flow")
    assert proc.returncode == 1
    assert "damaged" in proc.stderr and "calcisvd warehouse restore" in proc.stderr
    assert "locked" not in (proc.stdout + proc.stderr).lower()
    assert "Traceback" not in proc.stderr
    check = run_cli(settings.home, "warehouse", "check")
    assert check.returncode == 1 and "damaged" in check.stderr
    # analysts are answered from the snapshot meanwhile
    sql = run_cli(settings.home, "sql", "SELECT count(*) AS n FROM subjects", "--format", "csv")
    assert sql.returncode == 0 and sql.stdout.split()[-1] == "4", sql.stderr

    proc = run_cli(settings.home, "warehouse", "restore")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert warehouse_hash(settings) == reference
    aside = list(path.parent.glob(f"{path.name}.damaged-*"))
    assert len(aside) == 1 and aside[0].stat().st_size == size // 3  # kept for inspection
    con = db.connect(path, read_only=True)
    try:
        assert db.deep_check(con) is None
        runs = con.execute("SELECT count(*) FROM pipeline_runs").fetchone()[0]
    finally:
        con.close()
    assert runs >= 2  # the snapshot's run history plus the restoring load
    healthy = run_cli(settings.home, "warehouse", "restore")
    assert healthy.returncode == 0 and "healthy" in healthy.stdout


def test_restore_without_a_snapshot_rebuilds_from_the_derivatives(tmp_path):
    from warehouse.load import load_derivatives
    from warehouse.restore import restore_warehouse

    settings = make_settings(tmp_path / "home")
    make_fake_study(settings.bids_dir, settings.derivatives_dir, 3, seed=4)
    assert load_derivatives(settings, build_docs=False, export=False).ok
    reference = warehouse_hash(settings)
    settings.warehouse_path.write_bytes(b"\0" * 100)
    summary = restore_warehouse(settings)
    assert summary["restored"] and summary["snapshot"] is None and "lost" in summary["note"]
    assert warehouse_hash(settings) == reference


def test_healthy_file_with_free_blocks_is_not_called_damaged(tmp_path):
    """A file whose trailing blocks were freed (DuckDB trims them) is healthy; the same file
    cut to a third is not (regression: total_blocks counted the freed ones)."""
    import duckdb

    from warehouse.db import WarehouseDamagedError, connect, integrity_problem

    path = tmp_path / "w.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE a AS SELECT range AS x, random() AS y FROM range(3000000)")
    con.execute("CHECKPOINT")
    con.execute("CREATE TABLE b AS SELECT range AS x FROM range(10)")
    con.execute("DROP TABLE a")
    con.execute("CHECKPOINT")
    row = con.execute("PRAGMA database_size").fetchone()
    assert int(row[5]) > 0, row  # free blocks exist
    assert integrity_problem(con, path) is None
    con.close()
    big = tmp_path / "big.duckdb"
    con = duckdb.connect(str(big))
    con.execute("CREATE TABLE a AS SELECT range AS x, random() AS y FROM range(3000000)")
    con.execute("CHECKPOINT")
    con.close()
    data = big.read_bytes()
    big.write_bytes(data[: len(data) // 3])
    with pytest.raises(WarehouseDamagedError):
        connect(big, read_only=True)


def test_a_restore_killed_midway_leaves_the_damaged_file_and_the_rerun_converges(tmp_path):
    """What a SIGKILL during restore leaves (a half-built ``.restoring`` file beside the
    damaged one, which is still in place) is restored by the next run, with no leftovers
    (bench/robustness.py kills real restores; this pins the state they leave)."""
    import duckdb

    from warehouse.restore import restore_warehouse

    settings = make_settings(tmp_path / "home")
    make_fake_study(settings.bids_dir, settings.derivatives_dir, 3, seed=6)
    proc = run_cli(settings.home, "load", "--no-flow")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    reference = warehouse_hash(settings)
    path = settings.warehouse_path
    os.truncate(path, path.stat().st_size // 3)
    damaged = path.read_bytes()
    half = path.with_name(f"{path.name}.restoring")
    con = duckdb.connect(str(half))  # a half-built file: schema-less, one stray table
    con.execute("CREATE TABLE subjects AS SELECT 'stray' AS subject")
    con.close()

    summary = restore_warehouse(settings)
    assert summary["restored"] and summary["status"] == "restored", summary
    assert warehouse_hash(settings) == reference
    assert not list(path.parent.glob("*.restoring*"))
    aside = list(path.parent.glob(f"{path.name}.damaged-*"))
    assert len(aside) == 1 and aside[0].read_bytes() == damaged
