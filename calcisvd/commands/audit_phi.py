"""`calcisvd audit-phi`: search every output for identifying data (privacy audit)."""

from __future__ import annotations

import argparse

from calcisvd.settings import Settings

HELP = "search every output for identifying data (privacy audit)"
DESCRIPTION = """Search every output for identifying data (privacy audit).

Not available yet (issue 10).
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `calcisvd audit-phi`."""


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run the command; returns the process exit code."""
    print("calcisvd audit-phi: not available yet (issue 10)")
    return 2
