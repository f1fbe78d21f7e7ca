"""Ratings of sessions by people: ``calcisvd qc rate`` and the buttons of ``calcisvd qc serve``.

A rating is one insert into ``qc_ratings`` (migration 003): who (the OS user or the name
given), when (UTC), the verdict (``pass`` | ``review`` | ``fail``) and a reason. Rows are never
updated or deleted, so the history stays; the latest per session counts
(view ``v_qc_latest_rating``). Analytics read the verdict through ``v_session_qc``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from warehouse import db

RATINGS: tuple[str, ...] = ("pass", "review", "fail")
SOURCES: tuple[str, ...] = ("cli", "web")
_SESSION_RE = re.compile(r"^(?:sub-)?([A-Za-z0-9]+)[_/: ](?:ses-)?([A-Za-z0-9]+)$")


class RatingError(ValueError):
    """A rating that cannot be stored (unknown session, bad verdict); the message says why."""


@dataclass(frozen=True)
class Rating:
    """One stored rating."""

    rating_id: int
    subject: str
    session: str
    rating: str
    reason: str | None
    rater: str
    source: str
    rated_at: datetime


def parse_session(text: str) -> tuple[str, str]:
    """``(subject, session)`` labels from ``sub-X_ses-Y``, ``sub-X/ses-Y`` or ``X:Y``."""
    m = _SESSION_RE.match(text.strip())
    if not m:
        raise RatingError(f"session {text!r}: expected sub-<label>_ses-<label> "
                          "(e.g. sub-ab12cd34ef_ses-M00)")
    return m.group(1), m.group(2)


def add_rating(con: Any, subject: str, session: str, rating: str, reason: str | None,
               rater: str, source: str = "cli", now: datetime | None = None) -> Rating:
    """Insert one rating (read-write connection) and return it.

    Refuses (:class:`RatingError`) a verdict outside :data:`RATINGS`, an empty rater and a
    session that the warehouse does not know (table ``sessions``).
    """
    if rating not in RATINGS:
        raise RatingError(f"rating {rating!r}: expected one of {', '.join(RATINGS)}")
    if source not in SOURCES:
        raise RatingError(f"source {source!r}: expected one of {', '.join(SOURCES)}")
    if not rater or not rater.strip():
        raise RatingError("rater: empty (give --rater NAME)")
    known = con.execute("SELECT count(*) FROM sessions WHERE subject = ? AND session = ?",
                        [subject, session]).fetchone()[0]
    if not known:
        raise RatingError(f"sub-{subject}_ses-{session}: not in the warehouse (run "
                          "`calcisvd load`, or check the label with `calcisvd qc list`)")
    now = now or datetime.now(UTC)
    params = {"subject": subject, "session": session, "rating": rating,
              "reason": (reason or "").strip() or None, "rater": rater.strip(),
              "source": source, "rated_at": now}
    with db.transaction(con):
        rating_id = con.execute(db.read_sql("sql/insert_qc_rating.sql"), params).fetchone()[0]
    return Rating(rating_id=int(rating_id), subject=subject, session=session, rating=rating,
                  reason=params["reason"], rater=params["rater"], source=source, rated_at=now)


def rating_history(con: Any, subject: str | None = None,
                   session: str | None = None) -> list[dict[str, Any]]:
    """Every rating (of one session when given), oldest first."""
    sql = ("SELECT rating_id, subject, session, rating, reason, rater, source, rated_at "
           "FROM qc_ratings WHERE ($subject IS NULL OR subject = $subject) "
           "AND ($session IS NULL OR session = $session) ORDER BY rated_at, rating_id")
    cur = con.execute(sql, {"subject": subject, "session": session})
    cols = [c[0] for c in cur.description]
    return [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]


def session_qc(con: Any) -> list[dict[str, Any]]:
    """Rows of ``v_session_qc`` (statuses, latest rating, decision, QC metrics)."""
    cur = con.execute("SELECT * FROM v_session_qc ORDER BY subject, session")
    cols = [c[0] for c in cur.description]
    return [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]


def session_iqms(con: Any) -> dict[tuple[str, str], dict[str, tuple[float | None, str]]]:
    """Image-quality metrics per session: ``{(subject, session): {"iqm_<modality>_<metric>":
    (value, unit)}}`` (table ``session_iqms``; empty when the table is absent)."""
    try:
        rows = con.execute(db.read_sql("sql/session_iqms.sql")).fetchall()
    except Exception as exc:  # an older warehouse without migration 004
        if "session_iqms" not in str(exc):
            raise
        return {}
    out: dict[tuple[str, str], dict[str, tuple[float | None, str]]] = {}
    for sub, ses, modality, metric, value, unit in rows:
        out.setdefault((sub, ses), {})[f"iqm_{modality}_{metric}"] = (value, unit)
    return out
