import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from scipy import stats
from scipy.stats.contingency import association
from statsmodels.stats.anova import anova_lm

from tasks.stats import effect_sizes as es


def test_eta_squared_matches_statsmodels_anova():
    rng = np.random.default_rng(0)
    groups = {"a": rng.normal(0, 1, 12), "b": rng.normal(1, 1, 9), "c": rng.normal(2, 1, 7),
              "empty": np.array([])}
    df = pd.DataFrame({"y": np.concatenate([groups["a"], groups["b"], groups["c"]]),
                       "g": np.repeat(["a", "b", "c"], [12, 9, 7])})
    table = anova_lm(smf.ols("y ~ C(g)", df).fit())
    expected = table.loc["C(g)", "sum_sq"] / table["sum_sq"].sum()
    assert es.eta_squared(groups) == pytest.approx(expected)


def test_epsilon_squared():
    h = stats.kruskal([1, 2, 3], [4, 5, 6], [7, 8, 9]).statistic
    assert h == pytest.approx(7.2)  # perfectly separated groups of 3: H = 7.2
    assert es.epsilon_squared(h, 9) == pytest.approx(7.2 / 8)


def test_cramers_v_matches_scipy_and_ignores_empty_rows():
    table = np.array([[762, 327, 468], [484, 239, 477], [0, 0, 0]])
    assert es.cramers_v(table) == pytest.approx(association(table[:2], method="cramer"))
    assert np.isnan(es.cramers_v(np.array([[3, 4]])))
