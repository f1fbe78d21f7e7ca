"""Effect sizes for k-group comparisons and contingency tables.

* eta squared (ANOVA): eta^2 = SS_between / SS_total (Cohen 1973; Lakens, Front Psychol 2013);
* epsilon squared (Kruskal-Wallis): epsilon^2_R = H / ((N^2 - 1) / (N + 1)) = H / (N - 1)
  (Kelley 1935 as used for ranks by Tomczak & Tomczak, Trends Sport Sci 2014), in [0, 1];
* Cramer's V: V = sqrt(chi^2 / (N (min(r, c) - 1))) (Cramer 1946), chi^2 without continuity
  correction, computed on the table without empty rows/columns.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
from scipy import stats


def eta_squared(groups: Mapping[str, np.ndarray]) -> float:
    """SS_between / SS_total over the non-empty groups; NaN without variation or data."""
    samples = [np.asarray(v, float) for v in groups.values() if len(v) > 0]
    if len(samples) < 2:
        return math.nan
    allx = np.concatenate(samples)
    ss_total = ((allx - allx.mean()) ** 2).sum()
    if ss_total == 0:
        return math.nan
    ss_between = sum(len(s) * (s.mean() - allx.mean()) ** 2 for s in samples)
    return float(ss_between / ss_total)


def epsilon_squared(h: float, n: int) -> float:
    """Rank epsilon squared H / (N - 1) from the Kruskal-Wallis H and the total N."""
    if n < 2 or not np.isfinite(h):
        return math.nan
    return float(h / ((n * n - 1) / (n + 1)))


def cramers_v(table: np.ndarray) -> float:
    """Cramer's V of a contingency table (empty rows/columns removed); NaN if degenerate."""
    t = np.asarray(table, float)
    t = t[t.sum(1) > 0][:, t.sum(0) > 0]
    if min(t.shape) < 2:
        return math.nan
    chi2 = stats.chi2_contingency(t, correction=False).statistic
    return float(math.sqrt(chi2 / (t.sum() * (min(t.shape) - 1))))
