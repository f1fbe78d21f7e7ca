"""`calcisvd qc rate | list | history | serve`: rate sessions and look at quality control."""

from __future__ import annotations

import argparse
import json

from calcisvd.settings import Settings

HELP = "rate sessions (pass/review/fail), list QC status, serve the QC pages"
DESCRIPTION = """\
Quality control of the measured sessions, kept in the warehouse (var/calcisvd.duckdb).

  rate SESSION  record a verdict on a session: --rating pass|review|fail and --reason TEXT;
                who = your OS user (or --rater NAME), when = now (UTC). Ratings are never
                overwritten: the history stays in table qc_ratings and the latest counts.
  list          one line per session: MRI and CT status, latest rating, the QC decision
                (fail | review | pass | ok) and why (--json: every QC metric too)
  history [SESSION]  every rating (of one session), oldest first
  serve         the QC pages as a small local web app on 127.0.0.1 (--port; 0 = any free
                port) with pass/review/fail buttons that record the same ratings

`calcisvd analyze` leaves out sessions rated fail and sessions in review (a method marked
the MRI or CT `review` and nobody rated them pass); `calcisvd analyze --include-review`
keeps the review sessions. SESSION is sub-<label>_ses-<label> (e.g. sub-ab12cd34ef_ses-M00).

examples:
  calcisvd qc list
  calcisvd qc rate sub-ab12cd34ef_ses-M00 --rating fail --reason "brain mask in the neck"
  calcisvd qc rate sub-ab12cd34ef_ses-M12 --rating pass --reason "checked: WMH correct"
  calcisvd qc serve --port 8765
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `calcisvd qc`."""
    parser.add_argument("action", choices=["rate", "list", "history", "serve"])
    parser.add_argument("session", nargs="?", default=None,
                        help="sub-<label>_ses-<label> (rate, history)")
    parser.add_argument("--rating", choices=["pass", "review", "fail"], default=None,
                        help="the verdict (rate)")
    parser.add_argument("--reason", default=None, help="why (rate); free text")
    parser.add_argument("--rater", default=None, help="who rates (default: the OS user)")
    parser.add_argument("--json", action="store_true", help="print as JSON (list, history)")
    parser.add_argument("--port", type=int, default=8765,
                        help="port of `qc serve` on 127.0.0.1 (default 8765; 0 = a free one)")


def default_rater() -> str:
    """The OS user name (the rater when --rater is not given)."""
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Rate, list, show history or serve; exit 2 on a bad session or missing option."""
    from pathlib import Path

    if args.action == "serve":
        from tasks.qc.server import serve

        return serve(Path(settings.warehouse_path), Path(settings.derivatives_dir),
                     default_rater(), port=args.port)
    from warehouse import ratings
    from warehouse.resource import Warehouse

    path = Path(settings.warehouse_path)
    if not path.is_file():
        print(f"calcisvd qc: no warehouse at {path}; run `calcisvd load` first")
        return 1
    if args.action == "rate":
        if not args.session or not args.rating:
            print("calcisvd qc rate: give SESSION and --rating pass|review|fail")
            return 2
        try:
            subject, session = ratings.parse_session(args.session)
            with Warehouse(path).write() as con:
                r = ratings.add_rating(con, subject, session, args.rating, args.reason,
                                       args.rater or default_rater(), "cli")
        except ratings.RatingError as exc:
            print(f"calcisvd qc rate: {exc}")
            return 2
        print(f"sub-{r.subject}_ses-{r.session}: {r.rating} by {r.rater} at "
              f"{r.rated_at.isoformat(timespec='seconds')} (rating {r.rating_id})")
        return 0
    subject = session = None
    if args.action == "history" and args.session:
        try:
            subject, session = ratings.parse_session(args.session)
        except ratings.RatingError as exc:
            print(f"calcisvd qc history: {exc}")
            return 2
    with Warehouse(path).read() as con:
        rows = (ratings.rating_history(con, subject, session) if args.action == "history"
                else ratings.session_qc(con))
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
        return 0
    if args.action == "history":
        for r in rows:
            print(f"{r['rated_at']:%Y-%m-%d %H:%M:%S} sub-{r['subject']}_ses-{r['session']} "
                  f"{r['rating']:<6} {r['rater']} ({r['source']}): {r['reason'] or ''}")
        print(f"{len(rows)} rating(s)")
        return 0
    for r in rows:
        why = r["rating_reason"] if r["rating"] else (r["svd_reason"] or r["icac_reason"])
        print(f"sub-{r['subject']}_ses-{r['session']:<5} MRI {r['svd_status'] or '-':<8} "
              f"CT {r['icac_status'] or '-':<8} rated {r['rating'] or '-':<6} "
              f"-> {r['qc_decision']:<6} {(why or '')[:100]}")
    print(f"{len(rows)} session(s)")
    return 0
