"""`calcisvd validate`: run the Great Expectations suites on the warehouse."""

from __future__ import annotations

import argparse

from calcisvd.settings import Settings

HELP = "run the Great Expectations suites on the warehouse"
DESCRIPTION = """Run the Great Expectations suites on the warehouse.

Not available yet (issue 7).
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `calcisvd validate`."""


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run the command; returns the process exit code."""
    print("calcisvd validate: not available yet (issue 7)")
    return 2
