"""`calcisvd load`: load quantification derivatives into the DuckDB warehouse (validated)."""

from __future__ import annotations

import argparse
import sys

from calcisvd.redact import redact
from calcisvd.settings import Settings

HELP = "load quantification derivatives into the DuckDB warehouse (validated)"
DESCRIPTION = """Load the BIDS dataset and the quantification results into the warehouse.

Reads (never recomputes): bids_dataset/participants.tsv, sub-*/sub-*_sessions.tsv, the images
and JSON sidecars under sub-*/ses-*/anat/, bids_dataset/derivatives/calcisvd/sub-*/ses-*/
*_measures.json, and quarantine/**/reason.json. The batch goes into staging tables, is checked
by every expectation suite in expectations/suites/ (types, keys, ranges, cross-table rules,
distribution), and only a batch that passes reaches the curated tables, in one transaction.
Rows are upserted by natural key (reloading changes nothing); replaced values are kept in the
*_history tables with their run id. A failing batch stays in staging; the failed expectations
are printed, stored in validation_results and shown in Data Docs
(var/gx/gx/uncommitted/data_docs/local_site/index.html). After a successful load the curated
tables are exported to var/parquet/current/*.parquet.

Through the flow (the default), a load whose inputs (the files above: path, size, modification
time) and code are those of the last load is skipped (--force loads anyway); a batch that
failed validation stays failed, with its reason, until an input changes.

Writes: var/calcisvd.duckdb, var/parquet/, var/gx/. Exit code 1 when the batch fails, or
when it was written but the Parquet snapshot failed (recorded as a partial load, with the
reason; the next load is not skipped and exports again).

example:
  calcisvd load            # then: calcisvd sql "SELECT * FROM v_baseline_cohort LIMIT 5"
  calcisvd load --no-flow  # without Prefect (plain function call)
"""

#: runs Prefect flows in this process (the CLI starts them without heartbeats)
RUNS_FLOWS = True


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `calcisvd load`."""
    parser.add_argument("--no-flow", action="store_true",
                        help="run without Prefect (no flow run, no artifact)")
    parser.add_argument("--force", action="store_true",
                        help="load even when the inputs and code are those of the last load "
                             "(by default such a load is skipped)")


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run the command; returns the process exit code."""
    from warehouse.db import WarehouseDamagedError
    from warehouse.load import (
        BatchValidationError,
        LoadIncompleteError,
        LoadSummary,
        load_derivatives,
    )

    if args.no_flow:
        try:
            return _report(load_derivatives(settings.warehouse_paths()))
        except WarehouseDamagedError as exc:
            print(f"calcisvd load: {redact(str(exc))}", file=sys.stderr)
            return 1
    from flows.load import load_flow

    state = load_flow(settings=settings, force=args.force, return_state=True)
    if state.is_completed():
        return _report(LoadSummary(**state.result()))
    exc = state.result(raise_on_failure=False)
    if isinstance(exc, BatchValidationError | LoadIncompleteError):
        return _report(exc.summary)
    if isinstance(exc, WarehouseDamagedError):
        print(f"calcisvd load: {redact(str(exc))}", file=sys.stderr)
        return 1
    print(f"calcisvd load: failed: {redact(str(exc))}")
    return 1


def _report(summary) -> int:
    print(f"calcisvd load: run {summary.run_id}: {summary.status}")
    print(f"  staged  {summary.staged}")
    if summary.status == "unchanged":
        print("  inputs and code unchanged since that load: nothing to do (--force reloads)")
    elif summary.ok:
        print(f"  written {summary.written}")
        print(f"  history {summary.superseded}")
        print(f"  snapshot {summary.snapshot}")
    elif summary.status == "partial":
        print(f"  written {summary.written}")
        print("  PARTIAL: the curated tables were written but:")
        for line in summary.failure_details:
            print(f"   - {line}")
    else:
        print("  the batch stays in staging; failed expectations:")
        for line in summary.failure_details:
            print(f"   - {line}")
    for h in summary.held_back[:20]:
        print(f"  held back: {h}")
    for p in summary.problems[:20]:
        print(f"  warning: {p}")
    if summary.docs_index:
        print(f"  Data Docs: {summary.docs_index}")
    return 0 if summary.ok else 1
