"""`calcisvd run`: the whole pipeline."""

from __future__ import annotations

import argparse

from calcisvd.settings import Settings

HELP = "the whole pipeline: ingest, quantify, load, validate, analyze"
DESCRIPTION = """\
Run every stage in order as one Prefect flow (each stage a subflow):

  ingest    drop/ -> bids_dataset/ (de-identified; bad input to quarantine/)
  quantify  bids_dataset/ -> bids_dataset/derivatives/calcisvd/ (new or changed sessions only)
  load      derivatives -> var/calcisvd.duckdb, through staging tables
  validate  Great Expectations suites gate what reaches the curated tables
  analyze   reports/ (paper Tables 1-4, adjusted and mixed models, figures)

Everything is incremental: a rerun with nothing new does almost nothing, and a new follow-up
session is ingested, quantified and loaded alone before the analytics are refreshed.
The Prefect API is the embedded one (PREFECT_HOME=var/prefect) unless PREFECT_API_URL points
at a server (see README: operating with a Prefect server and workers).

Load, validate and analyze are skipped when what they read did not change since their last
run (fingerprints in the warehouse and beside the latest report): a rerun with nothing new
takes seconds. Sessions whose measurement failed on their data stay failed until their images
change or --retry-failed; transient failures (machine trouble) are retried by every run.

exit codes: 0 all stages done and every session measured in this run; 1 a stage failed, or a
session's CT or MRI measurement failed in this run (see `calcisvd status`); 2 usage or
configuration error; 3 ingest found another ingest holding the lock (nothing new ingested);
4 partial: ingest quarantined input or failed a session (the rest went through every stage).
The first that applies of 1, 4, 3 is the exit code.

examples:
  calcisvd simulate && calcisvd run        # the demo
  calcisvd run --stages ingest quantify    # some stages only
"""

#: runs Prefect flows in this process (the CLI starts them without heartbeats)
RUNS_FLOWS = True


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `calcisvd run`."""
    parser.add_argument("--stages", nargs="+", default=None, metavar="STAGE",
                        choices=["ingest", "quantify", "load", "validate", "analyze"],
                        help="run only these stages, in pipeline order (default: all)")
    parser.add_argument("--retry-failed", action="store_true",
                        help="re-quantify sessions whose last failure was a data error too")


def skipped_stages(results: dict) -> list[str]:
    """Stages that did not run because their inputs had not changed.

    A skipped stage's result says ``"skipped": True``; ingest's ``skipped`` is a count of
    skipped series (dose reports, scouts), which a first run that ingested everything has too."""
    return [stage for stage, res in results.items()
            if isinstance(res, dict) and res.get("skipped") is True]


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run the pipeline flow; print timings and where to look next."""
    from calcisvd.commands.ingest import EXIT_PARTIAL, ingest_exit_code
    from calcisvd.commands.quantify import print_failures
    from flows.pipeline import pipeline_flow

    try:
        result = pipeline_flow(settings=settings, stages=args.stages,
                               retry_failed=args.retry_failed)
    except Exception as exc:
        from calcisvd.redact import redact

        print(f"\ncalcisvd run: FAILED: {redact(str(exc))}\n"
              "see `calcisvd status` and the Prefect run logs for the failing stage")
        return 1
    quantified = result["results"].get("quantify") or {}
    failed = quantified.get("with_failures", 0)
    ingest_code = ingest_exit_code(result["results"].get("ingest") or {})
    verdict = ("done, with failed measurements" if failed else
               {EXIT_PARTIAL: "done, ingest partial (input quarantined or a session failed; "
                              "see `calcisvd status`)",
                3: "done, ingest skipped: another ingest holds the lock"}.get(ingest_code,
                                                                              "done"))
    print(f"\ncalcisvd run: {verdict}")
    for stage, sec in result["timings"].items():
        print(f"  {stage:<9} {sec:8.1f} s")
    for stage in skipped_stages(result["results"]):
        print(f"  {stage}: skipped, inputs unchanged since its last successful run")
    if quantified:
        print_failures(quantified)
    print("\nwhere to look next:")
    for what, where in result["where_to_look"].items():
        print(f"  {what:<17} {where}")
    return 1 if failed else ingest_code
