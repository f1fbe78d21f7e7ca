"""Regression models: covariate-adjusted marker models and linear mixed models.

Adjusted models (one per marker and exposure), covariates age (years), male sex,
hypertension, diabetes and smoking (0/1):

* continuous markers: ordinary least squares, coefficient = difference in marker units;
* counts: Poisson GLM (log link); when the Pearson dispersion chi^2/df exceeds
  ``OVERDISPERSION`` a negative binomial (NB2) model instead; effect = incidence rate ratio
  exp(beta);
* ordinal grades (Fazekas, punctate grade, SVD score): proportional-odds logistic model
  (statsmodels ``OrderedModel``, McCullagh 1980); effect = odds ratio exp(beta).

Exposures: the severity group (dummies vs ``none_mild``) or log1p(total calcium volume in mm^3)
(effect per one log unit, i.e. per e-fold of (1 + volume)). 95% Wald confidence intervals.

Linear mixed model (Laird & Ware 1982) on the long format: marker ~ time * group with a random
intercept per subject (statsmodels ``MixedLM``, REML), time in years since baseline. Subjects
with a baseline only still contribute to the intercepts.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tasks.stats.model_warnings import plain_sentence

COVARIATES: tuple[str, ...] = ("age", "male", "hypertension", "diabetes", "smoking")
#: a log ratio beyond this (a ratio over ~1e13) signals separation, not an effect
MAX_LOG_RATIO = 30.0
OVERDISPERSION = 1.5
REFERENCE_GROUP = "none_mild"


@dataclass(frozen=True)
class Coef:
    """One model term: estimate with its 95% CI and P on the model's effect scale."""

    marker: str
    exposure: str
    term: str
    model: str
    scale: str  # "difference", "IRR" or "OR"
    estimate: float
    ci_low: float
    ci_high: float
    p: float
    n: int
    note: str = ""


def prepare_covariates(df: pd.DataFrame) -> pd.DataFrame:
    """Add numeric ``male`` and 0/1 covariates; ``log_calcium`` = log1p(total volume mm^3)."""
    out = df.copy()
    sex = out.get("sex")
    if sex is not None:
        s = sex.astype("string").str.strip().str.lower()
        out["male"] = s.map({"m": 1.0, "male": 1.0, "true": 1.0, "1": 1.0,
                             "f": 0.0, "female": 0.0, "false": 0.0, "0": 0.0}).astype(float)
    for c in ("hypertension", "diabetes", "smoking"):
        if c in out:
            out[c] = _to01(out[c])
    if "age" in out:
        out["age"] = pd.to_numeric(out["age"], errors="coerce").astype(float)
    if "total_calcium_volume_mm3" in out:
        vol = pd.to_numeric(out["total_calcium_volume_mm3"], errors="coerce").astype(float)
        out["log_calcium"] = np.log1p(vol.clip(lower=0))
    return out


def _to01(s: pd.Series) -> pd.Series:
    t = s.astype("string").str.strip().str.lower()
    return t.map({"true": 1.0, "yes": 1.0, "1": 1.0, "1.0": 1.0, "y": 1.0,
                  "false": 0.0, "no": 0.0, "0": 0.0, "0.0": 0.0, "n": 0.0}).astype(float)


def _design(df: pd.DataFrame, marker: str, exposure: str,
            covariates: Sequence[str]) -> tuple[pd.DataFrame, list[str], str]:
    cols = [marker, *covariates]
    if exposure == "severity_group":
        cols.append("severity_group")
    else:
        cols.append(exposure)
    data = df[[c for c in cols if c in df]].copy()
    missing_cols = [c for c in cols if c not in df]
    data[marker] = pd.to_numeric(data[marker], errors="coerce").astype(float)
    n0 = len(data)
    data = data.dropna()
    notes = []
    if missing_cols:
        notes.append(f"missing column(s): {', '.join(missing_cols)}")
    if len(data) < n0:
        notes.append(f"{n0 - len(data)} subject(s) with a missing value left out")
    terms: list[str] = []
    if exposure == "severity_group":
        levels = [g for g in ("moderate", "severe") if (data["severity_group"] == g).any()]
        for g in ("moderate", "severe"):
            if g not in levels:
                notes.append(f"no subjects in group {g}")
        for g in levels:
            data[f"group_{g}"] = (data["severity_group"] == g).astype(float)
            terms.append(f"group_{g}")
        if not (data["severity_group"] == REFERENCE_GROUP).any():
            notes.append("no subjects in the reference group none_mild")
            terms = []
        data = data.drop(columns="severity_group")
    else:
        terms.append(exposure)
    covs = [c for c in covariates if c in data and data[c].nunique() > 1]
    dropped = [c for c in covariates if c in data and c not in covs]
    if dropped:
        notes.append(f"constant covariate(s) left out: {', '.join(dropped)}")
    return data[[marker, *terms, *covs]], terms, "; ".join(notes)


def fit_adjusted(df: pd.DataFrame, marker: str, kind: str, exposure: str,
                 covariates: Sequence[str] = COVARIATES) -> list[Coef]:
    """Fit one adjusted model; ``kind`` is ``continuous``, ``count`` or ``ordinal``.

    Returns one :class:`Coef` per exposure term (a single row with a note when the model
    cannot be fitted: too few subjects, an empty reference group, no convergence).
    """
    import statsmodels.api as sm

    data, terms, note = _design(df, marker, exposure, covariates)
    y = data[marker]
    x = data.drop(columns=marker)
    n = len(data)
    nan = math.nan
    model_name = {"continuous": "OLS", "count": "Poisson", "ordinal": "ordinal logit"}[kind]
    if not terms or n < x.shape[1] + 3 or y.nunique() < 2:
        why = "not fitted: too few subjects, no exposure contrast or a constant marker"
        return [Coef(marker, exposure, exposure, model_name, "", nan, nan, nan, nan, n,
                     "; ".join(filter(None, [note, why])))]
    notes = [note] if note else []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            if kind == "continuous":
                res = sm.OLS(y, sm.add_constant(x, has_constant="add")).fit()
                scale = "difference"
            elif kind == "count":
                xc = sm.add_constant(x, has_constant="add")
                res = sm.GLM(y, xc, family=sm.families.Poisson()).fit()
                dispersion = float(res.pearson_chi2 / max(res.df_resid, 1))
                if dispersion > OVERDISPERSION:
                    nb = sm.NegativeBinomial(y, xc).fit(disp=False, maxiter=200)
                    if np.all(np.isfinite(nb.params)):
                        res, model_name = nb, "negative binomial (NB2)"
                        notes.append(f"Poisson dispersion {dispersion:.2f} > {OVERDISPERSION}")
                scale = "IRR"
            else:
                from statsmodels.miscmodels.ordinal_model import OrderedModel

                levels = sorted(y.unique())
                endog = pd.Series(pd.Categorical(y, categories=levels, ordered=True),
                                  index=y.index)
                res = OrderedModel(endog, x, distr="logit").fit(method="bfgs", disp=False,
                                                                maxiter=500)
                scale = "OR"
        except Exception as exc:  # numerical failure: reported, never hidden
            return [Coef(marker, exposure, exposure, model_name, "", nan, nan, nan, nan, n,
                         "; ".join([*notes, f"not fitted: {type(exc).__name__}: {exc}"]))]
    retvals = getattr(res, "mle_retvals", None) or {}
    sentence = plain_sentence(caught, converged=bool(retvals.get("converged", True)))
    if sentence:
        notes.append(sentence)
    params, ci, pv = res.params, res.conf_int(), res.pvalues
    out = []
    for term in terms:
        b, lo, hi = float(params[term]), float(ci.loc[term, 0]), float(ci.loc[term, 1])
        term_notes = list(notes)
        if scale in ("IRR", "OR"):
            if max(abs(b), abs(lo), abs(hi)) > MAX_LOG_RATIO or not np.isfinite([b, lo, hi]).all():
                # (quasi-)separation in a small sample: the ratio is not estimable
                term_notes.append("not estimable: separation or too few events")
                b, lo, hi = nan, nan, nan
            else:
                b, lo, hi = math.exp(b), math.exp(lo), math.exp(hi)
        out.append(Coef(marker, exposure, term, model_name, scale, b, lo, hi,
                        float(pv[term]) if np.isfinite(b) else nan, n, "; ".join(term_notes)))
    return out


def long_format(sessions: pd.DataFrame, baseline: pd.DataFrame, marker: str) -> pd.DataFrame:
    """Long data for one marker: subject, group (baseline severity), time (years), value."""
    grp = baseline[["subject", "severity_group"]].drop_duplicates("subject")
    data = sessions[["subject", "days_since_baseline", marker]].merge(grp, on="subject",
                                                                      how="inner")
    data = data.rename(columns={marker: "value", "severity_group": "group"})
    data["value"] = pd.to_numeric(data["value"], errors="coerce").astype(float)
    data["time"] = pd.to_numeric(data["days_since_baseline"], errors="coerce") / 365.25
    return data.dropna(subset=["value", "time", "group"])[["subject", "group", "time", "value"]]


def fit_mixed(long: pd.DataFrame, marker: str,
              groups: Sequence[str] = ("none_mild", "moderate", "severe")) -> dict:
    """MixedLM value ~ time * C(group) with a random intercept per subject (REML).

    Returns the time slope in the reference group, the time x group interaction terms
    (difference in yearly change vs the reference), each with 95% CI and P, the joint Wald
    test of the interaction (chi^2 = b' V^-1 b, df = number of terms), n subjects and
    observations, and notes (convergence, groups without subjects, subjects with one visit).
    """
    import statsmodels.formula.api as smf

    present = [g for g in groups if (long["group"] == g).any()]
    notes = [f"no subjects in group {g}" for g in groups if g not in present]
    n_subj = int(long["subject"].nunique())
    single = int((long.groupby("subject").size() == 1).sum())
    if single:
        notes.append(f"{single} subject(s) with one visit (intercept only)")
    out = {"marker": marker, "n_subjects": n_subj, "n_obs": len(long), "terms": []}
    if len(present) < 1 or long["time"].nunique() < 2 or n_subj < 3:
        out["note"] = "; ".join([*notes, "not fitted: fewer than 3 subjects or one time point"])
        return out
    ref = present[0]
    data = long.copy()
    data["group"] = pd.Categorical(data["group"], categories=present)
    formula = "value ~ time" if len(present) == 1 else (
        f"value ~ time * C(group, Treatment('{ref}'))")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            res = smf.mixedlm(formula, data, groups=data["subject"]).fit(reml=True)
        except Exception as exc:
            out["note"] = "; ".join([*notes, f"not fitted: {type(exc).__name__}: {exc}"])
            return out
    sentence = plain_sentence(caught, converged=bool(res.converged))
    if sentence:
        notes.append(sentence)
    ci = res.conf_int()
    for name in res.fe_params.index:
        if name == "time" or name.startswith("time:"):
            label = "time" if name == "time" else "time x " + name.split("[T.")[-1].rstrip("]")
            out["terms"].append({"term": label, "estimate": float(res.fe_params[name]),
                                 "ci_low": float(ci.loc[name, 0]),
                                 "ci_high": float(ci.loc[name, 1]),
                                 "p": float(res.pvalues[name])})
    inter = [n for n in res.fe_params.index if n.startswith("time:")]
    if inter:
        b = res.fe_params[inter].to_numpy()
        cov = res.cov_params().loc[inter, inter].to_numpy()
        wald = float(b @ np.linalg.solve(cov, b))
        out["interaction_wald_chi2"] = wald
        out["interaction_df"] = len(inter)
        out["interaction_p"] = float(_chi2_sf(wald, len(inter)))
    out["reference_group"] = ref
    out["note"] = "; ".join(notes)
    return out


def _chi2_sf(x: float, df: int) -> float:
    from scipy import stats

    return float(stats.chi2.sf(x, df))
