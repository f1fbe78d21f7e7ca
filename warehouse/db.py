"""DuckDB connection, schema migrations and short write transactions for the warehouse.

The schema lives in ``warehouse/migrations/NNN_<name>.sql`` (applied once each, in order, and
recorded in ``schema_migrations``) and ``warehouse/views/*.sql`` (views, re-created whenever the
file's SHA-256 changes). :func:`connect` applies whatever is pending, so a new schema version
needs no manual step. DuckDB allows one read-write process per file: :func:`connect` retries
while another process holds the lock (readers are short; see warehouse/schema.md).
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

PACKAGE_DIR = Path(__file__).resolve().parent
MIGRATIONS_DIR = PACKAGE_DIR / "migrations"
VIEWS_DIR = PACKAGE_DIR / "views"
SQL_DIR = PACKAGE_DIR / "sql"
#: view files executed in schema ``merged`` too (staged batch over curated tables)
MERGED_VIEW_FILES: tuple[str, ...] = ("020_analyst_views.sql",)
_MIGRATION_RE = re.compile(r"^(\d{3})_([a-z0-9_]+)\.sql$")
_PARAM_RE = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")


class WarehouseLockedError(RuntimeError):
    """The DuckDB file is held by another process for longer than the retry window."""


class WarehouseDamagedError(RuntimeError):
    """The DuckDB file is damaged (truncated, unreadable blocks): restore it."""

    def __init__(self, path: Path, why: str):
        self.path = Path(path)
        super().__init__(
            f"the warehouse {path} is damaged ({why}); run `calcisvd warehouse restore` to "
            "rebuild it from the last Parquet snapshot and the derivatives")


#: bytes before the first block of a DuckDB file (the main header and two database headers)
DUCKDB_HEADER_BYTES = 3 * 4096


def integrity_problem(con: Any, path: Path) -> str | None:
    """Why the open warehouse at ``path`` is damaged, or ``None``.

    The file must be able to hold every block in use (``PRAGMA database_size``:
    ``used_blocks x block_size`` after the headers; used blocks lie inside the file, while
    ``total_blocks`` also counts free blocks DuckDB trimmed from the end of a healthy file): a
    truncated file fails this at once, before a query trips over a missing block. A deeper
    check reads every table.
    """
    row = con.execute("PRAGMA database_size").fetchone()
    if row is None:
        return None
    block_size, used_blocks = int(row[2]), int(row[4])
    expected = DUCKDB_HEADER_BYTES + block_size * used_blocks if used_blocks else 0
    actual = Path(path).stat().st_size
    if actual < expected:
        return f"the file holds {actual} bytes of the {expected} its blocks need: truncated"
    return None


def deep_check(con: Any) -> str | None:
    """Read every base table in full; the first failure as text, or ``None``."""
    tables = [r[0] + "." + r[1] for r in con.execute(
        "SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = "
        "current_database() ORDER BY 1, 2").fetchall()]
    for name in tables:
        try:
            con.sql(f"SELECT * FROM {name}").to_arrow_table()  # names from the catalog
        except Exception as exc:
            return f"table {name} unreadable: {type(exc).__name__}"
    return None


def read_sql(name: str) -> str:
    """Text of ``warehouse/<name>`` (e.g. ``sql/promote.sql``)."""
    return (PACKAGE_DIR / name).read_text(encoding="utf-8")


def split_statements(sql: str) -> list[str]:
    """Split a SQL script on ``;`` at line ends (our files keep no ``;`` inside strings)."""
    body = "\n".join(line for line in sql.splitlines() if not line.strip().startswith("--"))
    return [s.strip() for s in re.split(r";\s*(?:\n|$)", body) if s.strip()]


def run_script(con: Any, sql: str, params: Mapping[str, Any] | None = None) -> None:
    """Execute every statement of ``sql``, binding the ``$name`` parameters each one uses."""
    params = dict(params or {})
    for stmt in split_statements(sql):
        used = {p: params[p] for p in _PARAM_RE.findall(stmt) if p in params}
        con.execute(stmt, used or None)


def _is_lock_error(exc: Exception) -> bool:
    text = str(exc).lower()
    return "lock" in text or "different configuration" in text


def connect(path: Path | str, *, read_only: bool = False, migrate_schema: bool = True,
            timeout_s: float = 60.0) -> Any:
    """Open the warehouse at ``path`` (created if missing) and apply pending migrations.

    ``read_only=True`` never migrates and fails at once with :class:`WarehouseLockedError` when a
    writer holds the file. A writer retries with back-off for up to ``timeout_s`` seconds while
    readers hold it.
    """
    import duckdb

    path = Path(path)
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + (0.0 if read_only else timeout_s)
    delay = 0.02
    while True:
        try:
            con = duckdb.connect(str(path), read_only=read_only)
            break
        except (duckdb.IOException, duckdb.ConnectionException) as exc:
            if not _is_lock_error(exc):
                from calcisvd.resources import as_resource_error

                resource = as_resource_error(exc, path)
                if resource is not None:
                    raise resource from None
                raise WarehouseDamagedError(path, type(exc).__name__ + ": "
                                            + _first_line(exc)) from None
            if time.monotonic() >= deadline:
                raise WarehouseLockedError(f"{path}: {exc}") from exc
            time.sleep(delay)
            delay = min(delay * 1.5, 0.25)
        except (duckdb.SerializationException, duckdb.InternalException,
                duckdb.CatalogException) as exc:  # unreadable headers or catalog
            raise WarehouseDamagedError(path, type(exc).__name__) from None
    why = integrity_problem(con, path) if path.is_file() else None
    if why:
        con.close()
        raise WarehouseDamagedError(path, why)
    if not read_only:
        import os

        for p in (path, Path(f"{path}.wal")):  # curated data: not world-readable
            if p.is_file() and p.stat().st_mode & 0o007:
                os.chmod(p, 0o640)
    if migrate_schema and not read_only:
        migrate(con)
    return con


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0][:200] if str(exc) else ""


@contextmanager
def transaction(con: Any) -> Iterator[Any]:
    """``BEGIN`` ... ``COMMIT`` (``ROLLBACK`` on error). Keep the body short: readers wait on it
    only in the sense that they see the state before it until it commits."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def _checksum(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def migrations() -> list[tuple[str, str, Path]]:
    """``(version, name, path)`` of every numbered migration, in order."""
    out = []
    for p in sorted(MIGRATIONS_DIR.glob("*.sql")):
        m = _MIGRATION_RE.match(p.name)
        if not m:
            raise ValueError(f"migration file not named NNN_name.sql: {p.name}")
        out.append((m.group(1), m.group(2), p))
    return out


def migrate(con: Any) -> list[str]:
    """Apply pending numbered migrations and changed view files; return what was applied.

    Each migration runs in its own transaction and is recorded in ``schema_migrations``
    (version, name, checksum, applied_at). A view file is recorded as ``R:<file name>`` with its
    checksum and re-applied (in ``main``, and in ``merged`` for analyst views) when it changes.
    """
    con.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version VARCHAR PRIMARY KEY, name VARCHAR NOT NULL, checksum VARCHAR NOT NULL,"
        " applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
    )
    done = dict(con.execute("SELECT version, checksum FROM schema_migrations").fetchall())
    applied: list[str] = []
    for version, name, path in migrations():
        if version in done:
            continue
        text = path.read_text(encoding="utf-8")
        with transaction(con):
            run_script(con, text)
            con.execute("INSERT INTO schema_migrations (version, name, checksum) VALUES (?, ?, ?)",
                        [version, name, _checksum(text)])
        applied.append(path.name)
    views_changed = False
    for path in sorted(VIEWS_DIR.glob("*.sql")):
        text = path.read_text(encoding="utf-8")
        key = f"R:{path.name}"
        if done.get(key) == _checksum(text):
            continue
        views_changed = True
        with transaction(con):
            run_script(con, text)
            if path.name in MERGED_VIEW_FILES:
                con.execute("USE merged")
                try:
                    run_script(con, text)
                finally:
                    con.execute("USE main")
            con.execute("DELETE FROM schema_migrations WHERE version = ?", [key])
            con.execute("INSERT INTO schema_migrations (version, name, checksum) VALUES (?, ?, ?)",
                        [key, path.stem, _checksum(text)])
        applied.append(path.name)
    if views_changed:
        with transaction(con):
            refresh_views(con)
    return applied


def refresh_views(con: Any) -> None:
    """Re-materialize the analyst views (``sql/refresh_views.sql``); caller holds the txn."""
    run_script(con, read_sql("sql/refresh_views.sql"))
