import numpy as np
import pandas as pd
import pytest
from scipy import stats

from tasks.stats import tables as tb
from tasks.stats.synthetic import synthetic_frames


def test_table1_methods_and_independent_values(frames, fast):
    t1 = tb.table1(frames.baseline, fast)
    df = t1.data.set_index("variable")
    base = frames.baseline
    groups = [base.loc[base["severity_group"] == g, "age"] for g in tb.GROUPS]
    assert df.loc["Age, years (mean ± SD)", "p"] == pytest.approx(stats.f_oneway(*groups).pvalue)
    row = df.loc["Hypertension, n (%)"]
    table = np.array([row["yes_counts"], row["no_counts"]]).T
    ref = stats.chi2_contingency(table, correction=False)
    assert row["statistic"] == pytest.approx(ref.statistic)
    if ref.expected_freq.min() >= 5:
        assert row["test"] == "Pearson chi-square" and row["p"] == pytest.approx(ref.pvalue)
    assert set(df["test"]) <= {"one-way ANOVA", "Pearson chi-square", "Freeman-Halton exact",
                               "Fisher exact (two-sided)", "Monte Carlo chi-square"}


def test_table2_direction_and_independent_checks(frames, fast):
    t2, grade = tb.table2(frames.baseline, fast)
    df = t2.data.set_index("marker")
    base = frames.baseline
    sev = base["severity_group"].map(tb.SEVERITY_RANK)
    for m in ("fazekas_total", "microbleed_count", "wmh_volume_cm3"):
        ref = stats.spearmanr(sev, base[m])
        assert df.loc[m, "spearman_r"] == pytest.approx(ref.statistic)
        assert df.loc[m, "spearman_p"] == pytest.approx(ref.pvalue)
        assert df.loc[m, "spearman_r"] > 0.3 and df.loc[m, "spearman_p"] < 0.001
        assert df.loc[m, "r_ci_low"] < df.loc[m, "spearman_r"] < df.loc[m, "r_ci_high"]
        means = [df.loc[m, f"{g}_mean"] for g in tb.GROUPS]
        assert means == sorted(means)  # rises with severity, as published
        samples = [base.loc[base["severity_group"] == g, m] for g in tb.GROUPS]
        assert df.loc[m, "kw_p"] == pytest.approx(stats.kruskal(*samples).pvalue)
        assert df.loc[m, "anova_p"] == pytest.approx(stats.f_oneway(*samples).pvalue)
        assert df.loc[m, "jt_z"] > 3
    assert (t2.data["spearman_p_holm"] >= t2.data["spearman_p"]).all()
    test_row = grade.data.iloc[-1]
    counts = grade.data.iloc[:3][["g0_1_count", "g2_count", "g3_count"]].to_numpy()
    assert counts.sum() == len(base)
    assert test_row["trend_M2"] > 0 and test_row["spearman_r"] > 0


def test_table3_effect_sizes_not_correlations(frames, fast):
    t3, grade = tb.table3(frames.baseline, fast)
    assert "spearman_r" not in t3.data
    assert {"eta2", "epsilon2"} <= set(t3.data.columns)
    assert "cramers_v" in grade.data
    n_none = frames.baseline["dominant_location"].isna().sum()
    if n_none:
        assert any(f"{n_none} subject(s) outside the location levels" in n for n in t3.notes)
    assert any("'VA' has no subjects" in n for n in t3.notes) is False


def test_table4_change_and_missing_follow_up(frames, fast):
    t4 = tb.table4(frames.change, frames.sessions, frames.baseline, fast)
    df = t4.data.set_index("marker")
    lost = len(frames.baseline) - len(frames.change)
    assert lost > 0 and any("without a follow-up" in n for n in t4.notes)
    ch = frames.change
    sub = ch[ch["severity_group"] == "severe"]
    ref = stats.ttest_rel(sub["fazekas_total_followup"], sub["fazekas_total_baseline"])
    assert df.loc["fazekas_total", "severe_paired_t_p"] == pytest.approx(ref.pvalue)
    sev = ch["severity_group"].map(tb.SEVERITY_RANK)
    assert df.loc["fazekas_total", "spearman_r"] == pytest.approx(
        stats.spearmanr(sev, ch["fazekas_total_change"]).statistic)
    assert df.loc["fazekas_total", "spearman_r"] > 0  # paper: change rises with severity
    assert df.loc["fazekas_total", "lmm_time_x_severe"] > 0


def test_robust_to_empty_group_tiny_groups_and_no_follow_up(fast):
    f = synthetic_frames(0.08, seed=3, missing_follow_up=0.5, empty_group="moderate")
    t1 = tb.table1(f["baseline"], fast)
    assert any("'moderate' has no subjects" in n for n in t1.notes)
    t2, grade = tb.table2(f["baseline"], fast)
    assert (t2.data["moderate_n"] == 0).all() and t2.data["spearman_p"].notna().all()
    assert t2.data["jt_p_method"].str.contains("exact|permutation").all()
    t4 = tb.table4(f["change"], f["sessions"], f["baseline"], fast)
    assert any("without a follow-up" in n for n in t4.notes)
    adj = tb.adjusted(f["baseline"])
    assert adj.data["note"].str.contains("no subjects in group moderate").any()
    none_fu = f["change"].iloc[0:0]
    t4b = tb.table4(none_fu, f["sessions"], f["baseline"], fast)
    assert t4b.data["spearman_p"].isna().all()
    assert t4b.data["note"].str.len().gt(0).all()


def test_adjusted_table_has_ci_and_multiplicity(frames):
    adj = tb.adjusted(frames.baseline)
    df = adj.data
    assert {"group_moderate", "group_severe", "log_calcium"} <= set(df["term"])
    ok = df.dropna(subset=["estimate"])
    assert (ok["ci_low"] <= ok["estimate"]).all() and (ok["estimate"] <= ok["ci_high"]).all()
    assert (ok["p_holm"] >= ok["p"] - 1e-12).all()
    models = dict(zip(df["marker"], df["model"], strict=False))
    assert models["wmh_volume_cm3"] == "OLS" and models["fazekas_total"] == "ordinal logit"
    assert pd.Series(models)["lacune_count"] in ("Poisson", "negative binomial (NB2)")


def test_table1_trend_p_independent(frames, fast):
    from statsmodels.stats.contingency_tables import Table

    row = tb.table1(frames.baseline, fast).data.set_index("key").loc["diabetes"]
    table = np.array([row["yes_counts"], row["no_counts"]]).T
    ref = Table(table).test_ordinal_association(col_scores=np.array([1.0, 0.0]))
    assert row["trend_p"] == pytest.approx(ref.pvalue, rel=1e-6)


def test_categorical_and_nullable_dtypes(cohort, fast):
    base = cohort["baseline"].copy()
    base["severity_group"] = pd.Categorical(base["severity_group"],
                                            categories=list(tb.GROUPS))
    base["smoking"] = base["smoking"].astype("boolean")
    base.loc[0, "smoking"] = pd.NA
    base["age"] = base["age"].astype("Float64")
    base.loc[1, "age"] = pd.NA
    base.loc[2, "severity_group"] = np.nan
    base["fazekas_total"] = base["fazekas_total"].astype("Int64")
    t1 = tb.table1(base, fast)
    df = t1.data.set_index("key")
    assert "1 missing" in df.loc["smoking", "note"]
    assert "1 missing age" in df.loc["age_years", "note"]
    assert any("1 subject(s) outside the severity group levels" in n for n in t1.notes)
    t2, _ = tb.table2(base, fast)
    assert t2.data.set_index("marker").loc["fazekas_total", "spearman_r"] > 0.3
    adj = tb.adjusted(base)
    assert adj.data["note"].str.contains("missing value left out").any()


def test_icac_by_artery_table(cohort):
    art = pd.concat([cohort["icac_by_artery"],
                     cohort["icac_by_artery"].assign(session="M12", calcium_volume_mm3=1e6)])
    t = tb.icac_by_artery(art, cohort["baseline"])
    row = t.data.set_index("artery").loc["ICA"]
    base = cohort["baseline"]
    sev = base[base["severity_group"] == "severe"]
    assert row["severe_n_calcified"] == int((sev["total_calcium_volume_mm3"] > 0).sum())
    assert "1000000" not in row["severe_volume"]  # follow-up session not used
    assert tb.icac_by_artery(None, base).notes == ["v_icac_by_artery missing or empty"]
