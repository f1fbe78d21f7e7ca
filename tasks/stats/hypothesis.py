"""Group comparisons and correlations: pure functions returning a :class:`TestResult`.

Every function says which test it ran in ``TestResult.method`` and why in ``note`` (too few
subjects, an empty group, small expected counts...), so the report never hides a choice.

References: Sokal & Rohlf, *Biometry* (ANOVA); Kruskal & Wallis, JASA 1952; Agresti,
*Categorical Data Analysis* 3rd ed. (chi-square, Fisher and Freeman-Halton exact tests);
Freeman & Halton, Biometrika 1951; Spearman 1904; Wilcoxon 1945.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import stats

NAN = math.nan


@dataclass(frozen=True)
class TestResult:
    """One test: statistic, P value, degrees of freedom, method name and notes."""

    method: str
    statistic: float = NAN
    p: float = NAN
    df: float | tuple[float, float] | None = None
    n: int = 0
    note: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when a P value was computed."""
        return bool(np.isfinite(self.p))


def _usable(groups: Mapping[str, np.ndarray], min_n: int) -> tuple[list[str], list[str]]:
    used = [k for k, v in groups.items() if len(v) >= min_n]
    skipped = [f"{k} (n={len(v)})" for k, v in groups.items() if len(v) < min_n]
    return used, skipped


def _skip_note(skipped: list[str], why: str) -> str:
    return f"groups left out of the test ({why}): {', '.join(skipped)}" if skipped else ""


def one_way_anova(groups: Mapping[str, np.ndarray]) -> TestResult:
    """One-way ANOVA, F = MS_between / MS_within with (k-1, N-k) df.

    Groups with fewer than 2 values are left out (and named in ``note``); no test when fewer
    than 2 groups remain or the pooled variance is zero.
    """
    used, skipped = _usable(groups, 2)
    note = _skip_note(skipped, "fewer than 2 subjects")
    if len(used) < 2:
        return TestResult("one-way ANOVA", note=(note + "; " if note else "")
                          + "not computed: fewer than 2 groups with data")
    samples = [np.asarray(groups[k], float) for k in used]
    n = sum(len(s) for s in samples)
    if all(np.ptp(s) == 0 for s in samples):
        return TestResult("one-way ANOVA", n=n, note=(note + "; " if note else "")
                          + "not computed: no variation within groups")
    res = stats.f_oneway(*samples)
    return TestResult("one-way ANOVA", float(res.statistic), float(res.pvalue),
                      (len(used) - 1, n - len(used)), n, note)


def welch_anova(groups: Mapping[str, np.ndarray]) -> TestResult:
    """Welch's one-way ANOVA for unequal variances (Welch, Biometrika 1951).

    w_i = n_i / s_i^2, W = sum w_i, m_w = sum w_i m_i / W,
    L = sum (1 - w_i / W)^2 / (n_i - 1),
    F = [sum w_i (m_i - m_w)^2 / (k - 1)] / [1 + 2 (k - 2) L / (k^2 - 1)],
    df = (k - 1, (k^2 - 1) / (3 L)). Groups with n < 2 or zero variance are left out (noted).
    """
    used = [k for k, v in groups.items() if len(v) >= 2 and np.var(v) > 0]
    skipped = [f"{k} (n={len(v)})" for k, v in groups.items() if k not in used]
    note = _skip_note(skipped, "fewer than 2 subjects or no variance")
    if len(used) < 2:
        return TestResult("Welch ANOVA", note="; ".join(
            filter(None, [note, "not computed: fewer than 2 usable groups"])))
    x = [np.asarray(groups[k], float) for k in used]
    n = np.array([len(v) for v in x], float)
    m = np.array([v.mean() for v in x])
    w = n / np.array([v.var(ddof=1) for v in x])
    k = len(x)
    mw = (w * m).sum() / w.sum()
    lam = ((1 - w / w.sum()) ** 2 / (n - 1)).sum()
    f = ((w * (m - mw) ** 2).sum() / (k - 1)) / (1 + 2 * (k - 2) * lam / (k * k - 1))
    df2 = (k * k - 1) / (3 * lam)
    return TestResult("Welch ANOVA", float(f), float(stats.f.sf(f, k - 1, df2)),
                      (k - 1, float(df2)), int(n.sum()), note)


def anova_from_summary(n: Sequence[int], mean: Sequence[float], sd: Sequence[float]) -> TestResult:
    """One-way ANOVA from group sizes, means and SDs (as published).

    F = [sum n_i (m_i - m)^2 / (k - 1)] / [sum (n_i - 1) s_i^2 / (N - k)], m the weighted mean.
    """
    n_ = np.asarray(n, float)
    m = np.asarray(mean, float)
    s = np.asarray(sd, float)
    k, total = len(n_), n_.sum()
    grand = (n_ * m).sum() / total
    msb = (n_ * (m - grand) ** 2).sum() / (k - 1)
    msw = ((n_ - 1) * s ** 2).sum() / (total - k)
    f = msb / msw
    return TestResult("one-way ANOVA (from summary statistics)", float(f),
                      float(stats.f.sf(f, k - 1, total - k)), (k - 1, total - k), int(total))


def kruskal_wallis(groups: Mapping[str, np.ndarray]) -> TestResult:
    """Kruskal-Wallis H with the tie correction, chi-square with k-1 df.

    Groups with no values are left out; not computed when fewer than 2 groups have data or
    all values are identical.
    """
    used, skipped = _usable(groups, 1)
    note = _skip_note(skipped, "no subjects")
    samples = [np.asarray(groups[k], float) for k in used]
    n = sum(len(s) for s in samples)
    if len(used) < 2:
        return TestResult("Kruskal-Wallis", n=n, note=(note + "; " if note else "")
                          + "not computed: fewer than 2 groups with data")
    if np.ptp(np.concatenate(samples)) == 0:
        return TestResult("Kruskal-Wallis", n=n, note=(note + "; " if note else "")
                          + "not computed: all values identical")
    res = stats.kruskal(*samples)
    return TestResult("Kruskal-Wallis", float(res.statistic), float(res.pvalue),
                      len(used) - 1, n, note, {"k": len(used)})


# --------------------------------------------------------------------------- contingency


def _table_probability_log(table: np.ndarray) -> float:
    """log P(table | margins) under independence (multivariate hypergeometric)."""
    rows, cols, n = table.sum(1), table.sum(0), table.sum()
    lg = math.lgamma
    return (sum(lg(r + 1) for r in rows) + sum(lg(c + 1) for c in cols) - lg(n + 1)
            - sum(lg(x + 1) for x in table.ravel()))


def freeman_halton_exact(table: np.ndarray, max_tables: int = 2_000_000) -> TestResult:
    """Freeman-Halton exact test (Fisher's exact test for r x c tables).

    P = sum of P(T) over all tables T with the observed margins and P(T) <= P(observed)
    (with a relative tolerance of 1e-7), P(T) = prod(r_i!) prod(c_j!) / (N! prod(t_ij!)).
    Tables are enumerated column by column; raises ``OverflowError`` past ``max_tables``.
    Freeman GH, Halton JH. Biometrika 1951;38:141-9.
    """
    t = np.asarray(table, dtype=np.int64)
    t = t[t.sum(1) > 0][:, t.sum(0) > 0]
    if t.ndim != 2 or min(t.shape) < 2:
        return TestResult("Freeman-Halton exact", n=int(np.asarray(table).sum()),
                          note="not computed: fewer than 2 non-empty rows or columns")
    rows, cols = t.sum(1), t.sum(0)
    n = int(t.sum())
    lg = math.lgamma
    const = sum(lg(r + 1) for r in rows) + sum(lg(c + 1) for c in cols) - lg(n + 1)
    p_obs = _table_probability_log(t)
    thresh = p_obs + 1e-7 * abs(p_obs) + 1e-12
    total = 0.0
    count = 0

    def fill_column(j: int, remaining: np.ndarray, acc: float) -> None:
        nonlocal total, count
        if j == len(cols) - 1:  # last column is forced
            logp = const - acc - sum(lg(x + 1) for x in remaining)
            count += 1
            if count > max_tables:
                raise OverflowError("too many tables for exact enumeration")
            if logp <= thresh:
                total += math.exp(logp)
            return
        # distribute cols[j] over rows with caps remaining[i]
        for col in _compositions(int(cols[j]), remaining):
            fill_column(j + 1, remaining - col, acc + sum(lg(x + 1) for x in col))

    fill_column(0, rows.copy(), 0.0)
    return TestResult("Freeman-Halton exact", NAN, float(min(1.0, total)), None, n,
                      extra={"n_tables": count})


def _compositions(total: int, caps: np.ndarray):
    """All integer vectors v with 0 <= v_i <= caps_i and sum v = total."""
    caps = [int(c) for c in caps]
    suffix = np.cumsum(caps[::-1])[::-1].tolist() + [0]

    def rec(i: int, left: int, prefix: list[int]):
        if i == len(caps) - 1:
            if left <= caps[i]:
                yield np.array(prefix + [left], dtype=np.int64)
            return
        lo = max(0, left - suffix[i + 1])
        for v in range(lo, min(caps[i], left) + 1):
            yield from rec(i + 1, left - v, prefix + [v])

    yield from rec(0, total, [])


def contingency_test(table: np.ndarray, *, min_expected: float = 5.0, n_resamples: int = 9999,
                     seed: int = 0, max_tables: int = 2_000_000) -> TestResult:
    """Independence test of a contingency table, choosing the method by expected counts.

    * Pearson chi-square without continuity correction (SPSS's "Pearson Chi-Square") when
      every expected count is >= ``min_expected``;
    * otherwise Fisher's exact test for 2x2 tables, the Freeman-Halton exact test for r x c
      tables, or, when there are more than ``max_tables`` tables to enumerate, a seeded Monte
      Carlo permutation P value of the chi-square statistic (``n_resamples`` tables drawn
      with the observed margins).

    Empty rows/columns (a group with no subjects, a category never seen) are dropped and
    named in ``note``. The chi-square statistic and Cramer's V input are always returned.
    """
    t = np.asarray(table, dtype=np.int64)
    notes = []
    if (t.sum(1) == 0).any():
        notes.append(f"{int((t.sum(1) == 0).sum())} empty row(s) left out")
    if (t.sum(0) == 0).any():
        notes.append(f"{int((t.sum(0) == 0).sum())} empty column(s) left out")
    t = t[t.sum(1) > 0][:, t.sum(0) > 0]
    n = int(t.sum())
    if min(t.shape) < 2:
        return TestResult("chi-square", n=n, note="; ".join(
            notes + ["not computed: fewer than 2 non-empty rows or columns"]))
    chi = stats.chi2_contingency(t, correction=False)
    chi2, df = float(chi.statistic), int(chi.dof)
    min_exp = float(chi.expected_freq.min())
    extra = {"min_expected": min_exp, "shape": t.shape}
    if min_exp >= min_expected:
        return TestResult("Pearson chi-square", chi2, float(chi.pvalue), df, n,
                          "; ".join(notes), extra)
    notes.append(f"smallest expected count {min_exp:.2f} < {min_expected:g}")
    if t.shape == (2, 2):
        res = stats.fisher_exact(t)
        return TestResult("Fisher exact (two-sided)", chi2, float(res.pvalue), df, n,
                          "; ".join(notes), extra)
    try:
        res = freeman_halton_exact(t, max_tables=max_tables)
        return TestResult("Freeman-Halton exact", chi2, res.p, df, n, "; ".join(notes),
                          {**extra, **res.extra})
    except OverflowError:
        pass
    rng = np.random.default_rng(seed)
    rt = stats.random_table(t.sum(1), t.sum(0), seed=rng)
    sims = rt.rvs(size=n_resamples)
    expected = chi.expected_freq
    sim_chi = ((sims - expected) ** 2 / expected).sum(axis=(1, 2))
    p = (1 + int((sim_chi >= chi2 * (1 - 1e-9)).sum())) / (n_resamples + 1)
    notes.append(f"Monte Carlo P from {n_resamples} tables (seed {seed})")
    return TestResult("Monte Carlo chi-square", chi2, p, df, n, "; ".join(notes), extra)


# --------------------------------------------------------------------------- correlation


def spearman(x: Sequence[float], y: Sequence[float], *, n_resamples: int = 0,
             seed: int = 0) -> TestResult:
    """Spearman's rank correlation (Pearson r of midranks) with two P values.

    ``p``: two-sided, from t = r sqrt((n-2)/(1-r^2)) on n-2 df (what SPSS reports);
    ``extra['p_perm']``: two-sided permutation P (exact enumeration when n! <= n_resamples,
    otherwise ``n_resamples`` seeded random pairings), only when ``n_resamples > 0``.
    Pairs with a missing value are left out and counted in ``extra['n_missing']``.
    """
    xa = np.asarray(x, float)
    ya = np.asarray(y, float)
    keep = np.isfinite(xa) & np.isfinite(ya)
    xa, ya = xa[keep], ya[keep]
    n = int(keep.sum())
    extra = {"n_missing": int((~keep).sum())}
    if n < 3 or np.ptp(xa) == 0 or np.ptp(ya) == 0:
        return TestResult("Spearman", n=n, note="not computed: fewer than 3 pairs or a "
                          "constant variable", extra=extra)
    res = stats.spearmanr(xa, ya)
    r = float(res.statistic)
    if n_resamples > 0:
        perm = stats.permutation_test(
            (xa, ya), lambda a, b, axis=-1: _spearman_vec(a, b, axis),
            permutation_type="pairings", n_resamples=n_resamples, vectorized=True,
            rng=np.random.default_rng(seed))
        extra["p_perm"] = float(perm.pvalue)
    return TestResult("Spearman", r, float(res.pvalue), n - 2, n, extra=extra)


def _spearman_vec(a: np.ndarray, b: np.ndarray, axis: int) -> np.ndarray:
    ra = stats.rankdata(a, axis=axis)
    rb = stats.rankdata(b, axis=axis)
    ra = ra - ra.mean(axis=axis, keepdims=True)
    rb = rb - rb.mean(axis=axis, keepdims=True)
    return (ra * rb).sum(axis) / np.sqrt((ra ** 2).sum(axis) * (rb ** 2).sum(axis))


def r_to_p(r: float, n: int) -> float:
    """Two-sided P of a correlation r at sample size n: t = r sqrt((n-2)/(1-r^2)), n-2 df."""
    if n < 3 or not np.isfinite(r):
        return NAN
    if abs(r) >= 1:
        return 0.0
    t = r * math.sqrt((n - 2) / (1 - r * r))
    return float(2 * stats.t.sf(abs(t), n - 2))


# --------------------------------------------------------------------------- paired


def paired_tests(before: Sequence[float], after: Sequence[float]) -> dict[str, TestResult]:
    """Within-subject change: paired t-test and Wilcoxon signed-rank test (after - before).

    Pairs with a missing value are left out (counted in the note). The Wilcoxon test uses
    scipy's default (exact for small n without ties, otherwise the normal approximation with
    the tie correction; zero differences dropped, Wilcoxon's convention).
    """
    b = np.asarray(before, float)
    a = np.asarray(after, float)
    keep = np.isfinite(a) & np.isfinite(b)
    d = a[keep] - b[keep]
    n = int(keep.sum())
    miss = int((~keep).sum())
    note = f"{miss} pair(s) with a missing value left out" if miss else ""
    out: dict[str, TestResult] = {}
    if n < 2 or np.all(d == d[0]):
        why = "not computed: fewer than 2 pairs or constant differences"
        out["paired_t"] = TestResult("paired t", n=n, note="; ".join(filter(None, [note, why])))
    else:
        t = stats.ttest_rel(a[keep], b[keep])
        out["paired_t"] = TestResult("paired t", float(t.statistic), float(t.pvalue), n - 1, n,
                                     note)
    if n < 1 or np.all(d == 0):
        out["wilcoxon"] = TestResult("Wilcoxon signed-rank", n=n, note="; ".join(
            filter(None, [note, "not computed: no non-zero differences"])))
    else:
        w = stats.wilcoxon(d)
        out["wilcoxon"] = TestResult("Wilcoxon signed-rank", float(w.statistic),
                                     float(w.pvalue), None, n, note)
    return out
