"""Hold back the cells that fail a row-level expectation, so one bad value never blocks a batch.

Gating stays: the suites still run on the whole staged batch. But for the tables in
:data:`HOLD_BACK`, a value that breaks one of the suite's own row-level expectations
(``expect_column_values_to_be_between``, ``..._to_be_in_set``) is removed from the batch (set
to NULL) *before* staging, and recorded with its reason (table, row key, column, rule; never
the value), in the load summary and in ``ingest_log`` (level ``HELD``), which ``status``
shows. The bounds come from ``expectations/suites/<table>.json``: one home for each rule.

For the tables in :data:`ROW_HOLD_BACK` (sessions, ICAC and SVD measures) a row breaking one
of those rules is held back whole: it is left out of the staged batch, with the rows that
depend on it (a session's scans and measures; a session's ICAC summary and artery rows go
together; a subject whose baseline session is held back has its follow-ups held back too, as
their days are counted from it). The curated tables keep the last version of those rows that
passed (promotion only touches the sessions it is given), and the rest of the batch loads.
Rules that are not about one row (types, nulls, uniqueness, cross-table checks) still gate the
whole batch.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Final

#: table -> key columns, for the tables whose failing cells are held back
HOLD_BACK: Final[dict[str, tuple[str, ...]]] = {"subjects": ("subject",)}
_ROW_RULES: Final[frozenset[str]] = frozenset({"expect_column_values_to_be_between",
                                               "expect_column_values_to_be_in_set"})


#: table -> key columns, for the tables whose failing rows are held back whole
ROW_HOLD_BACK: Final[dict[str, tuple[str, ...]]] = {
    "sessions": ("subject", "session"),
    "icac_session_measures": ("subject", "session"),
    "icac_artery_measures": ("subject", "session", "artery", "side"),
    "svd_measures": ("subject", "session"),
}
#: table -> the tables whose rows of the same (subject, session) are held back with it
_DEPENDENTS: Final[dict[str, tuple[str, ...]]] = {
    "sessions": ("scans", "icac_session_measures", "icac_artery_measures", "svd_measures",
                 "session_iqms"),
    "icac_session_measures": ("icac_artery_measures",),
    "icac_artery_measures": ("icac_session_measures", "icac_artery_measures"),
    "svd_measures": (),
}


#: key columns of the tables held back only as dependents (not in ROW_HOLD_BACK)
_DEPENDENT_KEYS: Final[dict[str, tuple[str, ...]]] = {
    "scans": ("path",),
    "session_iqms": ("subject", "session", "modality", "metric"),
}


def row_rules(table: str, suites_dir: Path | None = None) -> list[dict[str, Any]]:
    """The row-level expectations of ``table``'s suite (``type`` and ``kwargs``)."""
    if suites_dir is None:
        from expectations.runner import SUITES_DIR as suites_dir
    path = Path(suites_dir) / f"{table}.json"
    if not path.is_file():
        return []
    suite = json.loads(path.read_text(encoding="utf-8"))
    return [e for e in suite.get("expectations", []) if e.get("type") in _ROW_RULES
            and "column" in e.get("kwargs", {})]


def _failing(series: Any, rule: dict[str, Any]) -> Any:
    """Boolean mask of non-null values that break ``rule`` (nulls pass, as in GX)."""
    kw = rule["kwargs"]
    present = series.notna()
    if rule["type"] == "expect_column_values_to_be_between":
        ok = present & True
        if kw.get("min_value") is not None:
            ok &= series.astype("Float64") >= float(kw["min_value"])
        if kw.get("max_value") is not None:
            ok &= series.astype("Float64") <= float(kw["max_value"])
        return (present & ~ok.fillna(False)).astype(bool)
    return (present & ~series.isin(list(kw.get("value_set") or []))).astype(bool)


def _describe(rule: dict[str, Any]) -> str:
    kw = rule["kwargs"]
    if rule["type"] == "expect_column_values_to_be_between":
        return f"outside {kw.get('min_value')}..{kw.get('max_value')}"
    return f"not one of {sorted(map(str, kw.get('value_set') or []))}"


def hold_back(frames: dict[str, Any], suites_dir: Path | None = None) -> list[dict[str, str]]:
    """Set failing cells of the :data:`HOLD_BACK` tables to NULL in ``frames`` (in place);
    returns one record per held cell: table, key, column, reason."""
    import pandas as pd

    held: list[dict[str, str]] = []
    for table, keys in HOLD_BACK.items():
        df = frames.get(table)
        if df is None or not len(df):
            continue
        for rule in row_rules(table, suites_dir):
            column = rule["kwargs"]["column"]
            if column not in df.columns:
                continue
            mask = _failing(df[column], rule)
            if not mask.any():
                continue
            for _, row in df.loc[mask, list(keys)].iterrows():
                held.append({"table": table, "key": "/".join(str(row[k]) for k in keys),
                             "column": column,
                             "reason": f"{column} {_describe(rule)} ({rule['type']}): value "
                                       "held back, the rest of the row loads"})
            df.loc[mask, column] = pd.NA
    return held


def _failing_rows(df: Any, table: str, suites_dir: Path | None) -> dict[int, str]:
    """Index -> reason of the rows of ``df`` breaking a row rule of ``table``'s suite."""
    out: dict[int, str] = {}
    for rule in row_rules(table, suites_dir):
        column = rule["kwargs"]["column"]
        if column not in df.columns:
            continue
        for i in df.index[_failing(df[column], rule)]:
            out.setdefault(i, f"{column} {_describe(rule)} ({rule['type']})")
    return out


def _session_mask(df: Any, sessions: set[tuple[str, str]]) -> Any:
    keys = list(zip(df["subject"].astype(str), df["session"].astype(str), strict=True))
    import pandas as pd

    return pd.Series([k in sessions for k in keys], index=df.index, dtype=bool)


def hold_back_rows(frames: dict[str, Any],
                   suites_dir: Path | None = None) -> list[dict[str, str]]:
    """Drop the rows of the :data:`ROW_HOLD_BACK` tables that break a row rule, and the rows
    depending on them, from ``frames`` (replaced in the dict). One record per failing row (and
    per follow-up held with its baseline): table, key, reason (the rule, never the value, and
    how many dependent rows went with it)."""
    from collections import Counter

    held: list[dict[str, Any]] = []
    # (table, subject, session) -> index in `held` of the row that took it out of the batch
    units: dict[tuple[str, str, str], int] = {}
    for table, keys in ROW_HOLD_BACK.items():
        df = frames.get(table)
        if df is None or not len(df):
            continue
        for i, why in _failing_rows(df, table, suites_dir).items():
            row = df.loc[i]
            sub, ses = str(row["subject"]), str(row["session"])
            held.append({"table": table, "key": "/".join(str(row[k]) for k in keys),
                         "reason": why, "with": Counter()})
            for dep in (table, *_DEPENDENTS[table]):
                units.setdefault((dep, sub, ses), len(held) - 1)
    # a subject left without its baseline session: its follow-ups go too
    sessions = frames.get("sessions")
    if sessions is not None and len(sessions):
        gone = {(s, t) for (tb, s, t) in units if tb == "sessions"}
        kept = sessions.loc[~_session_mask(sessions, gone)]
        with_baseline = set(kept.loc[kept["visit"] == "baseline", "subject"].astype(str))
        for _, row in kept.loc[~kept["subject"].astype(str).isin(with_baseline)].iterrows():
            sub, ses = str(row["subject"]), str(row["session"])
            held.append({"table": "sessions", "key": f"{sub}/{ses}", "with": Counter(),
                         "reason": f"held back with the baseline session of {sub}"})
            for dep in ("sessions", *_DEPENDENTS["sessions"]):
                units[(dep, sub, ses)] = len(held) - 1
    own = {(h["table"], h["key"]) for h in held}
    for table in sorted({tb for tb, _, _ in units}):
        df = frames.get(table)
        if df is None or not len(df):
            continue
        mask = _session_mask(df, {(s, t) for (tb, s, t) in units if tb == table})
        for _, row in df.loc[mask].iterrows():
            key = "/".join(str(row[k]) for k in ROW_HOLD_BACK.get(table) or _DEPENDENT_KEYS[table])
            if (table, key) not in own:
                held[units[(table, str(row["subject"]), str(row["session"]))]]["with"][
                    table] += 1
        frames[table] = df.loc[~mask].reset_index(drop=True)
    out = []
    for h in held:
        deps = ", ".join(f"{n} {t}" for t, n in sorted(h["with"].items()))
        out.append({"table": h["table"], "key": h["key"],
                    "reason": f"{h['reason']}: row held back"
                              + (f" with {deps} row(s) of its session" if deps else "")
                              + ", the rest of the batch loads"})
    return out


#: covariates every analysis adjusts for: a subject without them is warned about (not gated)
REQUIRED_COVARIATES: Final[tuple[str, ...]] = ("age", "sex")


def missing_covariates(frames: dict[str, Any]) -> list[tuple[str, str]]:
    """``(where, message)`` warnings for subjects lacking age or sex (null after hold-back)."""
    df = frames.get("subjects")
    if df is None or not len(df):
        return []
    out = []
    for column in REQUIRED_COVARIATES:
        if column not in df.columns:
            continue
        for subject in df.loc[df[column].isna(), "subject"].tolist():
            out.append((f"subjects:{subject}", f"subject lacks {column}: analyses adjusted "
                                               f"for {column} leave it out (warning)"))
    return out
