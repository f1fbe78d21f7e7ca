import numpy as np
import pytest
from scipy import stats

from tasks.stats.bootstrap import bootstrap_correlation_ci


def test_percentile_ci_matches_manual_resampling():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 3, 60).astype(float)
    y = x + rng.normal(0, 1, 60)
    ci = bootstrap_correlation_ci(x, y, n_resamples=300, seed=5, method="percentile")
    r = np.random.default_rng(5)
    idx = r.integers(0, 60, size=(300, 60))
    boot = [stats.spearmanr(x[i], y[i]).statistic for i in idx]
    assert ci.estimate == pytest.approx(stats.spearmanr(x, y).statistic)
    assert (ci.low, ci.high) == pytest.approx(tuple(np.percentile(boot, [2.5, 97.5])))


def test_bca_agrees_with_scipy_and_is_seeded():
    rng = np.random.default_rng(1)
    x = rng.normal(size=40)
    y = 0.5 * x + rng.normal(size=40)
    a = bootstrap_correlation_ci(x, y, n_resamples=400, seed=3)
    b = bootstrap_correlation_ci(x, y, n_resamples=400, seed=3)
    assert a == b and a.method == "BCa"
    assert a.low < a.estimate < a.high
    ref = stats.bootstrap((x, y), lambda u, v: stats.spearmanr(u, v).statistic, paired=True,
                          vectorized=False, n_resamples=400, rng=np.random.default_rng(3))
    assert a.low == pytest.approx(ref.confidence_interval.low, abs=1e-9)
    assert a.high == pytest.approx(ref.confidence_interval.high, abs=1e-9)


def test_degenerate_inputs_are_reported():
    ci = bootstrap_correlation_ci([1, 1, 1, 1, 1], [1, 2, 3, 4, 5], n_resamples=50)
    assert np.isnan(ci.low) and "not computed" in ci.note
    # tiny sample: some resamples constant -> percentile over the finite ones, noted
    ci = bootstrap_correlation_ci([0, 0, 1, 1, 2], [1, 2, 2, 3, 5], n_resamples=200, seed=0)
    assert ci.method == "percentile" and "constant" in ci.note
