"""`calcisvd quantify`: measure ICAC on CT and SVD markers on MRI for sessions without results."""

from __future__ import annotations

import argparse

from calcisvd.settings import Settings

HELP = "measure ICAC on CT and SVD markers on MRI for sessions without results"
DESCRIPTION = """Measure ICAC on CT and SVD markers on MRI for sessions without results.

Not available yet (issue 6).
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `calcisvd quantify`."""


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run the command; returns the process exit code."""
    print("calcisvd quantify: not available yet (issue 6)")
    return 2
