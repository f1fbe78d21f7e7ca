"""`calcisvd run`: the whole pipeline: ingest, quantify, load, validate, analyze."""

from __future__ import annotations

import argparse

from calcisvd.settings import Settings

HELP = "the whole pipeline: ingest, quantify, load, validate, analyze"
DESCRIPTION = """The whole pipeline: ingest, quantify, load, validate, analyze.

Not available yet (issue 9).
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `calcisvd run`."""


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run the command; returns the process exit code."""
    print("calcisvd run: not available yet (issue 9)")
    return 2
