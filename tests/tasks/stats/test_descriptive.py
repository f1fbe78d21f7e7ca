import math

import numpy as np
import pandas as pd
from scipy import stats

from tasks.stats import descriptive as d


def test_summarize_matches_numpy_and_counts_missing():
    x = [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0, None, float("nan")]
    s = d.summarize(x)
    clean = np.array([2, 4, 4, 4, 5, 5, 7, 9], float)
    assert s.n == 8 and s.n_missing == 2
    assert s.mean == 5.0  # textbook example: mean 5, population SD 2
    assert math.isclose(s.sd, np.std(clean, ddof=1))
    assert math.isclose(s.sd, math.sqrt(32 / 7))
    assert (s.q1, s.median, s.q3) == tuple(np.percentile(clean, [25, 50, 75]))
    assert math.isclose(s.q3 - s.q1, stats.iqr(clean))


def test_empty_and_single_values():
    s = d.summarize([])
    assert s.n == 0 and math.isnan(s.mean)
    assert d.fmt_mean_sd(s) == "n=0"
    one = d.summarize([3.0])
    assert one.n == 1 and math.isnan(one.sd)
    assert d.fmt_mean_sd(one) == "3.00 ± — (n=1)"


def test_formatting():
    assert d.fmt_p(0.0314) == "0.031"
    assert d.fmt_p(0.00012) == "0.00012"
    assert d.fmt_p(3e-9) == "3.00e-09"
    assert d.fmt_count_pct(3, 12) == "3 (25.0%)"
    assert d.fmt_count_pct(0, 0) == "0 (—)"


def test_split_and_crosstab_keep_empty_levels():
    df = pd.DataFrame({"g": ["a", "a", "b"], "v": [1.0, 2.0, np.nan], "c": ["x", "y", "x"]})
    parts = d.split_by_group(df, "v", "g", ["a", "b", "c"])
    assert parts["a"].tolist() == [1.0, 2.0] and len(parts["b"]) == 0 and len(parts["c"]) == 0
    assert d.crosstab(df, "g", "c", ["a", "b", "c"], ["x", "y"]).tolist() == [[1, 1], [1, 0],
                                                                             [0, 0]]
