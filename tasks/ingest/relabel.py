"""A baseline that arrives after its follow-ups: the one path that re-labels a subject.

Session labels count months since the subject's first study (``M<round(days/30.4375)>``).
When a study dated before the recorded baseline arrives (a follow-up exported first, the
baseline later), the planner takes the earlier date as the new baseline
(:attr:`tasks.ingest.plan.Plan.relabels`) and, before any session is written, this module:

1. rebuilds ``sub-<p>/`` in the staging folder with every existing session under its new
   label (files hard-linked and renamed, ``scans.tsv`` rewritten) and swaps the subject
   folder in one :func:`tasks.ingest.fsutil.replace_dir` (an interrupted swap is repaired by
   :func:`tasks.ingest.fsutil.recover_dirs` at the next run);
2. re-labels the ledger's sessions and series, the re-identification map and the secret
   baseline date;
3. removes the subject's derivatives (``<derivatives>/sub-<p>/``): their labels and
   follow-up times are wrong now, and the next ``quantify`` redoes every session of the
   subject (no results = to do); ``load`` then writes the warehouse from the new labels.

The new studies of the run are then written under labels counted from the new baseline.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from tasks.ingest import bidsio
from tasks.ingest.deid import session_label
from tasks.ingest.fsutil import replace_dir, write_text_atomic


def new_labels(sessions: dict[str, int], shift_days: int) -> dict[str, tuple[str, int]]:
    """``old label -> (new label, new days)`` when the baseline moves ``shift_days`` earlier."""
    return {ses: (session_label(days + shift_days), days + shift_days)
            for ses, days in sessions.items()}


def _renamed(name: str, subject: str, mapping: dict[str, tuple[str, int]]) -> str:
    for old, (new, _days) in mapping.items():
        if name == f"ses-{old}":
            return f"ses-{new}"
        prefix = f"sub-{subject}_ses-{old}_"
        if name.startswith(prefix):
            return f"sub-{subject}_ses-{new}_" + name[len(prefix):]
    return name


def relabel_bids_subject(bids_dir: Path, staging_root: Path, subject: str,
                         mapping: dict[str, tuple[str, int]]) -> bool:
    """Swap ``sub-<subject>/`` for a copy whose sessions carry their new labels; True when
    something changed. Labels must stay distinct (they do: the shift is the same for all)."""
    target = bids_dir / f"sub-{subject}"
    if not target.is_dir() or all(old == new for old, (new, _d) in mapping.items()):
        return False
    staged = staging_root / f"relabel-{subject}.{os.getpid()}" / f"sub-{subject}"
    shutil.rmtree(staged.parent, ignore_errors=True)
    staged.mkdir(parents=True)
    try:
        for src in sorted(target.rglob("*")):
            rel = src.relative_to(target)
            dest = staged.joinpath(*(_renamed(part, subject, mapping) for part in rel.parts))
            if src.is_dir():
                dest.mkdir(parents=True, exist_ok=True)
            elif not src.name.endswith("_scans.tsv"):
                dest.parent.mkdir(parents=True, exist_ok=True)
                os.link(src, dest)
        for ses in staged.glob("ses-*"):
            write_text_atomic(ses / f"sub-{subject}_{ses.name}_scans.tsv",
                              bidsio.scans_tsv_text(ses))
        replace_dir(staged, target)
    finally:
        shutil.rmtree(staged.parent, ignore_errors=True)
    return True


def relabel_reid_map(path: Path, subject: str, mapping: dict[str, tuple[str, int]]) -> None:
    """The re-identification map's session column for ``subject`` (mode 0600)."""
    rows = bidsio.read_tsv_rows(path)
    for r in rows:
        if r.get("subject") == subject and r.get("session") in mapping:
            r["session"] = mapping[r["session"]][0]
    text = bidsio._tsv(bidsio.REID_COLUMNS, sorted(
        (tuple(r[c] for c in bidsio.REID_COLUMNS) for r in rows),
        key=lambda r: (r[1], r[3], r[2])))
    write_text_atomic(path, text, mode=0o600)


def remove_derivatives(derivatives_dir: Path, subject: str) -> bool:
    """Remove ``<derivatives>/sub-<subject>/`` (redone by the next quantify)."""
    folder = Path(derivatives_dir) / f"sub-{subject}"
    if not folder.is_dir():
        return False
    shutil.rmtree(folder)
    return True
