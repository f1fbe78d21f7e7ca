"""`calcisvd warehouse`: check the DuckDB warehouse file, or restore a damaged one."""

from __future__ import annotations

import argparse
import json
import sys

from calcisvd.redact import redact
from calcisvd.settings import Settings

HELP = "check the warehouse file for damage, or restore it from the last snapshot"
DESCRIPTION = """\
Maintenance of the biomarker warehouse (var/calcisvd.duckdb).

  check     open the file and read every table; says whether it is damaged (exit 0 healthy,
            1 damaged)
  restore   rebuild a damaged warehouse: the damaged file is moved aside to
            var/calcisvd.duckdb.damaged-<time> (kept, never deleted), a new one is filled from
            the last Parquet snapshot (var/parquet/current: curated tables, history, runs,
            validation results, quarantine) and a normal load adds what the derivatives hold
            beyond it. A healthy warehouse is left alone unless --force.

Every command that opens the warehouse checks it first (a truncated file is reported as
damaged, with this command to run, never as "locked").

examples:
  calcisvd warehouse check
  calcisvd warehouse restore
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `calcisvd warehouse`."""
    parser.add_argument("action", choices=["check", "restore"], help="what to do")
    parser.add_argument("--force", action="store_true",
                        help="restore even when the warehouse looks healthy")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run the command; returns the process exit code."""
    from warehouse import db

    if args.action == "check":
        from warehouse.resource import Warehouse

        try:
            with Warehouse(settings.warehouse_path).read() as con:
                why = db.deep_check(con)
        except db.WarehouseDamagedError as exc:
            print(f"calcisvd warehouse: {redact(str(exc))}", file=sys.stderr)
            return 1
        if why:
            print(f"calcisvd warehouse: {settings.warehouse_path} is damaged ({why}); run "
                  "`calcisvd warehouse restore`", file=sys.stderr)
            return 1
        print(f"{settings.warehouse_path}: healthy")
        return 0
    from warehouse.restore import restore_warehouse

    summary = restore_warehouse(settings.warehouse_paths(), force=args.force)
    if args.json:
        print(json.dumps(summary, indent=2, default=str))
    elif not summary["restored"]:
        print(f"{summary['warehouse']}: healthy, nothing to restore (use --force to rebuild)")
    else:
        print(f"restored {summary['warehouse']} from snapshot {summary.get('snapshot')} "
              f"and the derivatives (load: {summary['load']['status']}); the damaged file is "
              f"kept as {', '.join(summary['moved_aside']) or '(none)'}")
        if summary.get("note"):
            print(summary["note"])
    return 0 if summary["status"] in ("healthy", "restored") else 1
