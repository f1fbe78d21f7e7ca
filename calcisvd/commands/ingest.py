"""`calcisvd ingest`: turn new scans in drop/ into the de-identified BIDS dataset."""

from __future__ import annotations

import argparse
import json
import sys

from calcisvd.redact import redact
from calcisvd.settings import Settings

#: exit code of a run that quarantined input or failed a session (the rest was ingested)
EXIT_PARTIAL = 4
#: exit code when the pseudonym key or re-identification map is missing for a dataset
EXIT_IDENTITY = 6

HELP = "turn new scans in drop/ into the de-identified BIDS dataset"
DESCRIPTION = """Turn new scans in drop/ into the de-identified BIDS dataset.

Reads   drop/ (any nesting of DICOM files; folders of NIfTI+JSON laid out as
        <patient_id>/<YYYYMMDD>/; existing BIDS datasets) and the newest
        drop/clinical/*.csv (patient_id,age,sex,smoking,...).
Writes  bids_dataset/sub-<pseudonym>/ses-M<months>/anat/ (T1w, T2w, FLAIR,
        acq-swi_T2starw, ct) with dataset_description.json, participants.tsv,
        sessions.tsv, scans.tsv; quarantine/<id>/reason.json for input that cannot be
        ingested; secrets/reid_map.tsv (authorised use only); var/ingest/ledger.sqlite.

Only what is new is converted (images are recognised by UID and content, not by file
name), so running it again is cheap and changes nothing. Localizers, dose reports and
other non-image objects are skipped with a logged reason. Each session is written in a
staging folder and moved into place in one step; a lock stops two runs from overlapping.
The drop folder is never modified.

Examples:
  calcisvd ingest                 # through the Prefect flow (run visible in the Prefect UI)
  calcisvd ingest --no-prefect    # same work, plain Python (no Prefect server)
  calcisvd ingest --json          # print the summary as JSON

Exit codes: 0 ok, 3 another run holds the lock, 4 partial (input quarantined or a session
failed; everything else was ingested), 5 a resource problem (disk full, read-only home,
no permission), named in one sentence, 6 refused: the pseudonym key or re-identification
map in secrets/ is missing while the dataset has subjects (restore it from its backup).
"""

#: runs Prefect flows in this process (the CLI starts them without heartbeats)
RUNS_FLOWS = True


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `calcisvd ingest`."""
    parser.add_argument("--no-prefect", action="store_true",
                        help="run without Prefect (no flow run, no artifact)")
    parser.add_argument("--lock-timeout", type=float, default=600.0, metavar="SECONDS",
                        help="wait this long for another ingest run to finish (default 600)")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run the command; returns the process exit code (0 ok, 3 another run holds the lock,
    4 partial: some input was quarantined or a session failed in this run)."""
    from tasks.ingest.deid import MissingKeyError

    try:
        if args.no_prefect:
            from tasks.ingest.pipeline import run_ingest

            summary = run_ingest(settings.ingest_config(), lock_timeout_s=args.lock_timeout)
        else:
            from flows.ingest import ingest_flow

            summary = ingest_flow(settings=settings, lock_timeout_s=args.lock_timeout)
    except MissingKeyError as exc:
        print(f"calcisvd ingest: refused: {redact(str(exc))}", file=sys.stderr)
        return EXIT_IDENTITY
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        from tasks.ingest.summary import summary_markdown

        print(summary_markdown(summary))
    return ingest_exit_code(summary)


def ingest_exit_code(summary: dict) -> int:
    """Exit code of an ingest summary: 0 ok, 3 locked, 4 partial (``calcisvd run`` too)."""
    return {"locked": 3, "partial": EXIT_PARTIAL}.get(str(summary.get("status")), 0)
