"""The warehouse resource: short connections of three kinds, and the lock of whole loads."""

from __future__ import annotations

from pathlib import Path

import pytest

from calcisvd.io import LockBusy
from warehouse import db
from warehouse.resource import Warehouse


def test_write_migrates_and_read_sees_it_and_both_close(tmp_path: Path) -> None:
    wh = Warehouse(tmp_path / "w.duckdb")
    with wh.write() as con:
        con.execute("CREATE TABLE t AS SELECT 42 AS x")
    with wh.read() as con:
        assert con.execute("SELECT x FROM t").fetchone() == (42,)
        assert con.execute("SELECT count(*) FROM schema_migrations").fetchone()[0] > 0
        with pytest.raises(Exception, match="read-only"):
            con.execute("CREATE TABLE u (y INT)")
    with wh.write() as con:  # nothing left open: a writer gets the file at once
        con.execute("DROP TABLE t")


def test_read_shares_this_process_writer_instead_of_failing(tmp_path: Path) -> None:
    wh = Warehouse(tmp_path / "w.duckdb")
    with wh.write() as outer:
        outer.execute("CREATE TABLE t AS SELECT 1 AS x")
        with wh.read() as con:  # DuckDB refuses a read-only second configuration
            assert con.execute("SELECT x FROM t").fetchone() == (1,)


def test_reader_without_a_snapshot_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="snapshot"), Warehouse(tmp_path / "w.duckdb").reader():
        pass


def test_one_load_at_a_time(tmp_path: Path) -> None:
    wh = Warehouse(tmp_path / "var" / "w.duckdb")
    with wh.load_lock():
        assert wh.lock_path.is_file() and wh.lock_path.parent.name == ".locks"
        with pytest.raises(LockBusy), wh.load_lock(timeout_s=0):
            pass
    with wh.load_lock(timeout_s=0):  # released
        pass


def test_a_damaged_file_is_reported_not_opened(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    path.write_bytes(b"not a database" * 100)
    with pytest.raises(db.WarehouseDamagedError), Warehouse(path).read():
        pass
