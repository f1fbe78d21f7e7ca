"""`calcisvd status`: recent runs, backlog, failures, quarantine and warehouse counts."""

from __future__ import annotations

import argparse

from calcisvd.settings import Settings

HELP = "recent runs, backlog, failures, quarantine and warehouse counts"
DESCRIPTION = """\
What a data engineer checks first:

  recent runs     the last Prefect flow runs with state and duration (--runs N)
  failures        failed runs with their message, sessions whose CT or MRI measurement failed
  backlog         sessions ingested but not yet quantified (or with changed inputs/code), and
                  quantified sessions not yet in the warehouse
  quarantine      inputs that could not be ingested, with their reasons
  warehouse       row counts of the curated tables

Reads the Prefect API (the embedded one under var/prefect unless PREFECT_API_URL is set), the
BIDS dataset, the derivatives, quarantine/ and the warehouse (read-only). Changes nothing.

example:
  calcisvd status --runs 20
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `calcisvd status`."""
    parser.add_argument("--runs", type=int, default=10, help="recent flow runs to show")
    parser.add_argument("--no-prefect", action="store_true",
                        help="skip the Prefect API (faster; files and warehouse only)")


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Print the status report."""
    from calcisvd.status import collect_status, format_status

    report = collect_status(settings, runs=args.runs, with_prefect=not args.no_prefect)
    print(format_status(report))
    return 0
