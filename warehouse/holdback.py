"""Hold back the cells that fail a row-level expectation, so one bad value never blocks a batch.

Gating stays: the suites still run on the whole staged batch. But for the tables in
:data:`HOLD_BACK`, a value that breaks one of the suite's own row-level expectations
(``expect_column_values_to_be_between``, ``..._to_be_in_set``) is removed from the batch (set
to NULL) *before* staging, and recorded with its reason (table, row key, column, rule; never
the value), in the load summary and in ``ingest_log`` (level ``HELD``), which ``status``
shows. The bounds come from ``expectations/suites/<table>.json``: one home for each rule.

Only covariate tables are listed: a subject's implausible age must not keep every imaging
measure of the run out of the curated tables, while a measure that fails its rule says the
method (or the input) is wrong, and that batch stays gated as before.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Final

#: table -> key columns, for the tables whose failing cells are held back
HOLD_BACK: Final[dict[str, tuple[str, ...]]] = {"subjects": ("subject",)}
_ROW_RULES: Final[frozenset[str]] = frozenset({"expect_column_values_to_be_between",
                                               "expect_column_values_to_be_in_set"})


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
