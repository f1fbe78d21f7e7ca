"""Turn discovered studies into sessions: subject pseudonyms, ``M<months>`` labels, conflicts.

Rules: the subject's baseline is its earliest study (kept in ``secrets/``); a later study
becomes session ``M<round(days/30.4375)>``; studies falling in the same month join one
session (the merge is reported in ``Plan.merged``); a study dated before an existing
baseline goes to quarantine. A study's date is its first valid StudyDate, SeriesDate,
AcquisitionDate or ContentDate (:data:`tasks.ingest.dicom.DATE_TAGS`); a study with none goes
to quarantine saying so, unless the ``undated`` rule is ``"baseline"``: the undated studies of
a subject with no dated study form its baseline session (cross-sectional exports, phantoms).

Two MR series of the same kind in one session keep the first (lowest series number) and
quarantine the others. For CT (calcium scoring) the reconstruction kept is the thinnest with a
standard/soft kernel and slice thickness <= ``ct_max_mm`` (3 mm: the Agatston method is
defined on 3 mm slices, Agatston et al. JACC 1990; thinner slices detect small calcifications
better, van der Bijl et al. Radiology 2010), else the thinnest; the other reconstructions are
listed as skipped series, each with its thickness, kernel and the reason.
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
    skipped: list[SeriesInput] = field(default_factory=list)  # other CT reconstructions
    merged: list[str] = field(default_factory=list)  # sessions made of several studies
    #: subject -> {old label: (new label, days)}: an earlier baseline arrived (relabel.py)
    relabels: dict[str, dict[str, tuple[str, int]]] = field(default_factory=dict)


#: ConvolutionKernel words of sharp (bone/lung) CT kernels: GE BONE/BONEPLUS/LUNG/EDGE/DETAIL,
#: Philips D/E/L/YC, "sharp"; Siemens/Canon kernels by number (H/Hr/J/Br/Qr/FC): >= 50 sharp
_SHARP_WORDS = ("BONE", "LUNG", "EDGE", "DETAIL", "SHARP", "ULTRA")
_SHARP_NUMBER = 50


def sharp_kernel(kernel: str) -> bool:
    """True for a bone/lung (sharp) CT reconstruction kernel (see :data:`_SHARP_WORDS`)."""
    import re

    k = (kernel or "").upper()
    if any(w in k for w in _SHARP_WORDS):
        return True
    m = re.match(r"^(?:HR|QR|BR|BV|H|J|I|FC|B|FL)(\d{2})", k.replace(" ", ""))
    return bool(m) and int(m.group(1)) >= _SHARP_NUMBER


def ct_preference(s: SeriesInput, max_mm: float) -> tuple:
    """Sort key of CT reconstructions: thin (<= max_mm) standard kernel first, then thinnest."""
    thick = s.thickness if s.thickness and s.thickness > 0 else float("inf")
    return (thick > max_mm, sharp_kernel(s.kernel), thick, s.order)


def _describe_ct(s: SeriesInput) -> str:
    thick = f"{s.thickness:g} mm" if s.thickness else "thickness unknown"
    return f"{thick}, kernel {s.kernel or 'unknown'}"


def _reject(plan: Plan, series: list[SeriesInput], reason: str, category: str) -> None:
    for s in series:
        plan.quarantine.append(s.quarantine_item(reason, category))
        plan.quarantine_rows += s.file_rows


NO_DATE_REASON = (
    "no visit date: StudyDate, SeriesDate, AcquisitionDate and ContentDate are all empty, "
    "masked (e.g. '***') or not a date (YYYYMMDD). Set StudyDate in the files and send them "
    "again (a changed file is read again), or set ingest_undated = \"baseline\" to place "
    "undated studies of a subject without dated studies at its baseline")


def plan_sessions(studies: list[Study], key: bytes, baselines: dict[str, str], *,
                  undated: str = "quarantine", ct_max_mm: float = 3.0,
                  existing: dict[str, dict[str, int]] | None = None) -> Plan:
    """Assign subject and session labels to ``studies`` (see the module docstring).

    ``existing`` (subject -> {session: days}, the ledger's sessions) lets a study dated
    before a recorded baseline become the new baseline: the existing sessions are re-labelled
    (``Plan.relabels``, applied by :mod:`tasks.ingest.relabel`) unless two of them would
    share a label, in which case the earlier study is quarantined (``timeline``).
    """
    from tasks.ingest.relabel import new_labels

    plan = Plan()
    existing = existing or {}
    by_subject: dict[str, list[Study]] = defaultdict(list)
    for study in studies:
        if study.series:
            by_subject[pseudonym(key, study.patient_id)].append(study)
    for subject, subj_studies in sorted(by_subject.items()):
        known = baselines.get(subject)
        baseline = dt.date.fromisoformat(known) if known else None
        dated: list[tuple[dt.date, Study]] = []
        no_date: list[Study] = []
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
                no_date.append(st)
                continue
            dated.append((date, st))
        if no_date and undated == "baseline" and not dated and baseline is None:
            dated = [(ANCHOR_DATE, st) for st in no_date]  # rule: they are the baseline
        elif no_date:
            for st in no_date:
                _reject(plan, st.series, NO_DATE_REASON, "date")
        if not dated:
            continue
        if baseline is None:
            baseline = min(d for d, _ in dated)
        elif existing.get(subject) and min(d for d, _ in dated) < baseline:
            earliest = min(d for d, _ in dated)
            mapping = new_labels(existing[subject], (baseline - earliest).days)
            if len({new for new, _d in mapping.values()}) == len(mapping):
                plan.relabels[subject] = mapping
                baseline = earliest
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
                        "baseline already in the dataset: re-labelling its existing sessions "
                        "from this earlier baseline would give two of them one label",
                        "timeline")
                continue
            label = session_label(days)
            sp = sessions.setdefault(label, SessionPlan(subject, label, days,
                                                        baseline.isoformat()))
            if sp.reid_rows:
                plan.merged.append(f"{sp.name}: study {len(sp.reid_rows) + 1} of the session "
                                   f"joined by the same-month rule (day {days})")
            sp.series += st.series
            sp.reid_rows.append({"patient_id": st.patient_id, "subject": subject,
                                 "study_instance_uid": st.study_uid, "session": label})
        for sp in sessions.values():
            chosen: dict[str, SeriesInput] = {}
            ct = sorted((s for s in sp.series if s.kind == "ct"),
                        key=lambda s: ct_preference(s, ct_max_mm))
            for s in ct[1:]:
                s.kind, s.reason = None, (
                    f"other CT reconstruction ({_describe_ct(s)}) of {sp.name}: kept the "
                    f"thinnest standard-kernel one <= {ct_max_mm:g} mm ({_describe_ct(ct[0])})")
                plan.skipped.append(s)
            for s in sorted(sp.series, key=lambda s: s.order):
                kind = s.kind or ""
                if not kind:
                    continue
                if kind in chosen:
                    _reject(plan, [s], f"duplicate series: a second {BIDS_NAME[kind]} series "
                            f"for {sp.name}; the first one was kept", "duplicate")
                else:
                    chosen[kind] = s
            sp.series = list(chosen.values())
            plan.sessions.append(sp)
    plan.sessions.sort(key=lambda sp: (sp.subject, sp.days))
    return plan
