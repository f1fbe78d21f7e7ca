"""An existing BIDS dataset (a folder with ``dataset_description.json``) as a source.

Its subject labels are treated as the hospital patient IDs (they are re-pseudonymised), and
its sessions are placed in time from ``sub-X_sessions.tsv`` (``days_since_baseline``) or from
``M<months>`` labels; images whose session cannot be placed in time go to quarantine.
"""

from __future__ import annotations

import csv
import math
import re
from collections import defaultdict
from pathlib import Path

from tasks.ingest.bidsio import read_tsv_rows
from tasks.ingest.classify import KINDS
from tasks.ingest.deid import DAYS_PER_MONTH, keyed_hash
from tasks.ingest.plan import MAX_FOLLOW_UP_DAYS
from tasks.ingest.sources.base import (
    Context,
    Discovery,
    SeriesInput,
    Source,
    Study,
    unreadable_item,
)
from tasks.ingest.sources.nifti_folder import nifti_series, nifti_stem, read_sidecar

_ENT = re.compile(r"(?:^|_)(sub|ses|acq)-([A-Za-z0-9]+)")
_SUFFIX = {"T1w": "T1w", "T2w": "T2w", "FLAIR": "FLAIR", "T2starw": "T2starw", "swi": "T2starw",
           "ct": "ct", "CT": "ct"}


def bounded_days(value: float) -> int | None:
    """``value`` as whole days when finite and within 0..:data:`MAX_FOLLOW_UP_DAYS`."""
    if not math.isfinite(value) or not 0 <= value <= MAX_FOLLOW_UP_DAYS:
        return None
    return int(value)


def session_days(root: Path, subject: str, session: str | None) -> int | None:
    """Days since baseline of a BIDS session, from sessions.tsv or an ``M<n>`` label.

    ``None`` when the session cannot be placed in time, including non-finite, negative or
    out-of-range values (more than :data:`MAX_FOLLOW_UP_DAYS`).
    """
    if session is None:
        return 0
    try:
        rows = read_tsv_rows(root / f"sub-{subject}" / f"sub-{subject}_sessions.tsv")
    except (OSError, UnicodeDecodeError, csv.Error):
        rows = []  # an unreadable sessions.tsv: fall back on the label
    for row in rows:
        if row.get("session_id") == f"ses-{session}":
            try:
                return bounded_days(float(row.get("days_since_baseline") or ""))
            except ValueError:
                break
    m = re.fullmatch(r"M(\d{1,6})", session)
    if m:
        return bounded_days(int(m.group(1)) * DAYS_PER_MONTH)
    if re.fullmatch(r"(baseline|base|bl|01|1|pre)", session, flags=re.I):
        return 0
    return None


class BidsDatasetSource(Source):
    """Images of an existing BIDS dataset rooted at ``root`` (a folder under the drop)."""

    kind = "bids"

    def __init__(self, files: list[str], root: str):
        super().__init__(files)
        self.root = root

    def discover(self, ctx: Context) -> Discovery:
        """One series per image; kind from the BIDS suffix."""
        disc = Discovery()
        root = ctx.drop_dir / self.root
        groups: dict[tuple[str, str | None], list[SeriesInput]] = defaultdict(list)
        for rel in self.files:
            stem = nifti_stem(rel)
            ents = dict(_ENT.findall(stem))
            suffix = stem.rsplit("_", 1)[-1]
            kind = _SUFFIX.get(suffix)
            reason = f"{kind} (BIDS suffix)" if kind else f"BIDS suffix {suffix} not used"
            try:
                s, known = nifti_series(ctx, rel, kind if kind in KINDS else None, reason,
                                        read_sidecar(ctx.drop_dir / rel))
            except OSError as exc:
                disc.quarantine.append(unreadable_item(rel, keyed_hash(ctx.key, "path:" + rel),
                                                       exc))
                continue
            if known:
                disc.unchanged += 1
                continue
            assert s is not None
            if s.kind is None or "sub" not in ents:
                disc.skipped.append(s)
                continue
            groups[(ents["sub"], ents.get("ses"))].append(s)
        for (sub, ses), series in sorted(groups.items(), key=lambda kv: (kv[0][0],
                                                                           kv[0][1] or "")):
            days = session_days(root, sub, ses)
            if days is None:
                for s in series:
                    disc.quarantine.append(s.quarantine_item(
                        "BIDS session cannot be placed in time (no days_since_baseline in "
                        "sessions.tsv and no M<months> label, or a value that is not finite "
                        f"or beyond 0..{MAX_FOLLOW_UP_DAYS} days)", "unsupported"))
                    disc.quarantine_rows += s.file_rows
                continue
            disc.studies.append(Study(patient_id=sub, study_uid=f"bids:{sub}:{ses}", date=None,
                                      series=series, days_hint=days))
        return disc
