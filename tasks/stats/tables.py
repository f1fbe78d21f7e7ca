"""The paper's Tables 1-4 (done right) and the adjusted analyses, as pandas DataFrames.

Inputs are the warehouse views' DataFrames (``docs/architecture.md``). Each builder returns a
:class:`TableResult`: a tidy DataFrame (numbers, for the CSV), the columns to display, and
notes naming every choice and every subject left out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from tasks.stats import descriptive as d
from tasks.stats.bootstrap import bootstrap_correlation_ci
from tasks.stats.effect_sizes import cramers_v, epsilon_squared, eta_squared
from tasks.stats.hypothesis import (
    contingency_test,
    kruskal_wallis,
    one_way_anova,
    paired_tests,
    spearman,
    welch_anova,
)
from tasks.stats.markers import CHANGE_MARKERS, CLINICAL_BINARY, PV_GRADE_CATEGORIES, available
from tasks.stats.models import COVARIATES, fit_adjusted, fit_mixed, long_format
from tasks.stats.models import prepare_covariates as _prep
from tasks.stats.multiplicity import benjamini_hochberg, holm
from tasks.stats.trend import jonckheere_terpstra, linear_by_linear

GROUPS: tuple[str, ...] = ("none_mild", "moderate", "severe")
LOCATIONS: tuple[str, ...] = ("MCA", "BA", "ICA", "VA")
SEVERITY_RANK = {g: i for i, g in enumerate(GROUPS)}


@dataclass(frozen=True)
class Options:
    """Resampling settings: bootstrap and permutation counts, seed, CI method."""

    n_boot: int = 2000
    n_perm: int = 9999
    seed: int = 20240601
    ci_method: str = "BCa"
    min_expected: float = 5.0
    include_review: bool = False  # keep sessions in QC review (tasks/stats/qc_filter.py)


DEFAULT_OPTIONS = Options()


@dataclass
class TableResult:
    """A computed table: tidy numbers, the columns to show, a title and notes."""

    name: str
    title: str
    data: pd.DataFrame
    display: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def shown(self) -> pd.DataFrame:
        """The display columns (all columns when none are listed)."""
        cols = [c for c in self.display if c in self.data] or list(self.data.columns)
        return self.data[cols]


def _group_counts_note(df: pd.DataFrame, column: str, levels: Sequence[str], what: str) -> list:
    notes = []
    counts = df[column].value_counts(dropna=False)
    for lv in levels:
        if counts.get(lv, 0) == 0:
            notes.append(f"{what} '{lv}' has no subjects")
        elif counts.get(lv, 0) < 3:
            notes.append(f"{what} '{lv}' has only {counts.get(lv, 0)} subject(s)")
    other = df[~df[column].isin(levels)]
    if len(other):
        vals = ", ".join(f"{k}: {v}" for k, v in other[column].astype("string")
                         .fillna("none/missing").value_counts().items())
        notes.append(f"{len(other)} subject(s) outside the {what} levels left out ({vals})")
    return notes


def _fmt_p_cols(df: pd.DataFrame, cols: Sequence[str]) -> pd.DataFrame:
    out = df.copy()
    for c in cols:
        if c in out:
            out[c + "_fmt"] = [d.fmt_p(v) for v in out[c]]
    return out


# --------------------------------------------------------------------------- Table 1


def table1(baseline: pd.DataFrame, opts: Options = DEFAULT_OPTIONS) -> TableResult:
    """Clinical characteristics by severity group: age (mean ± SD, one-way ANOVA), male sex
    and the binary risk factors (n (%), chi-square or an exact test when expected counts are
    small; the method used is named per row)."""
    df = _prep(baseline)
    notes = _group_counts_note(df, "severity_group", GROUPS, "severity group")
    rows = []
    if "age" in df:
        ages = d.split_by_group(df, "age", "severity_group", GROUPS)
        an = one_way_anova(ages)
        row = {"variable": "Age, years (mean ± SD)", "key": "age_years"}
        for g in GROUPS:
            s = d.summarize(ages[g])
            row.update({g: d.fmt_mean_sd(s, 1), f"{g}_mean": s.mean, f"{g}_sd": s.sd})
        row.update(test=an.method, statistic=an.statistic, df=str(an.df or ""), p=an.p,
                   note=an.note)
        miss = int(df.loc[df["severity_group"].isin(GROUPS), "age"].isna().sum())
        if miss:
            row["note"] = "; ".join(filter(None, [row["note"], f"{miss} missing age"]))
        rows.append(row)
    else:
        notes.append("column age missing: row left out")
    binaries = [("male", "Male sex")] + list(CLINICAL_BINARY)
    keys = {"male": "sex_male_female"}
    for col, label in binaries:
        if col not in df:
            notes.append(f"column {col} missing: row left out")
            continue
        if col not in ("male",):
            df[col] = _to01_any(df[col])
        sub = df[df["severity_group"].isin(GROUPS)]
        n_miss = int(sub[col].isna().sum())
        table = np.array([[int((sub.loc[sub["severity_group"] == g, col] == 1).sum()),
                           int((sub.loc[sub["severity_group"] == g, col] == 0).sum())]
                          for g in GROUPS])
        res = contingency_test(table, min_expected=opts.min_expected, seed=opts.seed,
                               n_resamples=opts.n_perm)
        row = {"variable": f"{label}, n (%)", "key": keys.get(col, col)}
        for i, g in enumerate(GROUPS):
            row[g] = d.fmt_count_pct(int(table[i, 0]), int(table[i].sum()))
            row[f"{g}_yes"], row[f"{g}_n"] = int(table[i, 0]), int(table[i].sum())
        note = "; ".join(filter(None, [res.note, f"{n_miss} missing" if n_miss else ""]))
        trend = linear_by_linear(table, col_scores=[1.0, 0.0])
        row.update(test=res.method, statistic=res.statistic, df=str(res.df or ""), p=res.p,
                   trend_p=trend.p, note=note, yes_counts=table[:, 0].tolist(),
                   no_counts=table[:, 1].tolist())
        rows.append(row)
    out = _fmt_p_cols(pd.DataFrame(rows), ["p", "trend_p"])
    out["statistic_fmt"] = [d.fmt_num(v, 3) for v in out["statistic"]]
    return TableResult("table1", "Table 1. Clinical characteristics by ICAC severity group",
                       out, ["variable", *GROUPS, "test", "statistic_fmt", "df", "p_fmt",
                             "trend_p_fmt", "note"],
                       notes + ["trend P: linear-by-linear (Cochran-Armitage type) test across "
                                "the ordered severity groups, 1 df."])


def _to01_any(s: pd.Series) -> pd.Series:
    t = s.astype("string").str.strip().str.lower()
    return t.map({"true": 1.0, "yes": 1.0, "1": 1.0, "1.0": 1.0,
                  "false": 0.0, "no": 0.0, "0": 0.0, "0.0": 0.0}).astype(float)


# --------------------------------------------------------------------------- Table 2


def _describe_groups(row: dict, groups: dict[str, np.ndarray], levels: Sequence[str],
                     digits: int = 2) -> None:
    for g in levels:
        s = d.summarize(groups[g])
        row.update({f"{g}_n": s.n, f"{g}_mean": s.mean, f"{g}_sd": s.sd,
                    f"{g}_median": s.median, f"{g}_q1": s.q1, f"{g}_q3": s.q3,
                    f"{g}_mean_sd": d.fmt_mean_sd(s, digits),
                    f"{g}_median_iqr": d.fmt_median_iqr(s, 1)})


def _severity_scores(df: pd.DataFrame) -> pd.Series:
    return df["severity_group"].map(SEVERITY_RANK).astype(float)


def table2(baseline: pd.DataFrame,
           opts: Options = DEFAULT_OPTIONS) -> tuple[TableResult, TableResult]:
    """Each marker by severity group and the periventricular grade contingency table.

    Per marker: n, mean ± SD, median (IQR); Spearman r with ordinal severity (t and
    permutation P, bootstrap CI); one-way ANOVA; Kruskal-Wallis; Jonckheere-Terpstra
    (increasing order none_mild < moderate < severe, two-sided); Holm and BH adjustment of
    the Spearman P values across the markers.
    """
    df = baseline[baseline["severity_group"].isin(GROUPS)].copy()
    notes = _group_counts_note(baseline, "severity_group", GROUPS, "severity group")
    sev = _severity_scores(df)
    rows = []
    for i, m in enumerate(available(df.columns)):
        groups = d.split_by_group(df, m.name, "severity_group", GROUPS)
        row = {"marker": m.name, "label": m.label, "unit": m.unit, "primary": m.primary}
        _describe_groups(row, groups, GROUPS)
        y = pd.to_numeric(df[m.name], errors="coerce").astype(float)
        sp = spearman(sev, y, n_resamples=opts.n_perm, seed=opts.seed + i)
        ci = bootstrap_correlation_ci(sev, y, n_resamples=opts.n_boot, seed=opts.seed + i,
                                      method=opts.ci_method)
        an, kw = one_way_anova(groups), kruskal_wallis(groups)
        jt = jonckheere_terpstra(groups, n_resamples=opts.n_perm, seed=opts.seed + i)
        welch = welch_anova(groups)
        n_missing = int(y.isna().sum())
        row.update(spearman_r=sp.statistic, spearman_p=sp.p,
                   spearman_p_perm=sp.extra.get("p_perm", math.nan), r_ci_low=ci.low,
                   r_ci_high=ci.high, r_ci_method=ci.method, anova_F=an.statistic,
                   anova_p=an.p, welch_p=welch.p, kw_H=kw.statistic, kw_p=kw.p, jt_J=jt.statistic,
                   jt_z=jt.extra.get("z", math.nan), jt_p=jt.p,
                   jt_p_method=jt.extra.get("p_method", ""),
                   note="; ".join(filter(None, [f"{n_missing} missing" if n_missing else "",
                                                sp.note, an.note, kw.note, jt.note, ci.note])))
        rows.append(row)
    out = pd.DataFrame(rows)
    if len(out):
        out["spearman_p_holm"] = holm(out["spearman_p"])
        out["spearman_p_bh"] = benjamini_hochberg(out["spearman_p"])
        out["r_fmt"] = [f"{d.fmt_num(r)} [{d.fmt_num(lo)}, {d.fmt_num(hi)}]" for r, lo, hi in
                        zip(out["spearman_r"], out["r_ci_low"], out["r_ci_high"], strict=True)]
    out = _fmt_p_cols(out, ["spearman_p", "spearman_p_perm", "anova_p", "welch_p", "kw_p", "jt_p",
                            "spearman_p_holm", "spearman_p_bh"])
    display = ["label", *[f"{g}_mean_sd" for g in GROUPS], *[f"{g}_median_iqr" for g in GROUPS],
               "r_fmt", "spearman_p_fmt", "spearman_p_perm_fmt", "spearman_p_holm_fmt",
               "spearman_p_bh_fmt", "anova_p_fmt", "welch_p_fmt", "kw_p_fmt", "jt_z", "jt_p_fmt",
               "note"]
    t2 = TableResult("table2", "Table 2. MRI markers by ICAC severity group", out, display,
                     notes + ["r: Spearman correlation with severity scored 0/1/2, "
                              f"{opts.ci_method} bootstrap 95% CI ({opts.n_boot} resamples, "
                              f"seed {opts.seed}+marker index); P: t approximation, P perm: "
                              f"permutation ({opts.n_perm}); Holm/BH across the markers "
                              "listed; JT: Jonckheere-Terpstra, two-sided."])
    return t2, grade_table(df, "severity_group", GROUPS, opts, ordered=True, name="table2_grade",
                           title="Table 2b. Periventricular punctate grade by severity group")


def grade_table(df: pd.DataFrame, column: str, levels: Sequence[str], opts: Options, *,
                ordered: bool, name: str, title: str,
                marker: str = "pv_punctate_grade") -> TableResult:
    """Counts (%) of the periventricular grade (0-1 / 2 / 3) per level of ``column``, with the
    independence test (chi-square or exact), Cramer's V, and for an ordered ``column`` the
    linear-by-linear trend test and Spearman r."""
    if marker not in df:
        return TableResult(name, title, pd.DataFrame(), notes=[f"{marker} not available"])
    grade = pd.to_numeric(df[marker], errors="coerce")
    cat = pd.Series(pd.NA, index=df.index, dtype="object")
    for label, values in PV_GRADE_CATEGORIES:
        cat[grade.isin(values)] = label
    cats = [c for c, _ in PV_GRADE_CATEGORIES]
    table = np.array([[int(((df[column] == lv) & (cat == c)).sum()) for c in cats]
                      for lv in levels])
    rows = []
    for i, lv in enumerate(levels):
        row = {column: lv, "n": int(table[i].sum())}
        for j, c in enumerate(cats):
            row[c] = d.fmt_count_pct(int(table[i, j]), int(table[i].sum()))
            row[c + "_count"] = int(table[i, j])
        rows.append(row)
    res = contingency_test(table, min_expected=opts.min_expected, seed=opts.seed,
                           n_resamples=opts.n_perm)
    stats_row = {column: "test", "n": int(table.sum()), "test": res.method,
                 "statistic": res.statistic, "p": res.p, "cramers_v": cramers_v(table),
                 "note": res.note}
    notes = [f"{int(grade.isna().sum())} subject(s) without a grade"] if grade.isna().any() else []
    if ordered:
        lbl = linear_by_linear(table)
        sev = df[column].map({lv: i for i, lv in enumerate(levels)}).astype(float)
        sp = spearman(sev, grade.astype(float), n_resamples=opts.n_perm, seed=opts.seed)
        stats_row.update(trend_M2=lbl.statistic, trend_p=lbl.p, spearman_r=sp.statistic,
                         spearman_p=sp.p)
    rows.append(stats_row)
    out = _fmt_p_cols(pd.DataFrame(rows), ["p", "trend_p", "spearman_p"])
    display = [column, "n", *cats, "test", "p_fmt", "cramers_v", "trend_M2", "trend_p_fmt",
               "spearman_r", "spearman_p_fmt", "note"]
    return TableResult(name, title, out, display, notes)


# --------------------------------------------------------------------------- Table 3


def table3(baseline: pd.DataFrame,
           opts: Options = DEFAULT_OPTIONS) -> tuple[TableResult, TableResult]:
    """Markers by dominant calcification location (nominal): ANOVA with eta squared,
    Kruskal-Wallis with epsilon squared; the grade with chi-square/exact and Cramer's V."""
    df = baseline.copy()
    if "dominant_location" not in df:
        empty = TableResult("table3", "Table 3. MRI markers by dominant calcification location",
                            pd.DataFrame(), notes=["dominant_location missing: no Table 3"])
        return empty, TableResult("table3_grade", "Table 3b", pd.DataFrame())
    present = [loc for loc in LOCATIONS if (df["dominant_location"] == loc).any()]
    levels = [loc for loc in LOCATIONS if loc in present or loc in ("MCA", "BA", "ICA")]
    notes = _group_counts_note(df, "dominant_location", levels, "location")
    df = df[df["dominant_location"].isin(levels)]
    rows = []
    for m in available(df.columns):
        groups = d.split_by_group(df, m.name, "dominant_location", levels)
        row = {"marker": m.name, "label": m.label, "unit": m.unit, "primary": m.primary}
        _describe_groups(row, groups, levels)
        an, kw = one_way_anova(groups), kruskal_wallis(groups)
        row.update(anova_F=an.statistic, anova_p=an.p, welch_p=welch_anova(groups).p,
                   eta2=eta_squared(groups),
                   kw_H=kw.statistic, kw_p=kw.p, epsilon2=epsilon_squared(kw.statistic, kw.n),
                   note="; ".join(filter(None, [an.note, kw.note])))
        rows.append(row)
    out = pd.DataFrame(rows)
    if len(out):
        out["kw_p_holm"] = holm(out["kw_p"])
        out["kw_p_bh"] = benjamini_hochberg(out["kw_p"])
    out = _fmt_p_cols(out, ["anova_p", "welch_p", "kw_p", "kw_p_holm", "kw_p_bh"])
    display = ["label", *[f"{loc}_mean_sd" for loc in levels], "anova_F", "anova_p_fmt",
               "welch_p_fmt", "eta2",
               "kw_H", "kw_p_fmt", "epsilon2", "kw_p_holm_fmt", "kw_p_bh_fmt", "note"]
    t3 = TableResult("table3", "Table 3. MRI markers by dominant calcification location", out,
                     display, notes + ["Location is nominal: k-group tests with effect sizes, "
                                       "no correlation. Holm/BH across markers on the "
                                       "Kruskal-Wallis P."])
    return t3, grade_table(df, "dominant_location", levels, opts, ordered=False,
                           name="table3_grade",
                           title="Table 3b. Periventricular punctate grade by location")


# --------------------------------------------------------------------------- Table 4


def table4(change: pd.DataFrame, sessions: pd.DataFrame | None, baseline: pd.DataFrame,
           opts: Options = DEFAULT_OPTIONS) -> TableResult:
    """One-year change by severity group: change mean ± SD, within-group paired t and
    Wilcoxon tests, Spearman r of change with severity (bootstrap CI), and a linear mixed
    model (time x group, random intercept) per marker on the long format."""
    notes = []
    base_n = baseline["severity_group"].value_counts()
    ch_n = change["severity_group"].value_counts()
    for g in GROUPS:
        lost = int(base_n.get(g, 0) - ch_n.get(g, 0))
        if lost > 0:
            notes.append(f"{g}: {lost} of {int(base_n.get(g, 0))} subject(s) without a "
                         "follow-up (not in the change analysis; kept in the mixed model)")
        if base_n.get(g, 0) == 0:
            notes.append(f"severity group '{g}' has no subjects")
    df = change[change["severity_group"].isin(GROUPS)].copy()
    sev = _severity_scores(df)
    rows = []
    for i, name in enumerate(CHANGE_MARKERS):
        col = f"{name}_change"
        if col not in df:
            continue
        m = next(iter(available([name], [name])), None)
        groups = d.split_by_group(df, col, "severity_group", GROUPS)
        row = {"marker": name, "label": m.label if m else name, "unit": m.unit if m else ""}
        _describe_groups(row, groups, GROUPS)
        row_notes = []
        for g in GROUPS:
            sub = df[df["severity_group"] == g]
            pt = paired_tests(sub.get(f"{name}_baseline", pd.Series(dtype=float)),
                              sub.get(f"{name}_followup", pd.Series(dtype=float)))
            row[f"{g}_paired_t_p"] = pt["paired_t"].p
            row[f"{g}_wilcoxon_p"] = pt["wilcoxon"].p
            if pt["paired_t"].note and len(sub):
                row_notes.append(f"{g}: {pt['paired_t'].note}")
        y = pd.to_numeric(df[col], errors="coerce").astype(float)
        sp = spearman(sev, y, n_resamples=opts.n_perm, seed=opts.seed + i)
        ci = bootstrap_correlation_ci(sev, y, n_resamples=opts.n_boot, seed=opts.seed + i,
                                      method=opts.ci_method)
        anova = one_way_anova(groups)
        row.update(spearman_r=sp.statistic, spearman_p=sp.p,
                   spearman_p_perm=sp.extra.get("p_perm", math.nan), r_ci_low=ci.low,
                   r_ci_high=ci.high, anova_p=anova.p)
        if sessions is not None and name in sessions:
            mixed = fit_mixed(long_format(sessions, baseline, name), name)
            row["mixed_n_subjects"] = mixed["n_subjects"]
            row["mixed_n_obs"] = mixed["n_obs"]
            for t in mixed["terms"]:
                key = "lmm_" + t["term"].replace(" x ", "_x_")
                row[key] = t["estimate"]
                row[key + "_ci"] = f"[{d.fmt_num(t['ci_low'])}, {d.fmt_num(t['ci_high'])}]"
                row[key + "_p"] = t["p"]
            row["lmm_interaction_p"] = mixed.get("interaction_p", math.nan)
            if mixed.get("note"):
                row_notes.append("LMM: " + mixed["note"])
        row["note"] = "; ".join(filter(None, [*row_notes, sp.note, ci.note]))
        rows.append(row)
    out = pd.DataFrame(rows)
    if len(out):
        out["spearman_p_holm"] = holm(out["spearman_p"])
        out["spearman_p_bh"] = benjamini_hochberg(out["spearman_p"])
        out["r_fmt"] = [f"{d.fmt_num(r)} [{d.fmt_num(lo)}, {d.fmt_num(hi)}]" for r, lo, hi in
                        zip(out["spearman_r"], out["r_ci_low"], out["r_ci_high"], strict=True)]
    pcols = ["spearman_p", "spearman_p_holm", "spearman_p_bh", "lmm_interaction_p",
             "lmm_time_x_moderate_p",
             "lmm_time_x_severe_p", *[f"{g}_paired_t_p" for g in GROUPS],
             *[f"{g}_wilcoxon_p" for g in GROUPS]]
    out = _fmt_p_cols(out, pcols)
    display = ["label", *[f"{g}_mean_sd" for g in GROUPS],
               *[f"{g}_paired_t_p_fmt" for g in GROUPS], *[f"{g}_wilcoxon_p_fmt" for g in GROUPS],
               "r_fmt", "spearman_p_fmt", "spearman_p_holm_fmt", "lmm_time",
               "lmm_time_x_moderate", "lmm_time_x_moderate_p_fmt", "lmm_time_x_severe",
               "lmm_time_x_severe_p_fmt", "lmm_interaction_p_fmt", "note"]
    return TableResult("table4", "Table 4. One-year change by ICAC severity group", out, display,
                       notes + ["Change = follow-up minus baseline. Paired tests within each "
                                "group; LMM: marker ~ time (years) x group, random intercept "
                                "per subject (REML); lmm_time is the yearly change in "
                                "none_mild, lmm_time_x_* the difference in yearly change."])


# --------------------------------------------------------------------------- adjusted


def adjusted(baseline: pd.DataFrame, covariates: Sequence[str] = COVARIATES) -> TableResult:
    """Each marker on severity group and, separately, on log1p(calcium volume), adjusted for
    the covariates; model by marker kind; Holm/BH across markers per exposure term."""
    df = _prep(baseline)
    rows = []
    for m in available(df.columns):
        for exposure in ("severity_group", "log_calcium"):
            if exposure == "log_calcium" and "log_calcium" not in df:
                continue
            for c in fit_adjusted(df, m.name, m.kind, exposure, covariates):
                rows.append({**c.__dict__, "label": m.label})
    out = pd.DataFrame(rows)
    notes = [f"covariates: {', '.join(covariates)}; effects: difference (OLS), incidence rate "
             "ratio (Poisson/NB), odds ratio (ordinal logit); log_calcium = log1p(total "
             "calcium volume, mm³)."]
    if len(out):
        out["p_holm"] = np.nan
        out["p_bh"] = np.nan
        for _, idx in out.groupby("term").groups.items():
            out.loc[idx, "p_holm"] = holm(out.loc[idx, "p"])
            out.loc[idx, "p_bh"] = benjamini_hochberg(out.loc[idx, "p"])
        out["effect_fmt"] = [f"{d.fmt_num(e)} [{d.fmt_num(lo)}, {d.fmt_num(hi)}]" for e, lo, hi in
                             zip(out["estimate"], out["ci_low"], out["ci_high"], strict=True)]
        out = _fmt_p_cols(out, ["p", "p_holm", "p_bh"])
    display = ["label", "term", "model", "scale", "effect_fmt", "p_fmt", "p_holm_fmt",
               "p_bh_fmt", "n", "note"]
    return TableResult("adjusted", "Adjusted analyses (95% CI)", out, display, notes)


# --------------------------------------------------------------------------- per artery


def icac_by_artery(arteries: pd.DataFrame | None, baseline: pd.DataFrame) -> TableResult:
    """Baseline calcification per artery (sides pooled) by severity group: subjects with any
    calcium, n (%), and median (IQR) calcium volume (mm³) among them; the first session of
    each subject is its baseline."""
    title = "ICAC by artery at baseline"
    if arteries is None or not len(arteries) or "calcium_volume_mm3" not in arteries:
        return TableResult("icac_by_artery", title, pd.DataFrame(),
                           notes=["v_icac_by_artery missing or empty"])
    a = arteries.copy()
    a["calcium_volume_mm3"] = pd.to_numeric(a["calcium_volume_mm3"], errors="coerce")
    first = a.groupby("subject")["session"].transform("min")
    a = a[a["session"] == first]
    per = a.groupby(["subject", "artery"], as_index=False)["calcium_volume_mm3"].sum()
    per = per.merge(baseline[["subject", "severity_group"]], on="subject", how="inner")
    rows = []
    for artery in sorted(per["artery"].dropna().unique()):
        row = {"artery": artery}
        for g in GROUPS:
            n_g = int((baseline["severity_group"] == g).sum())
            vol = per.loc[(per["artery"] == artery) & (per["severity_group"] == g),
                          "calcium_volume_mm3"]
            pos = vol[vol > 0]
            row[f"{g}_calcified"] = d.fmt_count_pct(len(pos), n_g)
            row[f"{g}_n_calcified"] = len(pos)
            row[f"{g}_volume"] = d.fmt_median_iqr(d.summarize(pos), 1)
        rows.append(row)
    out = pd.DataFrame(rows)
    display = ["artery", *[f"{g}_calcified" for g in GROUPS], *[f"{g}_volume" for g in GROUPS]]
    return TableResult("icac_by_artery", title, out, display,
                       ["calcified: subjects with calcium volume > 0 in that artery, % of the "
                        "group; volume: median (IQR) among them, mm³."])
