import itertools
import math

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.contingency_tables import Table

from tasks.stats import trend as tr


def test_jt_exact_known_answers_three_groups_of_two():
    # Hollander & Wolfe Table A.8 (n = 2, 2, 2): 90 arrangements; P(J >= 12) = 1/90,
    # P(J >= 11) = 3/90
    dist = tr.jt_null_distribution([2, 2, 2])
    assert len(dist) == 13 and dist.sum() == pytest.approx(1.0)
    assert dist[12] == pytest.approx(1 / 90) and dist[11:].sum() == pytest.approx(3 / 90)
    res = tr.jonckheere_terpstra([[1, 2], [3, 4], [5, 6]], alternative="increasing")
    assert res.statistic == 12 and res.p == pytest.approx(1 / 90)
    assert res.extra["p_method"] == "exact"
    assert res.extra["mean"] == 6 and res.extra["var"] == pytest.approx(19 / 3)


def test_jt_exact_distribution_by_enumeration():
    sizes = [2, 3, 2]
    labels = np.repeat([0, 1, 2], sizes)
    counts = np.zeros(2 * 3 + 2 * 2 + 3 * 2 + 1)
    for perm in set(itertools.permutations(labels)):
        groups = [np.flatnonzero(np.array(perm) == g) for g in range(3)]
        counts[int(tr.jt_statistic(groups))] += 1
    assert np.allclose(tr.jt_null_distribution(sizes), counts / counts.sum())


def test_jt_two_groups_equals_mann_whitney_exact():
    x = [1.1, 2.3, 0.5, 4.2]
    y = [3.3, 5.1, 2.2, 6.0, 4.8]
    res = tr.jonckheere_terpstra([x, y], alternative="increasing")
    ref = stats.mannwhitneyu(y, x, alternative="greater", method="exact")
    assert res.statistic == ref.statistic and res.p == pytest.approx(ref.pvalue)


def test_jt_hand_computed_with_ties_and_kendall_z():
    groups = {"a": np.array([1.0, 2.0, 2.0]), "b": np.array([2.0, 3.0]),
              "c": np.array([3.0, 4.0])}
    res = tr.jonckheere_terpstra(groups, exact_max_n=0)
    # U_ab: 1<2,1<3,2=2(.5),2<3,2=2(.5),2<3 -> 5; U_ac: 6; U_bc: 2<3,2<4,3=3(.5),3<4 -> 3.5
    assert res.statistic == 14.5
    x = np.concatenate(list(groups.values()))
    g = np.repeat([0, 1, 2], [3, 2, 2])
    tau = stats.kendalltau(x, g)  # same z: S = 2J - sum n_u n_v, Var(S) = 4 Var(J)
    assert res.extra["p_normal"] == pytest.approx(tau.pvalue, rel=1e-9)
    assert res.p == res.extra["p_normal"]


def test_jt_normal_matches_kendall_on_large_tied_sample():
    rng = np.random.default_rng(4)
    groups = [rng.integers(0, 5, 40), rng.integers(1, 6, 30), rng.integers(2, 7, 25)]
    res = tr.jonckheere_terpstra(groups)
    x = np.concatenate(groups)
    g = np.repeat([0, 1, 2], [40, 30, 25])
    assert res.extra["p_method"].startswith("normal")
    assert res.p == pytest.approx(stats.kendalltau(x, g).pvalue, rel=1e-9)


def test_jt_permutation_for_small_tied_samples():
    groups = [np.array([1, 1, 2, 3.0]), np.array([2, 3, 3, 4.0]), np.array([3, 4, 5, 5.0])]
    res = tr.jonckheere_terpstra(groups, n_resamples=3000, seed=2)
    assert res.extra["p_method"].startswith("permutation")
    assert res.p == pytest.approx(res.extra["p_normal"], abs=0.02)
    again = tr.jonckheere_terpstra(groups, n_resamples=3000, seed=2)
    assert again.p == res.p  # seeded


def test_jt_empty_group_and_constant_values():
    res = tr.jonckheere_terpstra({"a": np.array([1.0, 2.0]), "b": np.array([]),
                                  "c": np.array([3.0, 4.0])}, alternative="increasing")
    assert "b" in res.note and res.statistic == 4
    assert not tr.jonckheere_terpstra([[1.0, 1.0], [1.0]]).ok


def test_linear_by_linear_textbook_agresti_alcohol_malformation():
    # Agresti (2007) Table 2.7: M^2 = 6.57, P = 0.01 with scores 0, 0.5, 1.5, 4, 7
    table = np.array([[17066, 14464, 788, 126, 37], [48, 38, 5, 1, 1]])
    res = tr.linear_by_linear(table, col_scores=[0, 0.5, 1.5, 4, 7])
    assert res.statistic == pytest.approx(6.57, abs=0.005)
    assert res.extra["r"] == pytest.approx(0.0142, abs=5e-5)
    ref = Table(table).test_ordinal_association(col_scores=np.array([0, 0.5, 1.5, 4, 7]))
    assert res.p == pytest.approx(ref.pvalue, rel=1e-6)
    assert math.isclose(res.p, 0.0104, abs_tol=5e-4)


def test_linear_by_linear_equals_pearson_on_expanded_data():
    table = np.array([[29, 23, 8], [15, 13, 7], [13, 10, 8]])
    rows, cols = np.nonzero(table >= 0)
    x = np.repeat(rows, table[rows, cols])
    y = np.repeat(cols, table[rows, cols])
    r = stats.pearsonr(x, y).statistic
    res = tr.linear_by_linear(table)
    assert res.statistic == pytest.approx((table.sum() - 1) * r * r)
