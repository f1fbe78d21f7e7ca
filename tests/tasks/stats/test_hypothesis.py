import math

import numpy as np
import pytest
from scipy import stats

from tasks.stats import hypothesis as h

# McDonald, Handbook of Biological Statistics (3rd ed.): Mytilus shell AAM length by location
MUSSELS = {
    "tillamook": np.array([0.0571, 0.0813, 0.0831, 0.0976, 0.0817, 0.0859, 0.0735, 0.0659,
                           0.0923, 0.0836]),
    "newport": np.array([0.0873, 0.0662, 0.0672, 0.0819, 0.0749, 0.0649, 0.0835, 0.0725]),
    "petersburg": np.array([0.0974, 0.1352, 0.0817, 0.1016, 0.0968, 0.1064, 0.105]),
    "magadan": np.array([0.1033, 0.0915, 0.0781, 0.0685, 0.0677, 0.0697, 0.0764, 0.0689]),
    "tvarminne": np.array([0.0703, 0.1026, 0.0956, 0.0973, 0.1039, 0.1045]),
}


def test_anova_textbook_mussels():
    res = h.one_way_anova(MUSSELS)
    assert res.statistic == pytest.approx(7.121, abs=1e-3)  # F(4, 34) = 7.12, P = 2.8e-4
    assert res.p == pytest.approx(2.812e-4, rel=1e-3)
    assert res.df == (4, 34)


def test_anova_from_summary_equals_raw_anova():
    groups = {k: v for k, v in MUSSELS.items()}
    n = [len(v) for v in groups.values()]
    m = [v.mean() for v in groups.values()]
    s = [v.std(ddof=1) for v in groups.values()]
    res = h.anova_from_summary(n, m, s)
    assert res.statistic == pytest.approx(stats.f_oneway(*groups.values()).statistic)


def test_anova_reproduces_paper_table1_age():
    res = h.anova_from_summary([60, 35, 31], [62.5, 64.2, 66.1], [8.3, 8.7, 9.0])
    assert res.statistic == pytest.approx(1.835, abs=5e-4)
    assert res.p == pytest.approx(0.164, abs=5e-4)


def test_anova_small_and_empty_groups_are_reported():
    res = h.one_way_anova({"a": np.array([1.0, 2.0, 3.0]), "b": np.array([5.0]),
                           "c": np.array([]), "d": np.array([4.0, 6.0])})
    assert "b (n=1)" in res.note and "c (n=0)" in res.note
    assert res.df == (1, 3)
    assert res.p == pytest.approx(stats.f_oneway([1, 2, 3], [4, 6]).pvalue)
    none = h.one_way_anova({"a": np.array([1.0, 2.0]), "b": np.array([])})
    assert not none.ok and "not computed" in none.note


def test_kruskal_matches_scipy_with_ties_and_reports_empty():
    g = {"a": np.array([1, 2, 2, 3.0]), "b": np.array([2, 3, 4, 4.0]), "c": np.array([]),
         "d": np.array([5, 5, 6.0])}
    res = h.kruskal_wallis(g)
    ref = stats.kruskal(g["a"], g["b"], g["d"])
    assert res.statistic == pytest.approx(ref.statistic) and res.p == pytest.approx(ref.pvalue)
    assert "c (n=0)" in res.note


def test_chi_square_textbook_agresti_party_identification():
    # Agresti (2007) Table 2.5: gender x party identification, X^2 = 30.07, df = 2
    table = np.array([[762, 327, 468], [484, 239, 477]])
    res = h.contingency_test(table)
    assert res.method == "Pearson chi-square"
    assert res.statistic == pytest.approx(30.07, abs=0.01)
    assert res.df == 2 and res.p < 1e-6


def test_chi_square_reproduces_paper_table1_counts():
    res = h.contingency_test(np.array([[32, 28], [20, 15], [19, 12]]))
    assert res.method == "Pearson chi-square"
    assert res.statistic == pytest.approx(0.539, abs=5e-4)
    assert res.p == pytest.approx(0.764, abs=5e-4)


def test_fisher_tea_tasting():
    res = h.contingency_test(np.array([[3, 1], [1, 3]]))
    assert res.method.startswith("Fisher exact")
    assert res.p == pytest.approx(0.4857, abs=1e-4)  # Fisher's lady tasting tea
    fh = h.freeman_halton_exact(np.array([[3, 1], [1, 3]]))
    assert fh.p == pytest.approx(stats.fisher_exact([[3, 1], [1, 3]]).pvalue)


def test_freeman_halton_small_expected_counts():
    table = np.array([[8, 52], [5, 30], [5, 26]])  # paper Table 1 heart disease, min E 4.43
    res = h.contingency_test(table)
    assert res.method == "Freeman-Halton exact" and "4.43" in res.note
    ref = stats.fisher_exact(table)  # scipy's r x c Fisher test (independent implementation)
    assert res.p == pytest.approx(ref.pvalue, abs=0.01)
    # brute force over all 3x2 tables with these margins
    rows, c0 = table.sum(1), table[:, 0].sum()
    p_obs = math.exp(h._table_probability_log(table))
    total = 0.0
    for a in range(rows[0] + 1):
        for b in range(rows[1] + 1):
            c = c0 - a - b
            if 0 <= c <= rows[2]:
                t = np.array([[a, rows[0] - a], [b, rows[1] - b], [c, rows[2] - c]])
                p = math.exp(h._table_probability_log(t))
                total += p if p <= p_obs * (1 + 1e-7) else 0.0
    assert res.p == pytest.approx(total, rel=1e-9)


def test_monte_carlo_fallback_and_empty_rows():
    table = np.array([[1, 0, 3], [0, 4, 1], [0, 0, 0], [2, 1, 0]])
    res = h.contingency_test(table, max_tables=2, n_resamples=2000, seed=3)
    assert res.method == "Monte Carlo chi-square" and "empty row" in res.note
    exact = h.freeman_halton_exact(table[[0, 1, 3]])
    ref = stats.chi2_contingency(table[[0, 1, 3]], correction=False)
    assert res.statistic == pytest.approx(ref.statistic)
    assert res.p == pytest.approx(exact.p, abs=0.05)


def test_spearman_textbook_iq_tv():
    iq = [106, 100, 86, 101, 99, 103, 97, 113, 112, 110]
    tv = [7, 27, 2, 50, 28, 29, 20, 12, 6, 17]
    res = h.spearman(iq, tv, n_resamples=5000, seed=1)
    assert res.statistic == pytest.approx(-29 / 165)  # -0.1758, Wikipedia worked example
    assert res.p == pytest.approx(0.627188, abs=1e-5)
    assert res.extra["p_perm"] == pytest.approx(0.63, abs=0.03)


def test_spearman_missing_and_constant():
    res = h.spearman([1, 2, 3, np.nan, 5], [2, 1, 4, 3, np.nan])
    assert res.n == 3 and res.extra["n_missing"] == 2
    assert not h.spearman([1, 1, 1, 1], [1, 2, 3, 4]).ok


def test_r_to_p_matches_pearson_test():
    rng = np.random.default_rng(0)
    x = rng.normal(size=30)
    y = x + rng.normal(size=30)
    ref = stats.pearsonr(x, y)
    assert h.r_to_p(ref.statistic, 30) == pytest.approx(ref.pvalue, rel=1e-9)
    assert h.r_to_p(0.39, 126) < 1e-5  # the paper's lacunes: not 0.563


def test_paired_tests_match_scipy_and_report_missing():
    before = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, np.nan])
    after = np.array([1.5, 2.9, 3.2, 5.0, 5.1, 7.4, 3.0])
    res = h.paired_tests(before, after)
    assert res["paired_t"].p == pytest.approx(stats.ttest_rel(after[:6], before[:6]).pvalue)
    assert res["wilcoxon"].p == pytest.approx(stats.wilcoxon(after[:6] - before[:6]).pvalue)
    assert "1 pair" in res["paired_t"].note
    const = h.paired_tests([1, 2, 3], [1, 2, 3])
    assert not const["paired_t"].ok and not const["wilcoxon"].ok


def test_welch_anova_matches_statsmodels_and_notes_degenerate_groups():
    from statsmodels.stats.oneway import anova_oneway

    groups = dict(MUSSELS)
    res = h.welch_anova(groups)
    ref = anova_oneway(list(groups.values()), use_var="unequal")
    assert res.statistic == pytest.approx(ref.statistic)
    assert res.p == pytest.approx(ref.pvalue)
    assert res.df[1] == pytest.approx(ref.df[1])
    odd = h.welch_anova({"a": np.array([1.0, 2.0, 4.0]), "b": np.array([3.0, 3.0]),
                         "c": np.array([5.0, 7.0, 6.5])})
    assert "b (n=2)" in odd.note and odd.df[0] == 1
