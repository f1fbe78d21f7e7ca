"""The reliability flag: truth agreement (r < 0.5, mean ratio outside 0.5-2) and QC."""

from __future__ import annotations

import pandas as pd

from tasks.stats.reliability import FLAG, flag_column, qc_reasons, reliability_table


def test_poor_truth_agreement_is_flagged_with_the_rule():
    agree = pd.DataFrame([
        {"marker": "pvs_count", "pearson_r": -0.21, "mean_measured": 5.0, "mean_truth": 5.5},
        {"marker": "microbleed_volume_mm3", "pearson_r": 0.8, "mean_measured": 40.0,
         "mean_truth": 10.0},
        {"marker": "wmh_volume_cm3", "pearson_r": 0.95, "mean_measured": 9.0,
         "mean_truth": 10.0},
    ])
    table = reliability_table(agree, pd.DataFrame({"subject": ["a"]}),
                              {"pvs_count": "Enlarged perivascular spaces"})
    reasons = dict(zip(table["marker"], table["reasons"], strict=True))
    assert set(reasons) == {"pvs_count", "microbleed_volume_mm3"}
    assert "r = -0.21" in reasons["pvs_count"] and "r < 0.5" in reasons["pvs_count"]
    assert "4x the true mean" in reasons["microbleed_volume_mm3"]
    flags = flag_column(pd.Series(["pvs_count", "wmh_volume_cm3"]), table)
    assert list(flags) == [FLAG, ""]


def test_microbleeds_on_t2w_in_most_sessions_are_flagged():
    base = pd.DataFrame({"microbleed_contrast": ["T2w", "T2w", "T2starw"]})
    assert "2 of 3 sessions" in qc_reasons(base)["microbleed_count"][0]
    assert qc_reasons(pd.DataFrame({"microbleed_contrast": ["T2w", "T2starw"]})) == {}
