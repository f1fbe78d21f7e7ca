"""`calcisvd analyze`: baseline and one-year statistics (paper Tables 1-4) as reports."""

from __future__ import annotations

import argparse

from calcisvd.settings import Settings

HELP = "baseline and one-year statistics (paper Tables 1-4) as reports"
DESCRIPTION = """Baseline and one-year statistics (paper Tables 1-4) as reports.

Not available yet (issue 8).
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `calcisvd analyze`."""


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run the command; returns the process exit code."""
    print("calcisvd analyze: not available yet (issue 8)")
    return 2
