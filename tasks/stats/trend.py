"""Trend tests across ordered groups: Jonckheere-Terpstra and linear-by-linear association.

Jonckheere-Terpstra (Jonckheere, Biometrika 1954; Terpstra, Indag. Math. 1952; Hollander,
Wolfe & Chicken, *Nonparametric Statistical Methods* 3rd ed., section 6.2):

* J = sum over ordered group pairs u < v of U_uv, U_uv = #(X_u < X_v) + 0.5 #(X_u = X_v);
* E0(J) = (N^2 - sum n_i^2) / 4;
* without ties Var0(J) = [N^2 (2N + 3) - sum n_i^2 (2 n_i + 3)] / 72; with tie groups of
  sizes t_j the tie-corrected variance is
  [N(N-1)(2N+5) - sum n_i(n_i-1)(2n_i+5) - sum t_j(t_j-1)(2t_j+5)] / 72
  + [sum n_i(n_i-1)(n_i-2)] [sum t_j(t_j-1)(t_j-2)] / [36 N(N-1)(N-2)]
  + [sum n_i(n_i-1)] [sum t_j(t_j-1)] / [8 N(N-1)];
* z = (J - E0) / sqrt(Var0) (identical to Kendall's tau-b z between the value and the group
  index, since S = 2J - sum_{u<v} n_u n_v);
* exact null distribution without ties: J is the inversion count of a random arrangement of
  the groups' labels; its distribution is the convolution of Mann-Whitney count distributions
  (f(m, n; u) = f(m, n-1; u-m) + f(m-1, n; u)) as groups are merged one by one;
* small samples with ties: a seeded permutation P value (labels shuffled); large N: z.

Linear-by-linear association (Mantel 1963; Agresti, *Categorical Data Analysis* 3rd ed.,
section 3.4.1): M^2 = (N - 1) r^2 with r the Pearson correlation of the row and column scores
over the N observations, chi-square with 1 df. With a two-level row variable this is the
Cochran-Armitage trend test (up to the factor (N-1)/N).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
from scipy import stats

from tasks.stats.hypothesis import TestResult


def _mann_whitney_counts(m: int, n: int) -> np.ndarray:
    """Null distribution (probabilities) of U = #(x < y) for m x's and n y's, no ties."""
    # f[j] holds the distribution for (i, j) while iterating i; exact in float64 for small N
    prev = [np.ones(1) for _ in range(n + 1)]  # i = 0: U = 0 with count 1
    for i in range(1, m + 1):
        cur = [np.ones(1)]  # j = 0
        for j in range(1, n + 1):
            a = prev[j]  # largest is an x: contributes 0
            b = cur[j - 1]  # largest is a y: contributes i
            size = i * j + 1
            out = np.zeros(size)
            out[: len(a)] += a
            out[i: i + len(b)] += b
            cur.append(out)
        prev = cur
    dist = prev[n]
    return dist / dist.sum()


def jt_null_distribution(sizes: Sequence[int]) -> np.ndarray:
    """Exact null distribution of J (no ties): probabilities for J = 0, 1, ..., max."""
    dist = np.ones(1)
    pooled = 0
    for n in sizes:
        if pooled and n:
            dist = np.convolve(dist, _mann_whitney_counts(pooled, n))
        pooled += n
    return dist / dist.sum()


def jt_statistic(samples: Sequence[np.ndarray]) -> float:
    """J = sum_{u<v} [#(X_u < X_v) + 0.5 #(X_u = X_v)]."""
    j = 0.0
    for u in range(len(samples)):
        for v in range(u + 1, len(samples)):
            diff = np.subtract.outer(np.asarray(samples[v], float), np.asarray(samples[u], float))
            j += (diff > 0).sum() + 0.5 * (diff == 0).sum()
    return float(j)


def jt_moments(sizes: Sequence[int], values: np.ndarray) -> tuple[float, float]:
    """E0(J) and the tie-corrected Var0(J) (formulas in the module docstring)."""
    n_i = np.asarray(sizes, float)
    n = n_i.sum()
    _, t = np.unique(values, return_counts=True)
    t = t.astype(float)
    mean = (n ** 2 - (n_i ** 2).sum()) / 4.0
    var = ((n * (n - 1) * (2 * n + 5) - (n_i * (n_i - 1) * (2 * n_i + 5)).sum()
            - (t * (t - 1) * (2 * t + 5)).sum()) / 72.0
           + (n_i * (n_i - 1) * (n_i - 2)).sum() * (t * (t - 1) * (t - 2)).sum()
           / (36.0 * n * (n - 1) * (n - 2))
           + (n_i * (n_i - 1)).sum() * (t * (t - 1)).sum() / (8.0 * n * (n - 1)))
    return float(mean), float(var)


def _perm_j(values: np.ndarray, labels: np.ndarray, k: int, n_resamples: int,
            rng: np.random.Generator) -> np.ndarray:
    """J for ``n_resamples`` random relabellings: J = sum_{u<v} (G^T C G)_{uv}."""
    c = (np.subtract.outer(values, values) < 0).astype(float)  # c[a, b] = x_a < x_b
    c += 0.5 * (np.subtract.outer(values, values) == 0)
    upper = np.triu(np.ones((k, k)), 1)
    out = np.empty(n_resamples)
    eye = np.eye(k)
    for b in range(n_resamples):
        g = eye[rng.permutation(labels)]
        out[b] = float((g.T @ c @ g * upper).sum())
    return out


def jonckheere_terpstra(groups: Mapping[str, np.ndarray] | Sequence[np.ndarray], *,
                        alternative: str = "two-sided", exact_max_n: int = 60,
                        n_resamples: int = 9999, seed: int = 0) -> TestResult:
    """Jonckheere-Terpstra test for an ordered alternative (groups in the given order).

    ``alternative``: ``increasing`` (values rise with the group order), ``decreasing`` or
    ``two-sided``. For N <= ``exact_max_n`` (small samples) ``p`` is the exact P without ties
    or the seeded permutation P (``n_resamples``) with ties; for larger N the tie-corrected
    normal approximation;
    ``extra`` always holds ``z``, ``p_normal``, ``mean``, ``var`` and ``p_method``.
    Empty groups are left out and named in ``note``.
    """
    items = list(groups.items()) if isinstance(groups, Mapping) else list(enumerate(groups))
    empty = [str(k) for k, v in items if len(v) == 0]
    samples = [np.asarray(v, float) for _, v in items if len(v) > 0]
    note = f"empty group(s) left out: {', '.join(empty)}" if empty else ""
    sizes = [len(s) for s in samples]
    n = int(sum(sizes))
    if len(samples) < 2:
        return TestResult("Jonckheere-Terpstra", n=n, note="; ".join(
            filter(None, [note, "not computed: fewer than 2 groups with data"])))
    values = np.concatenate(samples)
    if np.ptp(values) == 0:
        return TestResult("Jonckheere-Terpstra", n=n, note="; ".join(
            filter(None, [note, "not computed: all values identical"])))
    j = jt_statistic(samples)
    mean, var = jt_moments(sizes, values)
    z = (j - mean) / math.sqrt(var)
    p_norm = _tail(z, alternative)
    ties = len(np.unique(values)) < n
    extra = {"z": z, "p_normal": p_norm, "mean": mean, "var": var, "ties": ties}
    if n > exact_max_n:
        p = p_norm
        extra["p_method"] = "normal approximation (tie-corrected)"
    elif not ties:
        dist = jt_null_distribution(sizes)
        jj = int(round(j))
        upper, lower = float(dist[jj:].sum()), float(dist[: jj + 1].sum())
        p = _combine(upper, lower, alternative)
        extra["p_method"] = "exact"
    elif n_resamples > 0:
        labels = np.repeat(np.arange(len(samples)), sizes)
        rng = np.random.default_rng(seed)
        sims = _perm_j(values, labels, len(samples), n_resamples, rng)
        eps = 1e-9 * max(1.0, abs(j))
        upper = (1 + (sims >= j - eps).sum()) / (n_resamples + 1)
        lower = (1 + (sims <= j + eps).sum()) / (n_resamples + 1)
        p = _combine(float(upper), float(lower), alternative)
        extra["p_method"] = f"permutation ({n_resamples}, seed {seed})"
    else:
        p = p_norm
        extra["p_method"] = "normal approximation (tie-corrected; no resamples asked)"
    return TestResult("Jonckheere-Terpstra", j, float(p), None, n, note, extra)


def _tail(z: float, alternative: str) -> float:
    if alternative == "increasing":
        return float(stats.norm.sf(z))
    if alternative == "decreasing":
        return float(stats.norm.cdf(z))
    return float(2 * stats.norm.sf(abs(z)))


def _combine(upper: float, lower: float, alternative: str) -> float:
    if alternative == "increasing":
        return upper
    if alternative == "decreasing":
        return lower
    return min(1.0, 2 * min(upper, lower))


def linear_by_linear(table: np.ndarray, row_scores: Sequence[float] | None = None,
                     col_scores: Sequence[float] | None = None) -> TestResult:
    """Linear-by-linear association (Mantel's trend test): M^2 = (N - 1) r^2, 1 df.

    ``table`` has rows and columns in their natural order; scores default to 0, 1, 2, ...
    ``extra['r']`` is the Pearson correlation of the scores.
    """
    t = np.asarray(table, float)
    u = np.arange(t.shape[0], dtype=float) if row_scores is None else np.asarray(row_scores,
                                                                                  float)
    v = np.arange(t.shape[1], dtype=float) if col_scores is None else np.asarray(col_scores,
                                                                                  float)
    n = t.sum()
    if n < 2:
        return TestResult("linear-by-linear", n=int(n), note="not computed: N < 2")
    pr, pc = t.sum(1) / n, t.sum(0) / n
    mu, mv = (u * pr).sum(), (v * pc).sum()
    cov = (t * np.outer(u - mu, v - mv)).sum() / n
    su = math.sqrt(((u - mu) ** 2 * pr).sum())
    sv = math.sqrt(((v - mv) ** 2 * pc).sum())
    if su == 0 or sv == 0:
        return TestResult("linear-by-linear", n=int(n),
                          note="not computed: only one non-empty row or column")
    r = cov / (su * sv)
    m2 = (n - 1) * r * r
    return TestResult("linear-by-linear (Mantel)", float(m2), float(stats.chi2.sf(m2, 1)), 1,
                      int(n), extra={"r": float(r)})
