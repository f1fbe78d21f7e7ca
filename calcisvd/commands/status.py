"""`calcisvd status`: recent runs, backlog, failures, quarantine and warehouse counts."""

from __future__ import annotations

import argparse

from calcisvd.settings import Settings

HELP = "recent runs, backlog, failures, quarantine and warehouse counts"
DESCRIPTION = """Recent runs, backlog, failures, quarantine and warehouse counts.

Not available yet (issue 9).
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `calcisvd status`."""


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run the command; returns the process exit code."""
    print("calcisvd status: not available yet (issue 9)")
    return 2
