"""Synthetic analyst frames drawn from the published group statistics (tests, demos, benches).

:func:`synthetic_frames` returns DataFrames with exactly the columns of the warehouse views
(``docs/architecture.md``): group sizes scale with the published ones, markers are drawn from
the published group means and SDs (Table 2 for baseline, Table 4 for the one-year change),
clinical covariates from the Table 1 proportions. Not a model of the images: only of the
numbers the analysis receives. Optionally some subjects lose their follow-up and a group can
be emptied, to exercise the robustness paths.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from tasks.stats.published import GROUPS, PACKAGED_TABLES, load_published

LOCATION_BY_GROUP = {"none_mild": ("MCA", "BA", "ICA", None),
                     "moderate": ("MCA", "BA", "ICA"), "severe": ("MCA", "BA", "ICA")}
CALCIUM_LOG_MEAN = {"none_mild": 2.0, "moderate": 4.0, "severe": 5.8}


def _normal_int(rng, mean, sd, n, lo=0, hi=None) -> np.ndarray:
    x = np.rint(rng.normal(mean, sd, n))
    return np.clip(x, lo, hi if hi is not None else np.inf).astype(int)


def synthetic_frames(scale: float = 1.0, *, seed: int = 0, missing_follow_up: float = 0.0,
                     empty_group: str | None = None, published: dict | None = None) -> dict:
    """Frames ``baseline``, ``change``, ``sessions``, ``icac_by_artery`` as DataFrames.

    ``scale`` multiplies the published group sizes (60/35/31); ``missing_follow_up`` is the
    share of subjects without a follow-up visit; ``empty_group`` removes a severity group.
    """
    pub = published or load_published(PACKAGED_TABLES)
    rng = np.random.default_rng(seed)
    t1, t2 = pub["table1_baseline_characteristics"], pub["table2_mri_by_severity"]
    t4 = pub["table4_one_year_change_by_severity"]
    rows = []
    for g in GROUPS:
        n = 0 if g == empty_group else max(2, int(round(pub["cohort"]["groups"][g] * scale)))
        grade_counts = t2["periventricular_grade_counts"][g]
        probs = np.array([grade_counts["g0_1"], grade_counts["g2"], grade_counts["g3"]], float)
        # sharpen the published (weak) grade gradient so the simulated direction is clear
        probs = probs * np.array([1.0, 1.0, 1.0 + GROUPS.index(g)])
        probs /= probs.sum()
        for _ in range(n):
            yes = {k: rng.random() < v[g][0] / sum(v[g]) for k, v in t1.items() if k not in
                   ("age_years", "sex_male_female")}
            male = rng.random() < t1["sex_male_female"][g][0] / sum(t1["sex_male_female"][g])
            faz = int(np.clip(np.rint(rng.normal(*t2["fazekas_total"][g])), 0, 6))
            wmh = float(max(0.2, rng.normal(*t2["wmh_volume_cm3"][g])))
            med, q1, q3 = t2["lacune_count_median_iqr"][g]
            cat = rng.choice(3, p=probs)
            grade = int(rng.integers(0, 2)) if cat == 0 else cat + 1
            vol = float(np.expm1(rng.normal(CALCIUM_LOG_MEAN[g], 0.6)))
            mb = int(_normal_int(rng, *t2["microbleed_count"][g], 1)[0])
            rows.append({
                "sex": "M" if male else "F",
                "age": float(np.clip(rng.normal(*t1["age_years"][g]), 18, 80)),
                **{k: bool(v) for k, v in yes.items()},
                "severity_group": g,
                "dominant_location": rng.choice(LOCATION_BY_GROUP[g]),
                "total_calcium_volume_mm3": vol, "total_agatston": vol * 1.2,
                "total_mass_mg": vol * 0.25,
                "wmh_volume_cm3": wmh, "wmh_pv_volume_cm3": 0.7 * wmh,
                "wmh_deep_volume_cm3": 0.3 * wmh,
                "fazekas_pv": min(3, (faz + 1) // 2), "fazekas_deep": min(3, faz // 2),
                "fazekas_total": faz, "microbleed_count": mb,
                "microbleed_volume_mm3": float(max(0.0, mb * rng.normal(3.0, 0.5))),
                "microbleed_contrast": "T2starw",
                "lacune_count": int(_normal_int(rng, med, max(0.5, (q3 - q1) / 1.35), 1)[0]),
                "pvs_count": int(rng.poisson(5 + 3 * GROUPS.index(g))),
                "pv_punctate_grade": grade,
            })
    base = pd.DataFrame(rows)
    base.insert(0, "subject", [f"{i:010x}" for i in range(1, len(base) + 1)])
    base["svd_score"] = ((base["lacune_count"] > 0).astype(int)
                         + (base["microbleed_count"] > 0).astype(int)
                         + (base["pvs_count"] > 10).astype(int)
                         + ((base["fazekas_pv"] >= 3) | (base["fazekas_deep"] >= 2)).astype(int))
    base = base.astype({"dominant_location": "object"})
    follow = rng.random(len(base)) >= missing_follow_up
    markers = [c for c in base.columns if c in (
        "wmh_volume_cm3", "wmh_pv_volume_cm3", "wmh_deep_volume_cm3", "fazekas_pv",
        "fazekas_deep", "fazekas_total", "microbleed_count", "microbleed_volume_mm3",
        "lacune_count", "pvs_count", "pv_punctate_grade", "svd_score")]
    fu = base.copy()
    change_src = {"fazekas_total": "fazekas_total_change",
                  "microbleed_count": "microbleed_count_change",
                  "wmh_volume_cm3": "wmh_volume_change_cm3",
                  "lacune_count": "lacune_count_change"}
    for m, key in change_src.items():
        for g in GROUPS:
            sel = (fu["severity_group"] == g).to_numpy()
            delta = rng.normal(*t4[key][g], int(sel.sum()))
            if m == "wmh_volume_cm3":
                fu.loc[sel, m] = fu.loc[sel, m] + delta
            else:
                fu.loc[sel, m] = np.maximum(0, fu.loc[sel, m] + np.rint(delta)).astype(int)
    fu["fazekas_total"] = fu["fazekas_total"].clip(upper=6)
    fu["wmh_pv_volume_cm3"] = 0.7 * fu["wmh_volume_cm3"]
    fu["wmh_deep_volume_cm3"] = 0.3 * fu["wmh_volume_cm3"]
    fu["pv_punctate_grade"] = np.minimum(3, fu["pv_punctate_grade"]
                                         + (rng.random(len(fu)) < 0.2))
    days = rng.integers(340, 400, len(base))
    change = base.loc[follow, ["subject", "severity_group", "dominant_location"]].copy()
    change["days_between"] = days[follow]
    for m in markers:
        change[f"{m}_baseline"] = base.loc[follow, m].to_numpy()
        change[f"{m}_followup"] = fu.loc[follow, m].to_numpy()
        change[f"{m}_change"] = change[f"{m}_followup"] - change[f"{m}_baseline"]
    icac_cols = ["total_calcium_volume_mm3", "total_agatston", "total_mass_mg"]
    s0 = base[["subject", *markers, *icac_cols]].copy()
    s0.insert(1, "session", "M00")
    s0.insert(2, "days_since_baseline", 0)
    s1 = fu.loc[follow, ["subject", *markers, *icac_cols]].copy()
    s1.insert(1, "session", "M12")
    s1.insert(2, "days_since_baseline", days[follow])
    sessions = pd.concat([s0, s1], ignore_index=True)
    art = base[["subject", "total_calcium_volume_mm3"]].copy()
    art["session"], art["artery"], art["side"] = "M00", "ICA", "L"
    art = art.rename(columns={"total_calcium_volume_mm3": "calcium_volume_mm3"})
    return {"baseline": base.reset_index(drop=True), "change": change.reset_index(drop=True),
            "sessions": sessions, "icac_by_artery": art[["subject", "session", "artery", "side",
                                                         "calcium_volume_mm3"]]}


def write_warehouse(path: Path, frames: dict[str, pd.DataFrame],
                    truth: dict[str, pd.DataFrame] | None = None) -> Path:
    """A DuckDB file with base tables ``t_*`` and the analyst views named as in the contract
    (plus ``truth_*`` tables when ``truth`` is given), for tests and demos.

    Table names are fixed constants, not user input."""
    import duckdb

    con = duckdb.connect(str(path))
    try:
        for key, view in (("baseline", "v_baseline_cohort"), ("change", "v_one_year_change"),
                          ("sessions", "v_session_measures"),
                          ("icac_by_artery", "v_icac_by_artery")):
            con.register("src", frames[key])
            con.execute(f"CREATE TABLE t_{key} AS SELECT * FROM src")
            con.unregister("src")
            con.execute(f"CREATE VIEW {view} AS SELECT * FROM t_{key}")
        for key, table in (("baseline", "truth_baseline_cohort"),
                           ("change", "truth_one_year_change"),
                           ("sessions", "truth_session_measures")):
            if truth is not None:
                con.register("src", truth[key])
                con.execute(f"CREATE TABLE {table} AS SELECT * FROM src")
                con.unregister("src")
    finally:
        con.close()
    return path
