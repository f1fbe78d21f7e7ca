"""The warehouse as a resource: the one place that opens connections to the DuckDB file.

A :class:`Warehouse` is built at the edge from :class:`warehouse.paths.WarehousePaths` and passed
to the steps that need it. It hands out three kinds of connection, each closed when its block
ends, so no step holds the file longer than its own work:

* :meth:`Warehouse.write`: read-write, schema migrated; waits (with back-off, up to
  ``timeout_s``) while readers hold the file. DuckDB allows one such process at a time.
* :meth:`Warehouse.read`: read-only; fails at once with
  :class:`warehouse.db.WarehouseLockedError` while a writer holds the file.
* :meth:`Warehouse.reader`: for analysts: the file read-only when free, else the last Parquet
  snapshot (:func:`warehouse.export.open_reader`): it never waits for a load.

:meth:`Warehouse.load_lock` (``.locks/<file>.load.lock``) serialises whole loads and restores:
read, stage, validate, promote and export run as separate steps with their own short
connections, and two loads must not interleave.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from warehouse import db
from warehouse.paths import WarehousePaths


@dataclass(frozen=True)
class Warehouse:
    """The DuckDB warehouse file and its Parquet snapshots folder."""

    path: Path
    parquet_dir: Path | None = None
    timeout_s: float = 60.0  #: how long a writer waits for readers to let go

    @classmethod
    def of(cls, paths: WarehousePaths) -> Warehouse:
        """The warehouse of resolved paths (``warehouse_path`` must be set)."""
        if paths.warehouse_path is None:
            raise ValueError("warehouse paths not resolved: no warehouse_path")
        return cls(Path(paths.warehouse_path),
                   Path(paths.parquet_dir) if paths.parquet_dir else None)

    @contextmanager
    def write(self, *, migrate: bool = True) -> Iterator[Any]:
        """A read-write connection for the block (schema migrated unless ``migrate`` is False)."""
        con = db.connect(self.path, migrate_schema=migrate, timeout_s=self.timeout_s)
        try:
            yield con
        finally:
            con.close()

    @contextmanager
    def read(self) -> Iterator[Any]:
        """A read-only connection for the block (no waiting: a writer in another process
        raises :class:`warehouse.db.WarehouseLockedError`). When this process already holds
        the file read-write (DuckDB refuses a second configuration), that mode is shared,
        without migrating."""
        try:
            con = db.connect(self.path, read_only=True)
        except db.WarehouseLockedError as exc:
            if "different configuration" not in str(exc).lower():
                raise
            con = db.connect(self.path, migrate_schema=False, timeout_s=0.0)
        try:
            yield con
        finally:
            con.close()

    @contextmanager
    def reader(self) -> Iterator[tuple[Any, str]]:
        """``(connection, source)`` for analysts' queries: source ``duckdb`` (the file,
        read-only) or ``parquet`` (the last snapshot, while a load holds the file)."""
        from warehouse.export import open_reader

        if self.parquet_dir is None:
            raise ValueError("no Parquet snapshot folder configured")
        con, source = open_reader(self.path, self.parquet_dir)
        try:
            yield con, source
        finally:
            con.close()

    @contextmanager
    def load_lock(self, timeout_s: float | None = None) -> Iterator[Path]:
        """Hold the lock of whole loads (:attr:`lock_path`; released by the kernel if the
        process dies). Raises :class:`calcisvd.io.LockBusy` after ``timeout_s``."""
        from calcisvd.io import exclusive_lock

        with exclusive_lock(self.lock_path, timeout_s=timeout_s) as lock:
            yield lock

    @property
    def lock_path(self) -> Path:
        """``.locks/<file>.load.lock`` beside the warehouse file."""
        return self.path.parent / ".locks" / f"{self.path.name}.load.lock"
