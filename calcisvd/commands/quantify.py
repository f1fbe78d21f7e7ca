"""`calcisvd quantify`: measure ICAC on CT and SVD markers on MRI."""

from __future__ import annotations

import argparse

from calcisvd.settings import Settings

HELP = "measure ICAC on CT and SVD markers on MRI for sessions without results"
DESCRIPTION = """\
Measure every BIDS session that has no results yet, or whose images or measuring code changed:

  CT  (sub-*_ct.nii.gz)       intracranial artery calcification per artery (ICA, MCA, BA, VA;
                              left/right): calcium volume, Agatston, mass score, plaques,
                              circumferential extent; severity group and dominant location.
  MRI (FLAIR, T2w, T1w, SWI)  WMH volume and Fazekas (periventricular/deep), microbleeds,
                              lacunes, perivascular spaces, punctate grade, total SVD score.

Reads  bids_dataset/sub-*/ses-*/anat/
Writes bids_dataset/derivatives/calcisvd/ (masks, measures.json/.tsv, a QC page per session,
       index.html linking all of them); Nipype working folders under var/work/ make a rerun on
       unchanged inputs skip its work.

Runs as a Prefect flow (one task per session). Engines are settings: --plugin Linear|MultiProc
(Nipype, within a session), --n-procs (sessions at once), task_runner=dask in calcisvd.toml
for a Dask cluster.

A modality that failed for a transient reason (out of memory, killed worker, disk or network
error: the machine, not the data) is retried on the next run; one that failed on its data keeps
its failure and reason (shown by `calcisvd status`) until its images or the measuring code
change, or until --retry-failed.

exit codes: 0 every session processed now was measured; 1 a modality failed in this run (its
reason is printed and kept in the measures file); 2 usage or configuration error.

examples:
  calcisvd quantify                 # new or changed sessions, transient failures
  calcisvd quantify --retry-failed  # and sessions that failed on their data
  calcisvd quantify --force         # everything again
"""

#: runs Prefect flows in this process (the CLI starts them without heartbeats)
RUNS_FLOWS = True


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `calcisvd quantify`."""
    parser.add_argument("--force", action="store_true",
                        help="re-quantify every session, even those up to date")
    parser.add_argument("--retry-failed", action="store_true",
                        help="also re-quantify sessions whose last failure was a data error")
    parser.add_argument("--plugin", dest="nipype_plugin", default=None,
                        choices=["Linear", "MultiProc", "SLURM"],
                        help="Nipype execution plugin (default from settings: Linear, each "
                             "session in a worker process; MultiProc runs a session's nodes "
                             "in parallel; SLURM submits nodes as jobs)")
    parser.add_argument("--n-procs", dest="n_procs", type=int, default=None,
                        help="sessions processed at once (default: number of CPUs)")


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run the quantify flow and print a summary."""
    from flows.quantify import run_quantify

    summary = run_quantify(settings, force=args.force, retry_failed=args.retry_failed)
    print(f"quantify: {summary['processed']} session(s) processed, "
          f"{summary['up_to_date']} up to date, {summary['with_failures']} with a failed "
          f"modality")
    print_failures(summary)
    if summary["qc_index"]:
        print(f"QC index: {summary['qc_index']}")
    return 1 if summary["with_failures"] else 0


def print_failures(summary: dict) -> None:
    """The failures of this run, and those kept from earlier runs (data errors)."""
    for r in summary["results"]:
        for part in ("icac", "svd"):
            if r.get(f"{part}_status") == "failed":
                print(f"  FAILED sub-{r['subject']}_ses-{r['session']} {part} "
                      f"({r.get(f'{part}_failure') or 'data'}): {r.get(f'{part}_reason')}")
    for line in summary.get("still_failed", []):
        print(f"  still failed: {line}")
