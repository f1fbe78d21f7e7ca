"""`calcisvd status`: recent runs, backlog, failures, quarantine and warehouse counts."""

from __future__ import annotations

import argparse

from calcisvd.settings import Settings

HELP = "runs, schedules, workers, backlog, failures, quarantine and warehouse counts"
DESCRIPTION = """\
What a data engineer checks first (in about a second):

  run history     the last runs per deployment (and per flow for command-line runs) with
                  state, duration and failure message (--runs N per group); the deployments,
                  the next scheduled runs and the workers seen with their last heartbeat
  backlog         sessions ingested but not yet quantified (or with changed inputs/code, or a
                  transient failure to retry), and quantified sessions not in the warehouse
  failures        sessions whose CT or MRI measurement failed (transient or data, with the
                  reason); warehouse loads that failed, with the reason
  quarantine      inputs that could not be ingested, with their reasons; series not ingested
  clinical data   subjects in the warehouse without clinical covariates
  warehouse       row counts of the curated tables

Run history: with PREFECT_API_URL set, the server's, through its API; otherwise the embedded
history (var/prefect/prefect.db, or PREFECT_HOME's), read directly from the file: the first
line says which. The warehouse is read through one read-only connection (or the last Parquet
snapshot while a load holds it). Changes nothing.

example:
  calcisvd status --runs 20
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `calcisvd status`."""
    parser.add_argument("--runs", type=int, default=5,
                        help="recent runs to show per deployment (default 5)")
    parser.add_argument("--no-prefect", action="store_true",
                        help="skip the run history (files and warehouse only)")


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Print the status report."""
    from calcisvd.status import collect_status, format_status

    report = collect_status(settings, runs=args.runs, with_prefect=not args.no_prefect)
    print(format_status(report))
    return 0
