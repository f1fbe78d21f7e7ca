"""Which sessions the statistics leave out, and why: quality control decides.

A session is excluded when its latest rating (``qc_ratings``) is ``fail``, or when it is in
``review`` (a method marked the MRI or the CT ``review``, or a person rated it ``review``) and
nobody rated it ``pass``; ``include_review=True`` keeps the review sessions (a failed rating
still excludes). The decision per session comes from the warehouse view ``v_session_qc``
(column ``qc_decision``). Excluding a session removes: its row from the session frame and
the artery frame; the subject from the baseline frame when it is the baseline session; the
subject from the change frame when it is the baseline or the follow-up session used there.
Pure functions on DataFrames.
"""

from __future__ import annotations

from dataclasses import replace

import pandas as pd

from tasks.stats.data import AnalysisFrames


def excluded_sessions(session_qc: pd.DataFrame | None, include_review: bool = False
                      ) -> pd.DataFrame:
    """Columns ``subject, session, visit, decision, why`` of every excluded session."""
    cols = ["subject", "session", "visit", "decision", "why"]
    if session_qc is None or not len(session_qc):
        return pd.DataFrame(columns=cols)
    drop = {"fail"} if include_review else {"fail", "review"}
    qc = session_qc[session_qc["qc_decision"].isin(drop)]
    rows = []
    for r in qc.to_dict("records"):
        rows.append({"subject": r["subject"], "session": r["session"], "visit": r.get("visit"),
                     "decision": r["qc_decision"], "why": _why(r)})
    return pd.DataFrame(rows, columns=cols)


def _text(value: object) -> str | None:
    return None if value is None or (isinstance(value, float) and value != value) \
        else str(value)


def _why(r: dict) -> str:
    if r.get("rating") in ("fail", "review"):
        who = _text(r.get("rater")) or "someone"
        reason = _text(r.get("rating_reason"))
        return f"rated {r['rating']} by {who}" + (f": {reason}" if reason else "")
    parts = []
    for side, label in (("svd", "MRI"), ("icac", "CT")):
        if r.get(f"{side}_status") == "review":
            reason = _text(r.get(f"{side}_reason"))
            parts.append(f"{label} review" + (f" ({reason})" if reason else ""))
    return "; ".join(parts) or "review"


def apply_exclusions(frames: AnalysisFrames, excluded: pd.DataFrame) -> AnalysisFrames:
    """``frames`` without the ``excluded`` sessions (see the module docstring)."""
    if not len(excluded):
        return frames
    keys = set(zip(excluded["subject"], excluded["session"], strict=True))
    base_subjects = {s for s, v in zip(excluded["subject"], excluded["visit"], strict=True)
                     if v == "baseline"}

    def without_sessions(df: pd.DataFrame | None) -> pd.DataFrame | None:
        if df is None or not len(df) or "session" not in df:
            return df
        mask = [(a, b) not in keys for a, b in zip(df["subject"], df["session"], strict=True)]
        return df[mask].reset_index(drop=True)

    change = frames.change
    if change is not None and len(change) and "baseline_session" in change:
        mask = [(s, b) not in keys and (s, f) not in keys for s, b, f in zip(
            change["subject"], change["baseline_session"], change["followup_session"],
            strict=True)]
        change = change[mask].reset_index(drop=True)
    elif change is not None and len(change):  # no session labels: any excluded session drops
        change = change[~change["subject"].isin(set(excluded["subject"]))].reset_index(
            drop=True)
    base = frames.baseline
    base = base[~base["subject"].isin(base_subjects)].reset_index(drop=True)
    return replace(frames, baseline=base, change=change,
                   sessions=without_sessions(frames.sessions),
                   icac_by_artery=without_sessions(frames.icac_by_artery))


def exclusion_notes(excluded: pd.DataFrame, include_review: bool) -> list[str]:
    """Sentences for the report: how many sessions were left out, why, and how to keep them."""
    if not len(excluded):
        return ["quality control: no session excluded"
                + (" (review sessions included: --include-review)" if include_review else "")]
    counts = excluded["decision"].value_counts()
    n_fail, n_review = int(counts.get("fail", 0)), int(counts.get("review", 0))
    parts = []
    if n_fail:
        parts.append(f"{n_fail} rated fail")
    if n_review:
        parts.append(f"{n_review} in review (a method or a rater said review; none rated "
                     "pass)")
    tail = ("; review sessions are included (--include-review)" if include_review else
            "; `calcisvd analyze --include-review` keeps the review sessions, "
            "`calcisvd qc rate SESSION --rating pass` accepts one")
    return [f"quality control: {len(excluded)} session(s) excluded from the statistics: "
            + ", ".join(parts) + tail + " (table qc_exclusions lists them)"]
