"""Benchmark: the paper's Table 2 from measured images, against the paper and the ground truth
(issue 8).

Reads the analytics report of a finished pipeline run on a simulated cohort (by default the
paper-size run of ``bench.pipeline``: ``bench/work/pipeline/n126``) and summarises, for the
headline markers (Fazekas total, microbleed count, WMH volume, periventricular grade):

* the published group means and Spearman r / P (``tables.yaml``), ours measured from the
  images, and ours on the simulator's ground truth;
* whether the measured Table 2 has the paper's direction and significance, and how many
  group means are within 15% of the published ones.

    python -m bench.analytics [--home bench/work/pipeline/n126]

Writes bench/results/analytics.json and prints a summary. The pipeline itself is not run here.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
HEADLINE = ("fazekas_total", "microbleed_count", "wmh_volume_cm3", "pv_punctate_grade")
GROUPS = ("none_mild", "moderate", "severe")


def _num(value: Any) -> float | None:
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) else round(f, 4)


def summarise(report_dir: Path) -> dict[str, Any]:
    """Headline figures from the CSVs of one analytics report."""
    import pandas as pd

    table2 = pd.read_csv(report_dir / "table2.csv").set_index("marker")
    table4 = pd.read_csv(report_dir / "table4.csv")
    group_n = {g: int(table2.loc["fazekas_total", f"{g}_n"]) for g in GROUPS}
    comparison = pd.read_csv(report_dir / "published_comparison.csv")
    truth = pd.read_csv(report_dir / "truth_table2.csv").set_index("marker")
    t2 = comparison[comparison["table"] == "table2"]
    markers: dict[str, Any] = {}
    for marker in HEADLINE:
        rows = t2[t2["marker"] == marker]
        entry: dict[str, Any] = {"groups": {}}
        for g in GROUPS:
            mean = rows[rows["quantity"] == f"mean {g}"]
            if len(mean):
                r = mean.iloc[0]
                entry["groups"][g] = {
                    "published_mean": _num(r["published"]), "measured_mean": _num(r["ours"]),
                    "relative_difference": _num(r["relative_difference"]),
                    "within_15pct": bool(r["within_tolerance"]),
                    "truth_mean": _num(truth.loc[marker, f"{g}_mean_truth"])
                    if marker in truth.index else None}
        rr = rows[rows["quantity"] == "r with severity"]
        if len(rr):
            r = rr.iloc[0]
            entry["r"] = {"published": _num(r["published"]), "measured": _num(r["ours"]),
                          "measured_p": _num(r["our_p"]),
                          "truth": _num(truth.loc[marker, "spearman_r_truth"])
                          if marker in truth.index else None,
                          "truth_p": _num(truth.loc[marker, "spearman_p_truth"])
                          if marker in truth.index else None,
                          "same_direction": bool(r["same_direction"]),
                          "published_significant": bool(r["published_significant"]),
                          "measured_significant": bool(r["our_significant"])}
            entry["direction_and_significance_agree"] = bool(
                r["same_direction"] and r["our_significant"] == r["published_significant"])
        markers[marker] = entry
    means = [g for m in markers.values() for g in m["groups"].values()]
    agree = [m.get("direction_and_significance_agree") for m in markers.values()]
    return {
        "report": str(report_dir / "report.html"),
        "n_subjects": sum(group_n.values()), "group_n": group_n,
        "n_with_follow_up": int(sum(table4.iloc[0][f"{g}_n"] for g in GROUPS))
        if len(table4) else 0,
        "markers": markers,
        "all_direction_and_significance_agree": all(a is True for a in agree),
        "means_within_15pct": sum(g["within_15pct"] for g in means),
        "means_compared": len(means),
        "max_abs_relative_difference": max((abs(g["relative_difference"]) for g in means
                                            if g["relative_difference"] is not None),
                                           default=None),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Summarise the report of ``--home`` and write bench/results/analytics.json."""
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--home", type=Path, default=REPO / "bench" / "work" / "pipeline" / "n126")
    args = p.parse_args(argv)
    report_dir = args.home / "reports" / "latest"
    if not (report_dir / "published_comparison.csv").is_file():
        raise SystemExit(f"no analytics report under {report_dir}: run python -m bench.pipeline "
                         "first (or pass --home)")
    result = summarise(report_dir)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "analytics.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"analytics: {result['n_subjects']} subjects at baseline {result['group_n']}, "
          f"{result['n_with_follow_up']} with follow-up")
    for marker, m in result["markers"].items():
        r = m.get("r", {})
        print(f"  {marker:<18} r published {r.get('published')} / measured {r.get('measured')} "
              f"(P {r.get('measured_p')}) / truth {r.get('truth')}; agree: "
              f"{m.get('direction_and_significance_agree')}")
    print(f"  group means within 15% of the paper: {result['means_within_15pct']}/"
          f"{result['means_compared']} (max |difference| "
          f"{result['max_abs_relative_difference']})")
    return result


if __name__ == "__main__":
    main()
