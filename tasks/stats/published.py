"""The reference study's published tables: loading, internal consistency, comparison with ours.

* :func:`load_published` reads ``tables.yaml`` from an explicit path (the report passes
  ``<repo>/../shared/paper/tables.yaml`` when it exists, else the copy shipped beside this
  module, :data:`PACKAGED_TABLES`).
* :func:`consistency_checks` recomputes, from the published numbers alone, each correlation's
  two-sided P at the reported n (t = r sqrt((n-2)/(1-r^2)), n-2 df), the n that the published
  P would imply, the Table 1 statistics from the published counts and summary statistics, and
  the severity-grade correlation implied by the published grade counts.
* :func:`compare` lines up published and recomputed values (means, r, P, statistics).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from scipy import optimize, stats

from tasks.stats.hypothesis import anova_from_summary, r_to_p, spearman

PACKAGED_TABLES = Path(__file__).with_name("published_tables.yaml")
GROUPS = ("none_mild", "moderate", "severe")

#: the inconsistencies the paper's README lists: (table, row)
README_LISTED: frozenset[tuple[str, str]] = frozenset({
    ("table2", "lacune_count_median_iqr"), ("table3", "microbleed_count"),
    ("table4", "fazekas_total_change"), ("table4", "microbleed_count_change"),
    ("table4", "wmh_volume_change_cm3"),
})

#: published row -> our marker name
TABLE2_MAP = {"fazekas_total": "fazekas_total", "microbleed_count": "microbleed_count",
              "wmh_volume_cm3": "wmh_volume_cm3", "lacune_count_median_iqr": "lacune_count",
              "periventricular_grade_counts": "pv_punctate_grade"}
TABLE3_MAP = {"fazekas_total": "fazekas_total", "microbleed_count": "microbleed_count",
              "wmh_volume_cm3": "wmh_volume_cm3", "lacune_count": "lacune_count",
              "microbleed_volume": "microbleed_volume_mm3",
              "periventricular_grade_counts": "pv_punctate_grade"}
TABLE4_MAP = {"fazekas_total_change": "fazekas_total", "microbleed_count_change":
              "microbleed_count", "wmh_volume_change_cm3": "wmh_volume_cm3",
              "lacune_count_change": "lacune_count"}


def default_published_path(repo_root: Path) -> Path:
    """``<repo_root>/../shared/paper/tables.yaml`` if it exists, else the packaged copy."""
    shared = Path(repo_root).resolve().parent / "shared" / "paper" / "tables.yaml"
    return shared if shared.is_file() else PACKAGED_TABLES


def load_published(path: Path | str = PACKAGED_TABLES) -> dict:
    """The published tables as a dict (``yaml.safe_load``)."""
    with open(path, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def parse_p(value) -> tuple[float, str]:
    """A published P as (value, relation): ``"<0.001"`` -> (0.001, "<"); 0.032 -> (0.032, "=")."""
    if isinstance(value, str):
        v = value.strip()
        if v.startswith("<"):
            return float(v[1:]), "<"
        return float(v), "="
    return float(value), "="


def p_interval_for_r(r: float, n: int, r_decimals: int = 2) -> tuple[float, float]:
    """Range of two-sided P for any r that rounds to the published r (r ± half a unit)."""
    h = 0.5 * 10 ** (-r_decimals)
    ps = [r_to_p(abs(r) - h, n), r_to_p(abs(r) + h, n)]
    return min(ps), max(ps)


def implied_n(r: float, p: float) -> float:
    """Sample size at which r gives the two-sided P (NaN when none in 4..100000)."""
    def g(n: float) -> float:
        t = abs(r) * math.sqrt((n - 2) / (1 - r * r))
        return 2 * stats.t.sf(t, n - 2) - p

    try:
        if g(4) * g(100000) > 0:
            return math.nan
        return float(round(optimize.brentq(g, 4, 100000)))
    except ValueError:
        return math.nan


def _p_consistent(p_rec_range: tuple[float, float], p_pub: float, rel: str) -> bool:
    lo, hi = p_rec_range
    if rel == "<":
        return lo < p_pub
    decimals = max(0, -int(math.floor(math.log10(p_pub)))) + 1 if p_pub > 0 else 3
    tol = 0.5 * 10 ** (-decimals)
    return lo - tol <= p_pub <= hi + tol


def r_p_checks(published: dict, n: int | None = None) -> pd.DataFrame:
    """Every published (r, P) pair checked against the P that r implies at n."""
    n = int(n or published["cohort"]["included"])
    rows = []
    for key in ("table2_mri_by_severity", "table3_mri_by_location",
                "table4_one_year_change_by_severity"):
        table = key.split("_")[0]
        for item, vals in published[key].items():
            if not isinstance(vals, dict) or "r" not in vals:
                continue
            r = float(vals["r"])
            p_pub, rel = parse_p(vals["p"])
            p_rec = r_to_p(r, n)
            rng = p_interval_for_r(r, n)
            ok = _p_consistent(rng, p_pub, rel)
            rows.append({"table": table, "row": item, "r": r, "n": n,
                         "p_published": f"{rel if rel == '<' else ''}{p_pub:g}",
                         "p_from_r": p_rec, "p_from_r_low": rng[0], "p_from_r_high": rng[1],
                         "consistent": ok,
                         "n_implied_by_p": math.nan if rel == "<" else implied_n(r, p_pub),
                         "listed_in_readme": (table, item) in README_LISTED,
                         "comment": _comment(ok, (table, item) in README_LISTED, table)})
    out = pd.DataFrame(rows)
    if len(out):
        out["n_implied_by_p"] = out["n_implied_by_p"].round().astype("Int64")
    return out


def _comment(ok: bool, listed: bool, table: str) -> str:
    parts = []
    if not ok:
        parts.append("published P does not match r at this n"
                     + ("" if listed else " (not in the README's list)"))
    elif listed:
        parts.append("listed in the README but within rounding here")
    if table == "table3":
        parts.append("location is nominal: a correlation with it is not defined")
    return "; ".join(parts)


def _expand_counts(table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    rows, cols = np.nonzero(table >= 0)
    reps = table[rows, cols].astype(int)
    return np.repeat(rows, reps).astype(float), np.repeat(cols, reps).astype(float)


def recomputed_from_counts(published: dict) -> pd.DataFrame:
    """Statistics recomputed from the published counts and summary statistics alone."""
    rows = []
    t1 = published["table1_baseline_characteristics"]
    n_g = [published["cohort"]["groups"][g] for g in GROUPS]
    for item, vals in t1.items():
        if item == "age_years":
            res = anova_from_summary(n_g, [vals[g][0] for g in GROUPS],
                                     [vals[g][1] for g in GROUPS])
            method = "ANOVA F from n, mean, SD"
        else:
            table = np.array([vals[g] for g in GROUPS])
            chi = stats.chi2_contingency(table, correction=False)
            res = type("R", (), {"statistic": float(chi.statistic), "p": float(chi.pvalue)})
            method = "Pearson chi-square from counts"
        rows.append({"table": "table1", "row": item, "quantity": method,
                     "published_stat": vals["stat"], "recomputed_stat": res.statistic,
                     "published_p": vals["p"], "recomputed_p": res.p,
                     "consistent": abs(res.statistic - vals["stat"]) <= 0.0015 + 0.001 *
                     abs(vals["stat"])})
    for key, levels in (("table2_mri_by_severity", GROUPS), ("table3_mri_by_location",
                                                             ("MCA", "BA", "ICA"))):
        g = published[key].get("periventricular_grade_counts")
        if not g:
            continue
        table = np.array([[g[lv][c] for c in ("g0_1", "g2", "g3")] for lv in levels])
        chi = stats.chi2_contingency(table, correction=False)
        x, y = _expand_counts(table)
        sp = spearman(x, y)
        p_pub, rel = parse_p(g["p"])
        ordered = key.startswith("table2")
        rows.append({"table": key.split("_")[0], "row": "periventricular_grade_counts",
                     "quantity": ("Spearman r implied by the grade counts" if ordered else
                                  "chi-square of the grade counts (r undefined: nominal)"),
                     "published_stat": g["r"],
                     "recomputed_stat": sp.statistic if ordered else float(chi.statistic),
                     "published_p": g["p"], "recomputed_p": sp.p if ordered else
                     float(chi.pvalue),
                     "consistent": bool(abs(sp.statistic - g["r"]) < 0.05 and (
                         sp.p < p_pub if rel == "<" else True)) if ordered else bool(
                         (chi.pvalue < p_pub) if rel == "<" else True)})
    return pd.DataFrame(rows)


def compare(published: dict, table2: pd.DataFrame, table3: pd.DataFrame,
            table4: pd.DataFrame, *, grade2: pd.DataFrame | None = None,
            grade3: pd.DataFrame | None = None, table1: pd.DataFrame | None = None,
            tolerance: float = 0.15) -> pd.DataFrame:
    """Published vs our value for group means/medians (within ``tolerance`` relative), SDs,
    IQR bounds, Table 1 ages and proportions, grade proportions, r, and direction and
    significance agreement of r."""
    rows: list[dict] = []
    if table1 is not None and len(table1) and "key" in table1:
        ours1 = {r["key"]: r for r in table1.to_dict("records")}
        for item, vals in published["table1_baseline_characteristics"].items():
            row = ours1.get(item)
            for g in GROUPS:
                if item == "age_years":
                    rows.append(_cmp_row("table1", item, "age", f"mean {g}", vals[g][0],
                                         row.get(f"{g}_mean", math.nan) if row else math.nan,
                                         tolerance))
                else:
                    n_our = row.get(f"{g}_n", 0) if row else 0
                    ours = row.get(f"{g}_yes", math.nan) / n_our if n_our else math.nan
                    rows.append(_cmp_row("table1", item, item, f"proportion yes {g}",
                                         vals[g][0] / sum(vals[g]), ours, None))
            rec = _cmp_row("table1", item, item, "P", vals["p"],
                           row.get("p", math.nan) if row else math.nan, None)
            rec["published_significant"] = bool(vals["p"] < 0.05)
            rec["our_significant"] = bool(row is not None and row.get("p", 1.0) < 0.05)
            rows.append(rec)
    for table, key, grade, column in (("table2", "table2_mri_by_severity", grade2,
                                       "severity_group"),
                                      ("table3", "table3_mri_by_location", grade3,
                                       "dominant_location")):
        counts = published[key].get("periventricular_grade_counts", {})
        if grade is None or not len(grade) or column not in grade:
            continue
        ours_by = {r[column]: r for r in grade.to_dict("records")}
        for lv, cats in counts.items():
            if not isinstance(cats, dict) or lv not in ours_by:
                continue
            total_pub = sum(cats.values())
            total_our = ours_by[lv].get("n", 0)
            for cat, value in cats.items():
                ours = (ours_by[lv].get(f"{cat}_count", math.nan) / total_our if total_our
                        else math.nan)
                rows.append(_cmp_row(table, "periventricular_grade_counts",
                                     "pv_punctate_grade", f"proportion {cat} {lv}",
                                     value / total_pub, ours, None))

    def by_marker(df: pd.DataFrame) -> dict:
        return {r["marker"]: r for r in df.to_dict("records")} if len(df) else {}

    ours2, ours3, ours4 = by_marker(table2), by_marker(table3), by_marker(table4)
    specs = (("table2", "table2_mri_by_severity", TABLE2_MAP, ours2, GROUPS, ""),
             ("table3", "table3_mri_by_location", TABLE3_MAP, ours3, ("MCA", "BA", "ICA"), ""),
             ("table4", "table4_one_year_change_by_severity", TABLE4_MAP, ours4, GROUPS, ""))
    for table, key, mapping, ours, levels, _ in specs:
        for item, vals in published[key].items():
            marker = mapping.get(item)
            if marker is None or not isinstance(vals, dict):
                continue
            row = ours.get(marker)
            for lv in levels:
                if lv not in vals or not isinstance(vals[lv], list):
                    continue
                pub = vals[lv]
                stat = "median" if item.endswith("median_iqr") else "mean"
                our = row.get(f"{lv}_{stat}", math.nan) if row else math.nan
                rows.append(_cmp_row(table, item, marker, f"{stat} {lv}", pub[0], our,
                                     tolerance))
                if len(pub) > 1 and stat == "mean":
                    rows.append(_cmp_row(table, item, marker, f"SD {lv}", pub[1],
                                         row.get(f"{lv}_sd", math.nan) if row else math.nan,
                                         None))
                if len(pub) > 2 and stat == "median":
                    for i, q in ((1, "q1"), (2, "q3")):
                        rows.append(_cmp_row(table, item, marker, f"{q.upper()} {lv}", pub[i],
                                             row.get(f"{lv}_{q}", math.nan) if row else
                                             math.nan, None))
            if "r" in vals and table != "table3":
                p_pub, rel = parse_p(vals["p"])
                our_r = row.get("spearman_r", math.nan) if row else math.nan
                our_p = row.get("spearman_p", math.nan) if row else math.nan
                rec = _cmp_row(table, item, marker, "r with severity", vals["r"], our_r, None)
                rec["same_direction"] = bool(np.sign(our_r) == np.sign(vals["r"]))
                rec["published_significant"] = bool(p_pub < 0.05 if rel == "=" else True)
                rec["our_p"] = our_p
                rec["our_significant"] = bool(our_p < 0.05)
                rows.append(rec)
            elif "r" in vals:
                rec = _cmp_row(table, item, marker, "published r (nominal: not recomputed)",
                               vals["r"], math.nan, None)
                rec["our_p"] = row.get("kw_p", math.nan) if row else math.nan
                rec["comment"] = "we test location with Kruskal-Wallis; P shown is ours"
                rows.append(rec)
    out = pd.DataFrame(rows)
    order = ["table", "row", "marker", "quantity", "published", "ours", "relative_difference",
             "within_tolerance", "same_direction", "published_significant", "our_significant",
             "our_p", "comment"]
    return out[[c for c in order if c in out] + [c for c in out if c not in order]]


def _cmp_row(table: str, item: str, marker: str, quantity: str, pub: float, our: float,
             tolerance: float | None) -> dict:
    pub = float(pub)
    our = float(our) if our is not None else math.nan
    rel = (our - pub) / abs(pub) if pub and np.isfinite(our) else math.nan
    out = {"table": table, "row": item, "marker": marker, "quantity": quantity,
           "published": pub, "ours": our, "relative_difference": rel}
    if tolerance is not None:
        out["within_tolerance"] = bool(np.isfinite(rel) and abs(rel) <= tolerance)
    return out


PAPER_HEADLINE = ("fazekas_total", "microbleed_count", "wmh_volume_cm3", "pv_punctate_grade")


def paper_agreement(comparison: pd.DataFrame) -> dict:
    """Headline agreement with the paper's Table 2 (the issue's acceptance measure): for
    Fazekas, microbleeds, WMH volume and the grade, same direction and significance of r;
    for the group means of Fazekas, microbleeds and WMH volume, the share within tolerance."""
    if comparison is None or comparison.empty:
        return {}
    t2 = comparison[comparison["table"] == "table2"]
    r = t2[(t2["quantity"] == "r with severity") & t2["marker"].isin(PAPER_HEADLINE)]
    means = t2[t2["quantity"].str.startswith("mean") & t2["marker"].isin(PAPER_HEADLINE)]
    agree = {m: bool(x["same_direction"] and x["our_significant"] == x["published_significant"])
             for m, x in r.set_index("marker").iterrows()}
    return {"direction_and_significance": agree,
            "all_direction_and_significance": bool(agree) and all(agree.values()),
            "means_within_tolerance": int(means["within_tolerance"].sum()),
            "means_compared": len(means),
            "max_relative_difference": float(means["relative_difference"].abs().max())
            if len(means) else math.nan}
