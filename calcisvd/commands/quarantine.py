"""`calcisvd quarantine list | show ID | retry ID | dismiss ID`: look at and act on quarantine."""

from __future__ import annotations

import argparse
import json

from calcisvd.settings import Settings

HELP = "list quarantined input; show, retry or dismiss an item"
DESCRIPTION = """\
Input that could not be ingested is copied to quarantine/q-<id>/ with a reason.json saying
what is wrong and how to fix it. Skipped series (localizers, dose reports, diffusion, other
CT reconstructions, ...) are listed in quarantine/skipped/.

  list         every item: id, status, category, number of files, reason (--skipped: the
               skipped series too; --json: as JSON)
  show ID      the item's files in drop/ (records keep only SHA-256 hashes of paths: export
               folder names may carry identifiers); printed here, never logged
  retry ID     the next `calcisvd ingest` reads the item's files in drop/ again and judges
               their series anew (after you fixed something outside the files: a setting,
               a site heuristic, a missing slice added under another name)
  dismiss ID   stop reporting the item: its files stay out of the dataset until they change

Changing a file in drop/ needs no retry: a changed file is read again and its whole series
judged anew. Deleting a quarantine folder by hand acts as retry.

examples:
  calcisvd quarantine list
  calcisvd quarantine retry q-3107eeb062550bd3
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `calcisvd quarantine`."""
    parser.add_argument("action", choices=["list", "show", "retry", "dismiss"])
    parser.add_argument("id", nargs="?", default=None,
                        help="item id (q-...) for show/retry/dismiss")
    parser.add_argument("--skipped", action="store_true", help="list skipped series too")
    parser.add_argument("--json", action="store_true", help="print as JSON")


def run(args: argparse.Namespace, settings: Settings) -> int:
    """List, retry or dismiss; exit 2 for an unknown id or a missing one."""
    from tasks.ingest.quarantine_admin import act, listing, show

    if args.action == "list":
        items = listing(settings.ingest_config(), skipped=args.skipped)
        if args.json:
            print(json.dumps(items, indent=2))
            return 0
        for it in items:
            print(f"{it['id']:<20} {it['status']:<9} {it['category']:<12} "
                  f"{it['n_files']:>5}  {it['reason'][:140]}")
        print(f"{len(items)} item(s)")
        return 0
    if not args.id:
        print(f"calcisvd quarantine {args.action}: give the item id (see `quarantine list`)")
        return 2
    if args.action == "show":
        ok, files = show(settings.ingest_config(), args.id)
        print("\n".join(files) if ok else f"no quarantine item {args.id!r}")
        if ok:
            print(f"{len(files)} file(s) of {args.id} in {settings.drop_dir}")
        return 0 if ok else 2
    ok, message = act(settings.ingest_config(), args.action, args.id)
    print(message)
    return 0 if ok else 2
