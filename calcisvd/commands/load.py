"""`calcisvd load`: load quantification derivatives into the DuckDB warehouse (validated)."""

from __future__ import annotations

import argparse

from calcisvd.settings import Settings

HELP = "load quantification derivatives into the DuckDB warehouse (validated)"
DESCRIPTION = """Load quantification derivatives into the DuckDB warehouse (validated).

Not available yet (issue 7).
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `calcisvd load`."""


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run the command; returns the process exit code."""
    print("calcisvd load: not available yet (issue 7)")
    return 2
