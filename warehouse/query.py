"""Ad-hoc queries for ``calcisvd sql``: bound parameters, a reader that never waits for a load.

Values given by users are always bound as DuckDB parameters (``$name`` placeholders), never
formatted into the SQL text. The connection is the warehouse file opened read-only, or, while a
load holds the file, the last Parquet snapshot (:func:`warehouse.export.open_reader`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from warehouse.paths import WarehousePaths

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TYPES = {"str": str, "int": int, "float": float,
          "bool": lambda v: v.strip().lower() in {"1", "true", "yes", "on"}}


def parse_params(items: list[str] | None) -> dict[str, Any]:
    """``["name=value", "age:int=60"]`` -> ``{"name": "value", "age": 60}`` (default type str)."""
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--param needs name=value, got {item!r}")
        name, _, kind = key.partition(":")
        kind = kind or "str"
        if not _NAME.match(name):
            raise ValueError(f"bad parameter name {name!r}")
        if kind not in _TYPES:
            raise ValueError(f"bad parameter type {kind!r} (use {', '.join(_TYPES)})")
        out[name] = _TYPES[kind](value)
    return out


#: statement types `calcisvd sql` runs: queries only (DESCRIBE and SHOW parse as SELECT)
ALLOWED_STATEMENTS = frozenset({"SELECT", "EXPLAIN"})


class ReadOnlyViolation(PermissionError):
    """A statement that would change the warehouse or write files."""


def refuse_non_queries(con: Any, sql: str) -> None:
    """Raise :class:`ReadOnlyViolation` unless every statement of ``sql`` is a query.

    The reader's connection is read-only for the warehouse file, but COPY ... TO, ATTACH or
    EXPORT could still write files elsewhere; analysts' SQL is therefore limited to queries.
    """
    refused = sorted({st.type.name for st in con.extract_statements(sql)
                      if st.type.name not in ALLOWED_STATEMENTS})
    if refused:
        raise ReadOnlyViolation("the analyst connection is read-only: queries only (SELECT, "
                                "WITH, DESCRIBE, SHOW, EXPLAIN); refused: "
                                + ", ".join(refused))


def lock_down(con: Any, allowed_dirs: list[Path]) -> None:
    """Confine ``con``: no extension install or autoload, file functions (``read_text``,
    ``read_csv``, ``read_blob``, ``glob``, URLs...) refused outside ``allowed_dirs`` (the
    warehouse snapshot), then the configuration is locked so SQL cannot undo it.

    DuckDB's ``enable_external_access=false`` turns off every file system and network access
    except the ``allowed_directories`` set before it; ``lock_configuration`` makes every
    later ``SET`` fail.
    """
    con.execute("SET autoinstall_known_extensions = false")
    con.execute("SET autoload_known_extensions = false")
    if allowed_dirs:
        # DuckDB's SET takes no parameters; the paths are the home's own snapshot folders
        literal = ", ".join("'" + (str(d).rstrip("/") + "/").replace("'", "''") + "'"
                            for d in allowed_dirs)
        con.execute(f"SET allowed_directories = [{literal}]")
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")


def protected_dirs(settings: WarehousePaths) -> list[Path]:
    """Folders of the home that ``--output`` must never write into: secrets, the datasets,
    the drop folder, quarantine and ``var/`` (warehouse, snapshots, Prefect, logs)."""
    names = ("secrets_dir", "bids_dir", "derivatives_dir", "drop_dir", "quarantine_dir",
             "var_dir", "parquet_dir", "prefect_home", "logs_dir", "gx_dir", "truth_dir")
    return [Path(p).resolve() for n in names if (p := getattr(settings, n, None))]


def check_output(settings: WarehousePaths, output: Path | None) -> None:
    """Raise :class:`ReadOnlyViolation` when ``output`` (symlinks resolved) lies inside a
    protected folder of the home or is the warehouse file itself."""
    if output is None:
        return
    target = Path(output).expanduser().resolve()
    protected = protected_dirs(settings)
    if settings.warehouse_path:
        protected.append(Path(settings.warehouse_path).resolve())
    for folder in protected:
        if target == folder or target.is_relative_to(folder):
            raise ReadOnlyViolation(f"--output {output} is inside {folder}, which calcisvd "
                                    "protects; write the result elsewhere")


def run_query(settings: WarehousePaths, sql: str, params: dict[str, Any] | None = None
              ) -> tuple[Any, str]:
    """Run ``sql`` with bound ``params``; returns ``(pyarrow.Table, source)``.

    The connection is confined by :func:`lock_down` to the Parquet snapshots folder.
    """
    from warehouse.resource import Warehouse

    assert settings.warehouse_path and settings.parquet_dir
    with Warehouse.of(settings).reader() as (con, source):
        # the snapshot folder as a whole: a load may switch `current` after this connection
        # built its views on the previous snapshot (kept by the pruning for readers)
        lock_down(con, [Path(settings.parquet_dir).resolve()])
        refuse_non_queries(con, sql)
        used = set(re.findall(r"\$([A-Za-z_][A-Za-z0-9_]*)", sql))
        bound = {k: v for k, v in (params or {}).items() if k in used}
        missing = used - set(bound)
        if missing:
            raise ValueError(f"no value for parameter(s): {', '.join(sorted(missing))} "
                             "(give --param name=value)")
        rel = con.sql(sql, params=bound or None)
        if rel is None:  # a statement without a result (the read-only file refuses writes)
            import pyarrow as pa

            return pa.table({}), source
        table = rel.to_arrow_table()
    return table, source


def write_result(table: Any, fmt: str, output: Path | None) -> str | None:
    """Write ``table`` as ``table`` text, ``csv`` or ``parquet``; returns text when no file."""
    if fmt == "parquet":
        import pyarrow.parquet as pq

        if output is None:
            raise ValueError("--format parquet needs --output FILE")
        pq.write_table(table, output)
        return None
    df = table.to_pandas()
    if fmt == "csv":
        text = df.to_csv(index=False)
    else:
        import pandas as pd

        with pd.option_context("display.max_rows", 200, "display.max_columns", 50,
                               "display.width", 160):
            text = df.to_string(index=False) if len(df) else "(no rows)"
            text += f"\n({len(df)} row{'s' if len(df) != 1 else ''})\n"
    if output is not None:
        Path(output).write_text(text, encoding="utf-8")
        return None
    return text
