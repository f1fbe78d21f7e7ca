"""`calcisvd ingest`: turn new scans in drop/ into the de-identified BIDS dataset."""

from __future__ import annotations

import argparse

from calcisvd.settings import Settings

HELP = "turn new scans in drop/ into the de-identified BIDS dataset"
DESCRIPTION = """Turn new scans in drop/ into the de-identified BIDS dataset.

Not available yet (issue 5).
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `calcisvd ingest`."""


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run the command; returns the process exit code."""
    print("calcisvd ingest: not available yet (issue 5)")
    return 2
