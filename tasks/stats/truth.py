"""Ground truth of a simulated cohort, shaped like the warehouse views (truth vs measured).

The simulator writes ``simulated_truth/<patient_id>/<visit>/truth.json``; the pseudonym of each
patient comes from the re-identification map (``secrets/reid_map.tsv``, authorised use). The
truth frames copy the measured frames and replace every marker by its true value, so that the
same analysis runs on both and measurement error becomes visible side by side.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from calcisvd.measures import ICAC_SESSION_MEASURES, SVD_MEASURES
from tasks.stats.data import AnalysisFrames

MARKERS = tuple(m for m in (*SVD_MEASURES, *ICAC_SESSION_MEASURES) if m != "microbleed_contrast")


def _session_order(label: str) -> int:
    digits = "".join(ch for ch in label if ch.isdigit())
    return int(digits) if digits else 0


def load_truth_table(truth_dir: Path, reid_map: Path,
                     grade: Callable[[dict], dict[str, dict]] | None = None,
                     ) -> pd.DataFrame | None:
    """One row per (subject, session) with the true markers; None without truth or map.

    The simulator stores raw truth (volumes, counts, extents); grades (Fazekas, SVD score,
    severity group...) come from ``grade(doc)`` -> ``{"svd": {...}, "icac": {...}}``, the
    truth side's own reading of the published definitions (``bench/truth_grades.py``), never
    the measurer's rules. Without ``grade`` the grade columns are missing (NaN), not copied
    from the measured values."""
    if not Path(truth_dir).is_dir() or not Path(reid_map).is_file():
        return None
    sessions: dict[str, set[str]] = {}
    subject_of: dict[str, str] = {}
    with open(reid_map, newline="") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            subject_of[row["patient_id"]] = row["subject"]
            sessions.setdefault(row["subject"], set()).add(row["session"])
    rows: list[dict[str, Any]] = []
    for path in sorted(Path(truth_dir).glob("*/*/truth.json")):
        doc = json.loads(path.read_text())
        subject = subject_of.get(str(doc.get("patient_id")))
        if subject is None:
            continue
        labels = sorted(sessions[subject], key=_session_order)
        visit = doc.get("visit")
        if visit == "baseline":
            session = labels[0]
        elif len(labels) > 1:
            session = labels[-1]
        else:
            continue  # follow-up simulated but not ingested (e.g. --messy dropped it)
        row: dict[str, Any] = {"subject": subject, "session": session}
        grades = grade(doc) if grade is not None else {}
        for block in ("icac", "svd"):
            values = {**(doc.get(block) or {}), **grades.get(block, {})}
            for m in MARKERS:
                if m in values:
                    row[m] = values[m]
        rows.append(row)
    return pd.DataFrame(rows) if rows else None


def truth_frames(measured: AnalysisFrames, truth: pd.DataFrame | None) -> AnalysisFrames | None:
    """Copies of the measured frames with every marker replaced by its true value."""
    if truth is None or measured.baseline is None or truth.empty:
        return None
    by_key = truth.set_index(["subject", "session"])
    first = truth.sort_values("session", key=lambda s: s.map(_session_order)) \
        .groupby("subject").first()
    last = truth.sort_values("session", key=lambda s: s.map(_session_order)) \
        .groupby("subject").last()

    def replace(df: pd.DataFrame, source: pd.DataFrame, key: str | list[str],
                suffix: str = "") -> pd.DataFrame:
        out = df.copy()
        idx = out.set_index(key).index
        for m in MARKERS:
            col = m + suffix
            if col in out.columns:  # a marker the truth lacks is unknown, not the measured one
                out[col] = (source[m].reindex(idx).to_numpy() if m in source.columns
                            else np.nan)
        return out

    baseline = replace(measured.baseline, first, "subject")
    change = None
    if measured.change is not None:
        change = replace(measured.change, first, "subject", "_baseline")
        change = replace(change, last, "subject", "_followup")
        for m in MARKERS:
            b, f, c = f"{m}_baseline", f"{m}_followup", f"{m}_change"
            if c in change.columns and b in change.columns and f in change.columns:
                change[c] = pd.to_numeric(change[f], errors="coerce") - pd.to_numeric(
                    change[b], errors="coerce")
        if "severity_group" in change.columns and "severity_group" in first.columns:
            change["severity_group"] = first["severity_group"].reindex(
                change["subject"]).to_numpy()
    sessions = None
    if measured.sessions is not None:
        sessions = replace(measured.sessions, by_key, ["subject", "session"])
    return AnalysisFrames(baseline=baseline, change=change, sessions=sessions,
                          icac_by_artery=None, source="ground truth")
