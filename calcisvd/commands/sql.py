"""`calcisvd sql`: query the biomarker warehouse (table, CSV or Parquet output)."""

from __future__ import annotations

import argparse

from calcisvd.settings import Settings

HELP = "query the biomarker warehouse (table, CSV or Parquet output)"
DESCRIPTION = """Query the biomarker warehouse (table, CSV or Parquet output).

Not available yet (issue 7).
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `calcisvd sql`."""


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run the command; returns the process exit code."""
    print("calcisvd sql: not available yet (issue 7)")
    return 2
