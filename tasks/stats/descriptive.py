"""Descriptive statistics per group: n, mean +/- SD, median (IQR), counts (%).

Pure functions over numpy arrays and pandas objects. Missing values (NaN) are excluded and
counted (``n_missing``) so that nothing is dropped silently.

* mean and sample SD (ddof = 1, the SPSS convention of the reference study);
* median and interquartile range as the 25th and 75th percentiles with linear interpolation
  (numpy's default, R type 7); SPSS's default (weighted average, type 6) can differ slightly
  in small samples.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Summary:
    """Summary of one numeric sample (units of the input)."""

    n: int
    n_missing: int
    mean: float
    sd: float
    median: float
    q1: float
    q3: float
    minimum: float
    maximum: float


def clean(values: Iterable[float]) -> tuple[np.ndarray, int]:
    """Finite values as float64 and the number of missing (NaN/None/inf) values removed."""
    arr = pd.to_numeric(pd.Series(list(values), dtype="object"), errors="coerce")
    arr = arr.to_numpy(dtype=float, na_value=np.nan)
    keep = np.isfinite(arr)
    return arr[keep], int((~keep).sum())


def summarize(values: Iterable[float]) -> Summary:
    """n, mean, SD (ddof=1), median, Q1, Q3, min, max of the finite values; NaN when empty."""
    x, n_missing = clean(values)
    if x.size == 0:
        nan = math.nan
        return Summary(0, n_missing, nan, nan, nan, nan, nan, nan, nan)
    sd = float(np.std(x, ddof=1)) if x.size > 1 else math.nan
    q1, med, q3 = np.percentile(x, [25, 50, 75])
    return Summary(int(x.size), n_missing, float(x.mean()), sd, float(med), float(q1),
                   float(q3), float(x.min()), float(x.max()))


def fmt_num(value: float | None, digits: int = 2) -> str:
    """A number with ``digits`` decimals, or an em dash when missing."""
    if value is None or not np.isfinite(value):
        return "—"
    return f"{value:.{digits}f}"


def fmt_p(p: float | None) -> str:
    """A P value with three significant digits (never rounded to zero), or a dash."""
    if p is None or not np.isfinite(p):
        return "—"
    if p < 1e-4:
        return f"{p:.2e}"
    return f"{p:.3g}" if p < 0.001 else f"{p:.3f}"


def fmt_mean_sd(s: Summary, digits: int = 2) -> str:
    """``mean ± SD (n)``; SD shown as a dash when n < 2."""
    if s.n == 0:
        return "n=0"
    return f"{fmt_num(s.mean, digits)} ± {fmt_num(s.sd, digits)} (n={s.n})"


def fmt_median_iqr(s: Summary, digits: int = 1) -> str:
    """``median (Q1-Q3)``."""
    if s.n == 0:
        return "n=0"
    return f"{fmt_num(s.median, digits)} ({fmt_num(s.q1, digits)}–{fmt_num(s.q3, digits)})"


def fmt_count_pct(count: int, total: int) -> str:
    """``count (percent %)`` with one decimal; ``0 (—)`` when the total is zero."""
    if total == 0:
        return f"{count} (—)"
    return f"{count} ({100.0 * count / total:.1f}%)"


def split_by_group(df: pd.DataFrame, value: str, group: str,
                   levels: Sequence[str]) -> dict[str, np.ndarray]:
    """Finite values of column ``value`` for each level of ``group`` (empty arrays kept)."""
    out: dict[str, np.ndarray] = {}
    for level in levels:
        x, _ = clean(df.loc[df[group] == level, value])
        out[level] = x
    return out


def crosstab(df: pd.DataFrame, row: str, col: str, row_levels: Sequence,
             col_levels: Sequence) -> np.ndarray:
    """Counts as an int array of shape (len(row_levels), len(col_levels)); rows with a missing
    value in either column are not counted (callers report how many)."""
    table = np.zeros((len(row_levels), len(col_levels)), dtype=np.int64)
    for i, r in enumerate(row_levels):
        sub = df.loc[df[row] == r, col]
        for j, c in enumerate(col_levels):
            table[i, j] = int((sub == c).sum())
    return table
