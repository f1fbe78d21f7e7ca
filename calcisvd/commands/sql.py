"""`calcisvd sql`: query the warehouse (tables and analyst views) with bound parameters."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from calcisvd.settings import Settings

HELP = "query the warehouse (tables and analyst views) with bound parameters"
DESCRIPTION = """Query the biomarker warehouse (var/calcisvd.duckdb) with SQL.

Reads the DuckDB file read-only; while `calcisvd load` holds it, the query runs on the last
Parquet snapshot (var/parquet/current/*.parquet) instead, so queries never fail or wait because
a load is running. Values are passed with --param and bound to $name placeholders: they are
never pasted into the SQL text.

Analyst views: v_baseline_cohort, v_one_year_change, v_session_measures, v_icac_by_artery,
v_subject_summary. Tables: subjects, sessions, scans, icac_artery_measures,
icac_session_measures, svd_measures, pipeline_runs, validation_results, ingest_quarantine
(warehouse/schema.md describes every column).

examples:
  calcisvd sql "SELECT severity_group, avg(fazekas_total_change) FROM v_one_year_change GROUP BY 1"
  calcisvd sql "SELECT * FROM v_icac_by_artery WHERE subject = $s" --param s=ab12cd34ef
  calcisvd sql "SELECT * FROM v_baseline_cohort WHERE age >= $a" --param a:int=65 --format csv
  calcisvd sql "SELECT * FROM v_session_measures" --format parquet --output sessions.parquet

The query runs confined: DuckDB's external access is off (no file outside the current
Parquet snapshot, no URL, no extension install or autoload) and --output refuses the home's
protected folders (secrets/, the BIDS dataset, drop/, quarantine/, var/).

Other tools: `duckdb -readonly var/calcisvd.duckdb`, or polars/pandas on
var/parquet/current/<table>.parquet (see warehouse/schema.md).
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `calcisvd sql`."""
    parser.add_argument("query", help="one SQL statement; $name placeholders for values")
    parser.add_argument("--format", choices=["table", "csv", "parquet"], default="table",
                        help="output format (default: table; parquet needs --output)")
    parser.add_argument("--output", "-o", type=Path, default=None,
                        help="write to FILE instead of the terminal")
    parser.add_argument("--param", "-p", action="append", default=[], metavar="NAME=VALUE",
                        help="bind a value to $NAME; NAME:int=, NAME:float=, NAME:bool= "
                             "for typed values (repeatable)")


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run the command; returns the process exit code."""
    from warehouse.query import (
        ReadOnlyViolation,
        check_output,
        parse_params,
        run_query,
        write_result,
    )

    paths = settings.warehouse_paths()
    try:
        check_output(paths, args.output)
    except ReadOnlyViolation as exc:
        print(f"calcisvd sql: refused: {exc}", file=sys.stderr)
        return 2
    try:
        params = parse_params(args.param)
        table, source = run_query(paths, args.query, params)
        text = write_result(table, args.format, args.output)
    except (ValueError, FileNotFoundError) as exc:
        print(f"calcisvd sql: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # duckdb errors: syntax, unknown table, read-only violation
        print(f"calcisvd sql: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    if text is not None:
        sys.stdout.write(text)
    if source == "parquet":
        print("calcisvd sql: the warehouse is busy (a load is running); answered from the "
              "last Parquet snapshot", file=sys.stderr)
    return 0
