"""`calcisvd analyze`: baseline and one-year statistics (paper Tables 1-4) as reports."""

from __future__ import annotations

import argparse
from pathlib import Path

from calcisvd.settings import Settings

HELP = "baseline and one-year statistics (paper Tables 1-4) as reports"
DESCRIPTION = """Baseline and one-year statistics (the reference paper's Tables 1-4) as reports.

Reads the analyst views of the warehouse (var/calcisvd.duckdb, opened read-only):
v_baseline_cohort, v_one_year_change, v_session_measures, v_icac_by_artery, and, for a
simulated cohort, truth_* tables when present (truth is then shown beside measurement).

Computes:
  Table 1  clinical characteristics by ICAC severity group (ANOVA; chi-square, or an exact
           test when expected counts are below 5 - the method is named per row)
  Table 2  each MRI marker by severity: mean ± SD, median (IQR), Spearman r with severity
           (t and permutation P, bootstrap 95% CI), ANOVA, Kruskal-Wallis,
           Jonckheere-Terpstra; periventricular grade with a linear-by-linear trend test
  Table 3  by dominant calcification location: ANOVA/eta², Kruskal-Wallis/epsilon²,
           chi-square/Cramér's V (location is nominal: no correlation)
  Table 4  one-year change: paired t and Wilcoxon per group, r of change with severity,
           linear mixed model marker ~ time x group (random intercept per subject)
  adjusted models (age, sex, hypertension, diabetes, smoking) on severity group and on
  log1p(calcium volume); Holm and Benjamini-Hochberg across markers; a comparison with the
  published tables and a check of every published r against its P.

Quality control: sessions rated fail (`calcisvd qc rate`) and sessions in review (a method
marked the MRI or CT `review`, or a rater did; not rated pass) are left out by default; the
report says how many and why (table qc_exclusions). --include-review keeps review sessions.

When the curated tables, the options and the statistics code are those of the latest report
(a fingerprint kept in its summary.json), that report stands and nothing is recomputed.

Writes <reports_dir>/analysis-YYYYMMDD-HHMMSS/ with report.html, report.md, one CSV per
table, figures/*.png and run.json; reports/latest points at the newest, reports/index.html
lists them all. Runs as the Prefect flow "calcisvd-analyze" (artifacts: Table 2 and a summary).

Example:
  calcisvd analyze
  calcisvd analyze --n-boot 500 --n-perm 999 --published ../shared/paper/tables.yaml
"""

#: runs Prefect flows in this process (the CLI starts them without heartbeats)
RUNS_FLOWS = True


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `calcisvd analyze`."""
    parser.add_argument("--published", type=Path, default=None,
                        help="published tables (YAML); default ../shared/paper/tables.yaml "
                             "beside the repository, else the copy shipped with calcisvd")
    parser.add_argument("--n-boot", type=int, default=2000,
                        help="bootstrap resamples for the correlation CIs (default 2000)")
    parser.add_argument("--n-perm", type=int, default=9999,
                        help="permutation resamples for permutation P values (default 9999)")
    parser.add_argument("--seed", type=int, default=20240601,
                        help="seed of every resampling step (default 20240601)")
    parser.add_argument("--force", action="store_true",
                        help="recompute even when the warehouse, options and code are those "
                             "of the latest report (by default that report stands), every "
                             "table from scratch (by default a table whose inputs did not "
                             "change is reused from var/cache/analysis, which --force "
                             "refreshes)")
    parser.add_argument("--include-review", action="store_true",
                        help="keep sessions in quality-control review (a method said review "
                             "and nobody rated them pass); sessions rated fail stay out")


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run the analyze flow; prints where the report went. Exit 1 without a warehouse."""
    from flows.analyze import analyze_flow

    if not Path(settings.warehouse_path).is_file():
        print(f"calcisvd analyze: no warehouse at {settings.warehouse_path}; "
              "run `calcisvd load` first")
        return 1
    out = analyze_flow(settings, published_path=args.published, n_boot=args.n_boot,
                       n_perm=args.n_perm, seed=args.seed, force=args.force,
                       include_review=args.include_review)
    if out.get("skipped"):
        print("warehouse, options and code unchanged since the latest report: it stands "
              "(--force recomputes)")
    print(f"report: {out['html']}")
    print(f"subjects: {out['n_subjects']} at baseline, {out['n_with_follow_up']} with follow-up")
    agree = out.get("paper_agreement") or {}
    if agree:
        print("paper Table 2: direction and significance "
              f"{'agree' if agree['all_direction_and_significance'] else 'differ'}; group means "
              f"within 15%: {agree['means_within_tolerance']}/{agree['means_compared']}")
    for note in out["notes"]:
        print(f"note: {note}")
    return 0
