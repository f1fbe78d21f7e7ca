import numpy as np
import pytest
from statsmodels.stats.multitest import multipletests

from tasks.stats.multiplicity import benjamini_hochberg, holm

# Benjamini & Hochberg (1995), section 4: 15 P values of a clinical trial
BH95 = [0.0001, 0.0004, 0.0019, 0.0095, 0.0201, 0.0278, 0.0298, 0.0344, 0.0459, 0.3240,
        0.4262, 0.5719, 0.6528, 0.7590, 1.000]


def test_bh_1995_example_rejects_four_and_holm_three():
    assert (benjamini_hochberg(BH95) <= 0.05).sum() == 4
    assert (holm(BH95) <= 0.05).sum() == 3


def test_against_statsmodels_in_shuffled_order():
    rng = np.random.default_rng(1)
    p = rng.permutation(BH95)
    assert np.allclose(holm(p), multipletests(p, method="holm")[1])
    assert np.allclose(benjamini_hochberg(p), multipletests(p, method="fdr_bh")[1])


def test_nan_kept_and_not_counted():
    p = [0.01, np.nan, 0.04]
    assert np.isnan(holm(p)[1]) and np.isnan(benjamini_hochberg(p)[1])
    assert holm(p)[[0, 2]] == pytest.approx([0.02, 0.04])
    assert benjamini_hochberg(p)[[0, 2]] == pytest.approx([0.02, 0.04])
    assert np.isnan(holm([np.nan])).all()
