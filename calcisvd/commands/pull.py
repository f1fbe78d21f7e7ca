"""`calcisvd pull`: fetch the cohort's new studies from a PACS over DICOMweb into drop/."""

from __future__ import annotations

import argparse
import json

from calcisvd.redact import redact
from calcisvd.settings import Settings

HELP = "fetch the cohort's new studies from a PACS (DICOMweb) into drop/"
DESCRIPTION = """Fetch the cohort's new studies from a PACS over DICOMweb into drop/.

Asks dicomweb_url (QIDO-RS) for the studies of the patients listed in pacs_patient_list
(default secrets/pacs_patients.txt, one PatientID a line) and/or matching dicomweb_query
("Key=value;Key=value"), dated from the last pull minus dicomweb_lookback_days on;
retrieves the ones not pulled yet (WADO-RS) into drop/pacs/pull-*/, each study published
in one rename; remembers them in var/pacs/pull_state.json (keyed hashes, no identifiers).
The deployment pacs-pull in prefect.yaml runs this on a schedule.

Examples:
  calcisvd pull                   # pull only (the next ingest picks the files up)
  calcisvd pull --ingest          # pull, then ingest when something new came
"""

#: runs Prefect flows in this process (the CLI starts them without heartbeats)
RUNS_FLOWS = True


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `calcisvd pull`."""
    parser.add_argument("--ingest", action="store_true",
                        help="run the ingest flow afterwards if new instances arrived")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run the pull flow; exit code 0, 2 for invalid settings, 3 when another pull runs."""
    import sys

    from flows.pull import pull_flow
    from tasks.pacs.config import dicomweb_config

    try:
        dicomweb_config(settings)
    except ValueError as exc:
        print(f"calcisvd pull: {redact(str(exc))}", file=sys.stderr)
        return 2
    summary = pull_flow(settings=settings, ingest=args.ingest)
    if args.json:
        print(json.dumps(summary, indent=2, default=str))
    else:
        print(", ".join(f"{k}: {v}" for k, v in summary.items() if k != "ingest"))
    return 3 if summary.get("status") == "locked" else 0
