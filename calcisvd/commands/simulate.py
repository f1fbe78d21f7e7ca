"""`calcisvd simulate`: write a simulated hospital export (DICOM + clinical CSV) into drop/."""

from __future__ import annotations

import argparse

from calcisvd.settings import Settings

HELP = "write a simulated hospital export (DICOM + clinical CSV) into drop/"
DESCRIPTION = """Write a simulated hospital export (DICOM + clinical CSV) into drop/.

Not available yet (issue 4).
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `calcisvd simulate`."""


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run the command; returns the process exit code."""
    print("calcisvd simulate: not available yet (issue 4)")
    return 2
