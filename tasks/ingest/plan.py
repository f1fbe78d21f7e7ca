"""Turn discovered studies into sessions: subject pseudonyms, ``M<months>`` labels, conflicts.

Rules: the subject's baseline is its earliest study (kept in ``secrets/``); a later study
becomes session ``M<round(days/30.4375)>``; studies falling in the same month join one
session; a study dated before an existing baseline, or without a date, goes to quarantine;
two series of the same kind in one session keep the first (lowest series number) and
quarantine the others.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

from tasks.ingest.classify import BIDS_NAME
from tasks.ingest.deid import pseudonym, session_label
from tasks.ingest.quarantine import QuarantineItem
from tasks.ingest.sources.base import FileRow, SeriesInput, Study

ANCHOR_DATE = dt.date(2000, 1, 1)
#: the longest follow-up (days) a study may have: 150 years, a human lifetime bound
MAX_FOLLOW_UP_DAYS = round(150 * 365.25)  # baseline of subjects known only by relative days (BIDS)


@dataclass
class SessionPlan:
    """One session to write: new series for ``sub-<subject>/ses-<session>``."""

    subject: str
    session: str
    days: int
    baseline: str  # ISO date of the subject's baseline (secret; never written to BIDS)
    series: list[SeriesInput] = field(default_factory=list)
    reid_rows: list[dict[str, str]] = field(default_factory=list)

    @property
    def name(self) -> str:
        """``sub-X_ses-Y`` (no PHI)."""
        return f"sub-{self.subject}_ses-{self.session}"


@dataclass
class Plan:
    """Sessions to write, plus what the planner itself sends to quarantine."""

    sessions: list[SessionPlan] = field(default_factory=list)
    quarantine: list[QuarantineItem] = field(default_factory=list)
    quarantine_rows: list[FileRow] = field(default_factory=list)


def _reject(plan: Plan, series: list[SeriesInput], reason: str, category: str) -> None:
    for s in series:
        plan.quarantine.append(s.quarantine_item(reason, category))
        plan.quarantine_rows += s.file_rows


def plan_sessions(studies: list[Study], key: bytes, baselines: dict[str, str]) -> Plan:
    """Assign subject and session labels to ``studies`` (see the module docstring)."""
    plan = Plan()
    by_subject: dict[str, list[Study]] = defaultdict(list)
    for study in studies:
        if study.series:
            by_subject[pseudonym(key, study.patient_id)].append(study)
    for subject, subj_studies in sorted(by_subject.items()):
        known = baselines.get(subject)
        baseline = dt.date.fromisoformat(known) if known else None
        dated: list[tuple[dt.date, Study]] = []
        for st in subj_studies:
            date = st.date
            if date is None and st.days_hint is not None:
                try:
                    date = (baseline or ANCHOR_DATE) + dt.timedelta(days=st.days_hint)
                except (OverflowError, ValueError):
                    _reject(plan, st.series, "session offset out of range: cannot place it "
                            "in the subject's timeline", "unsupported")
                    continue
            if date is None:
                _reject(plan, st.series, "study without a valid StudyDate: cannot place it "
                        "in the subject's timeline", "unsupported")
                continue
            dated.append((date, st))
        if not dated:
            continue
        if baseline is None:
            baseline = min(d for d, _ in dated)
        sessions: dict[str, SessionPlan] = {}
        for date, st in sorted(dated, key=lambda t: (t[0], t[1].study_uid)):
            days = (date - baseline).days
            if days > MAX_FOLLOW_UP_DAYS:
                _reject(plan, st.series, f"study dated {days} days after the subject's "
                        f"baseline (more than {MAX_FOLLOW_UP_DAYS}): cannot be a follow-up",
                        "timeline")
                continue
            if days < 0:
                _reject(plan, st.series, f"study dated {-days} days before the subject's "
                        "baseline already in the dataset (a new baseline would relabel "
                        "existing sessions)", "timeline")
                continue
            label = session_label(days)
            sp = sessions.setdefault(label, SessionPlan(subject, label, days,
                                                        baseline.isoformat()))
            sp.series += st.series
            sp.reid_rows.append({"patient_id": st.patient_id, "subject": subject,
                                 "study_instance_uid": st.study_uid, "session": label})
        for sp in sessions.values():
            chosen: dict[str, SeriesInput] = {}
            for s in sorted(sp.series, key=lambda s: s.order):
                kind = s.kind or ""
                if kind in chosen:
                    _reject(plan, [s], f"duplicate series: a second {BIDS_NAME[kind]} series "
                            f"for {sp.name}; the first one was kept", "duplicate")
                else:
                    chosen[kind] = s
            sp.series = list(chosen.values())
            plan.sessions.append(sp)
    plan.sessions.sort(key=lambda sp: (sp.subject, sp.days))
    return plan
