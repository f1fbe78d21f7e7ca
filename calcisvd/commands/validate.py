"""`calcisvd validate`: run the expectation suites on the curated warehouse tables."""

from __future__ import annotations

import argparse

from calcisvd.settings import Settings

HELP = "run the expectation suites on the curated warehouse tables"
DESCRIPTION = """Run the Great Expectations suites (expectations/suites/*.json) on the curated
tables of the warehouse: column types, non-null and unique keys, value ranges, cross-table rules
(every session has a subject, follow-up after baseline, change = follow-up - baseline in
v_one_year_change) and distribution checks (no all-null or all-zero marker).

Writes: one row per expectation in the validation_results table (target 'curated'), a
pipeline_runs row, and Data Docs HTML at var/gx/gx/uncommitted/data_docs/local_site/index.html
(under settings gx_dir). Exit code 1 when an expectation fails.

example:
  calcisvd validate
  calcisvd validate --suite svd_measures --suite change_arithmetic
  calcisvd sql "SELECT suite, expectation, column_name FROM validation_results WHERE NOT success"
"""

#: runs Prefect flows in this process (the CLI starts them without heartbeats)
RUNS_FLOWS = True


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `calcisvd validate`."""
    parser.add_argument("--suite", action="append", default=None, metavar="NAME",
                        help="run only this suite (repeatable; default: all)")
    parser.add_argument("--no-flow", action="store_true", help="run without Prefect")


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run the command; returns the process exit code."""
    from expectations.runner import suite_names

    unknown = set(args.suite or []) - set(suite_names())
    if unknown:
        print(f"calcisvd validate: unknown suite(s) {sorted(unknown)}; known: {suite_names()}")
        return 2
    paths = settings.warehouse_paths()
    if args.no_flow or args.suite:
        from warehouse.validate import validate_curated

        result = validate_curated(paths, suites=args.suite)
        report = result.report
    else:
        from flows.validate import validate_flow
        from warehouse.validate import last_report

        state = validate_flow(settings=settings, return_state=True)
        report = last_report(paths)
        if report is None:
            print(f"calcisvd validate: failed: {state.result(raise_on_failure=False)}")
            return 1
    print(report.markdown())
    return 0 if report.success else 1
