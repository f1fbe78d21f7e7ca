import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import statsmodels.formula.api as smf
from statsmodels.miscmodels.ordinal_model import OrderedModel

from tasks.stats import models as md


@pytest.fixture(scope="module")
def base(cohort):
    return md.prepare_covariates(cohort["baseline"])


def _x(df, exposure):
    x = df[["age", "male", "hypertension", "diabetes", "smoking"]].copy()
    if exposure == "group":
        for g in ("moderate", "severe"):
            x.insert(0, f"group_{g}", (df["severity_group"] == g).astype(float))
    else:
        x.insert(0, "log_calcium", df["log_calcium"])
    return x


def test_prepare_covariates(cohort):
    df = md.prepare_covariates(cohort["baseline"])
    assert set(df["male"].unique()) <= {0.0, 1.0}
    assert df["smoking"].dtype == float
    assert np.allclose(df["log_calcium"], np.log1p(cohort["baseline"]["total_calcium_volume_mm3"]))


def test_ols_matches_statsmodels(base):
    coefs = md.fit_adjusted(base, "wmh_volume_cm3", "continuous", "severity_group")
    ref = sm.OLS(base["wmh_volume_cm3"], sm.add_constant(_x(base, "group"))).fit()
    sev = next(c for c in coefs if c.term == "group_severe")
    assert sev.estimate == pytest.approx(ref.params["group_severe"])
    assert sev.ci_low == pytest.approx(ref.conf_int().loc["group_severe", 0])
    assert sev.p == pytest.approx(ref.pvalues["group_severe"])
    assert sev.estimate > 5 and sev.model == "OLS"  # WMH rises with severity (paper: +11.4)
    formula = smf.ols("wmh_volume_cm3 ~ log_calcium + age + male + hypertension + diabetes"
                      " + smoking", base).fit()
    (lc,) = md.fit_adjusted(base, "wmh_volume_cm3", "continuous", "log_calcium")
    assert lc.estimate == pytest.approx(formula.params["log_calcium"]) and lc.estimate > 0


def test_count_model_poisson_or_nb_matches_statsmodels(base):
    coefs = md.fit_adjusted(base, "microbleed_count", "count", "severity_group")
    x = sm.add_constant(_x(base, "group"))
    pois = sm.GLM(base["microbleed_count"], x, family=sm.families.Poisson()).fit()
    sev = next(c for c in coefs if c.term == "group_severe")
    if sev.model == "Poisson":
        assert sev.estimate == pytest.approx(np.exp(pois.params["group_severe"]))
    else:
        nb = sm.NegativeBinomial(base["microbleed_count"], x).fit(disp=False, maxiter=200)
        assert sev.estimate == pytest.approx(np.exp(nb.params["group_severe"]), rel=1e-6)
    assert sev.scale == "IRR" and sev.estimate > 2  # paper: 6.2 vs 1.5


def test_negative_binomial_chosen_when_overdispersed():
    rng = np.random.default_rng(3)
    n = 150
    df = pd.DataFrame({"age": rng.normal(60, 8, n), "male": rng.integers(0, 2, n) * 1.0,
                       "hypertension": rng.integers(0, 2, n) * 1.0,
                       "diabetes": rng.integers(0, 2, n) * 1.0,
                       "smoking": rng.integers(0, 2, n) * 1.0,
                       "severity_group": rng.choice(["none_mild", "moderate", "severe"], n)})
    df["y"] = rng.negative_binomial(1, 0.1, n)
    coefs = md.fit_adjusted(df, "y", "count", "severity_group")
    assert coefs[0].model.startswith("negative binomial") and "dispersion" in coefs[0].note


def test_ordinal_matches_ordered_model(base):
    coefs = md.fit_adjusted(base, "fazekas_total", "ordinal", "severity_group")
    x = _x(base, "group")
    y = base["fazekas_total"]
    endog = pd.Series(pd.Categorical(y, categories=sorted(y.unique()), ordered=True))
    ref = OrderedModel(endog, x, distr="logit").fit(method="bfgs", disp=False, maxiter=500)
    sev = next(c for c in coefs if c.term == "group_severe")
    assert sev.scale == "OR"
    assert sev.estimate == pytest.approx(np.exp(ref.params["group_severe"]), rel=1e-4)
    assert sev.estimate > 1


def test_empty_group_and_reference_reported(base):
    no_mod = base[base["severity_group"] != "moderate"]
    coefs = md.fit_adjusted(no_mod, "wmh_volume_cm3", "continuous", "severity_group")
    assert [c.term for c in coefs] == ["group_severe"] and "no subjects in group moderate" in \
        coefs[0].note
    no_ref = base[base["severity_group"] != "none_mild"]
    (c,) = md.fit_adjusted(no_ref, "wmh_volume_cm3", "continuous", "severity_group")
    assert np.isnan(c.estimate) and "reference" in c.note


def test_mixed_model_matches_statsmodels(cohort):
    long = md.long_format(cohort["sessions"], cohort["baseline"], "fazekas_total")
    out = md.fit_mixed(long, "fazekas_total")
    data = long.copy()
    ref = smf.mixedlm("value ~ time * C(group, Treatment('none_mild'))", data,
                      groups=data["subject"]).fit(reml=True)
    terms = {t["term"]: t for t in out["terms"]}
    assert terms["time"]["estimate"] == pytest.approx(ref.fe_params["time"], rel=1e-6)
    key = "time:C(group, Treatment('none_mild'))[T.severe]"
    assert terms["time x severe"]["estimate"] == pytest.approx(ref.fe_params[key], rel=1e-6)
    assert terms["time x severe"]["estimate"] > 0  # faster Fazekas progression when severe
    names = [n for n in ref.fe_params.index if n.startswith("time:")]
    r = np.zeros((len(names), len(ref.params)))  # params include the group variance
    for i, n in enumerate(names):
        r[i, list(ref.params.index).index(n)] = 1.0
    wald = ref.wald_test(r, scalar=True)
    assert out["interaction_wald_chi2"] == pytest.approx(float(wald.statistic), rel=1e-6)
    assert out["interaction_p"] == pytest.approx(float(wald.pvalue), rel=1e-6)
    n_single = (long.groupby("subject").size() == 1).sum()
    assert n_single > 0 and f"{n_single} subject(s) with one visit" in out["note"]
    assert out["n_subjects"] == cohort["baseline"]["subject"].nunique()


def test_separation_in_a_small_sample_is_reported_not_raised(base):
    # 12 subjects; the count is zero in every none/mild subject and large elsewhere:
    # the Poisson ratio for the groups diverges (quasi-separation)
    small = base.groupby("severity_group", group_keys=False).head(4).copy()
    small["microbleed_count"] = np.where(small["severity_group"] == "none_mild", 0,
                                         50 + np.arange(len(small)))
    coefs = md.fit_adjusted(small, "microbleed_count", "count", "severity_group")
    assert coefs  # no exception
    for c in coefs:
        assert np.isnan(c.estimate) or np.isfinite(c.estimate)
