"""One call that runs every analysis on the analyst frames: :func:`run_analysis`.

Returns an :class:`AnalysisResult` (ordered tables + notes) that the report renders. When a
ground-truth frame set is passed (``truth=``, a simulated cohort), the same Table 2 and
Table 4 analyses run on it, and two more tables put truth beside measurement: per marker the
group means and r on both, and the per-subject agreement (bias, MAE, Pearson r).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from tasks.stats import descriptive as d
from tasks.stats import memo
from tasks.stats import published as pub
from tasks.stats import qc_filter as qc
from tasks.stats import tables as tb
from tasks.stats.data import AnalysisFrames
from tasks.stats.markers import available


@dataclass
class AnalysisResult:
    """Every table of one analysis run, in report order, with global notes."""

    tables: dict[str, tb.TableResult] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    n_subjects: int = 0
    n_with_follow_up: int = 0
    options: tb.Options = field(default_factory=tb.Options)

    def add(self, t: tb.TableResult) -> None:
        """Append a table."""
        self.tables[t.name] = t


def run_analysis(frames: AnalysisFrames, *, truth: AnalysisFrames | None = None,
                 published: dict | None = None,
                 options: tb.Options = tb.DEFAULT_OPTIONS,
                 cache: memo.TableCache | None = None) -> AnalysisResult:
    """Tables 1-4, adjusted models, published comparison and (optional) truth vs measured.

    Sessions that quality control excludes (:mod:`tasks.stats.qc_filter`) are left out of
    measurement and truth alike; the notes and table ``qc_exclusions`` say which and why.
    Warnings of the models become one sentence in their table's notes
    (:mod:`tasks.stats.model_warnings`); any other numerical warning is caught too (never
    printed raw) and counted in one note.
    With ``cache`` (:mod:`tasks.stats.memo`), a table whose inputs are those of an earlier
    run is taken from it instead of being computed again (the same numbers, notes included)."""
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = _run_analysis(frames, truth=truth, published=published, options=options,
                            cache=cache)
    numeric = [w for w in caught if issubclass(w.category, RuntimeWarning)
               or w.category.__module__.split(".")[0] in ("statsmodels", "scipy", "numpy")]
    for w in caught:  # code warnings (deprecations...) are not about the data: passed on
        if w not in numeric:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    if numeric:
        kinds = sorted({w.category.__name__ for w in numeric})
        res.notes.append(f"{len(numeric)} numerical warning(s) outside the models ("
                         f"{', '.join(kinds)}), e.g. a correlation or test on a constant or "
                         "tiny group; the statistics they concern are less reliable")
    return res


def _run_analysis(frames: AnalysisFrames, *, truth: AnalysisFrames | None,
                  published: dict | None, options: tb.Options,
                  cache: memo.TableCache | None) -> AnalysisResult:
    excluded = qc.excluded_sessions(frames.session_qc, options.include_review)
    frames = qc.apply_exclusions(frames, excluded)
    if truth is not None:
        truth = qc.apply_exclusions(truth, excluded)
    base = frames.baseline
    res = AnalysisResult(n_subjects=int(base["subject"].nunique()) if len(base) else 0,
                         options=options)
    change = frames.change if frames.change is not None else _empty_change(base)
    res.n_with_follow_up = int(change["subject"].nunique()) if len(change) else 0
    if frames.session_qc is not None:
        res.notes += qc.exclusion_notes(excluded, options.include_review)
    if frames.change is None:
        res.notes.append("v_one_year_change missing: no one-year analysis")
    if frames.sessions is None:
        res.notes.append("v_session_measures missing: no mixed models")
    if len(base) == 0:
        res.notes.append("no subjects at baseline: nothing to analyse")
        return res
    no_fu = res.n_subjects - res.n_with_follow_up
    if no_fu:
        res.notes.append(f"{no_fu} of {res.n_subjects} subject(s) have no one-year follow-up")
    res.add(memo.call(cache, tb.table1, base, options))
    t2, t2g = memo.call(cache, tb.table2, base, options)
    res.add(t2)
    res.add(t2g)
    t3, t3g = memo.call(cache, tb.table3, base, options)
    res.add(t3)
    res.add(t3g)
    res.add(memo.call(cache, tb.table4, change, frames.sessions, base, options))
    res.add(memo.call(cache, tb.adjusted, base))
    res.add(memo.call(cache, tb.icac_by_artery, frames.icac_by_artery, base))
    if published is not None:
        res.add(tb.TableResult(
            "published_comparison", "Comparison with the published tables",
            pub.compare(published, t2.data, t3.data, res.tables["table4"].data,
                        grade2=t2g.data, grade3=t3g.data,
                        table1=res.tables["table1"].data),
            notes=["relative_difference = (ours - published) / published; group means "
                   "within 15% are marked within_tolerance."]))
        res.add(tb.TableResult(
            "published_r_p_check", "Published r against published P at the reported n",
            pub.r_p_checks(published),
            notes=["P from r: t = r sqrt((n-2)/(1-r²)), n-2 df, two-sided; the range covers "
                   "r ± 0.005 (rounding). n_implied_by_p: the n at which r would give the "
                   "published P."]))
        res.add(tb.TableResult(
            "published_recomputed", "Published statistics recomputed from published counts",
            pub.recomputed_from_counts(published)))
    if truth is not None:
        for t in truth_vs_measured(frames, truth, options, cache):
            res.add(t)
    _flag_unreliable(res, base)
    if len(excluded):
        res.add(tb.TableResult("qc_exclusions", "Sessions excluded by quality control",
                               excluded.reset_index(drop=True),
                               notes=qc.exclusion_notes(excluded, options.include_review)))
    return res


def _flag_unreliable(res: AnalysisResult, base: pd.DataFrame) -> None:
    """The reliability flag beside the markers of Tables 2 and 4, the reasons in table
    ``reliability`` and one note (rules: :mod:`tasks.stats.reliability`)."""
    from tasks.stats import reliability as rel
    from tasks.stats.markers import MARKERS

    agreement = res.tables.get("truth_agreement")
    table = rel.reliability_table(None if agreement is None else agreement.data, base,
                                  {m.name: m.label for m in MARKERS})
    if not len(table):
        return
    for name in ("table2", "table4"):
        t = res.tables.get(name)
        if t is not None and len(t.data) and "marker" in t.data:
            t.data["reliability"] = rel.flag_column(t.data["marker"], table)
            if t.display and "reliability" not in t.display:
                t.display.insert(t.display.index("label") + 1 if "label" in t.display else 0,
                                 "reliability")
    res.add(tb.TableResult(
        "reliability", "Markers flagged unreliable", table,
        notes=[f"Rules: Pearson r with the truth < {rel.MIN_TRUTH_R}, or measured/true mean "
               f"outside {rel.RATIO_RANGE[0]:g}-{rel.RATIO_RANGE[1]:g} (simulated cohorts with "
               f"a truth table); microbleeds counted on T2w in more than "
               f"{rel.MAX_T2W_MICROBLEED_SHARE:.0%} of sessions (QC)."]))
    res.notes.append(f"{len(table)} marker(s) flagged unreliable: "
                     + ", ".join(f"{r['label']} ({r['reasons']})"
                                 for r in table.to_dict("records")))


def _empty_change(base: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"subject": pd.Series(dtype="string"),
                         "severity_group": pd.Series(dtype="string")})


def truth_vs_measured(measured: AnalysisFrames, truth: AnalysisFrames,
                      options: tb.Options,
                      cache: memo.TableCache | None = None) -> list[tb.TableResult]:
    """Table 2 statistics on truth and measurement side by side, and per-subject agreement."""
    quick = tb.Options(n_boot=max(200, options.n_boot // 5), n_perm=0, seed=options.seed,
                       ci_method="percentile", min_expected=options.min_expected)
    m2, _ = memo.call(cache, tb.table2, measured.baseline, quick)
    t2, _ = memo.call(cache, tb.table2, truth.baseline, quick)
    cols = ["marker", *[f"{g}_mean" for g in tb.GROUPS], "spearman_r", "spearman_p", "jt_p"]
    side = (m2.data[cols].merge(t2.data[cols], on="marker", how="outer",
                                suffixes=("_measured", "_truth"))
            if len(m2.data) and len(t2.data) else pd.DataFrame())
    if len(side):
        for g in tb.GROUPS:
            side[f"{g}_rel_diff"] = ((side[f"{g}_mean_measured"] - side[f"{g}_mean_truth"])
                                     / side[f"{g}_mean_truth"].abs())
    side4 = pd.DataFrame()
    if measured.change is not None and truth.change is not None:
        m4 = memo.call(cache, tb.table4, measured.change, None, measured.baseline, quick).data
        t4 = memo.call(cache, tb.table4, truth.change, None, truth.baseline, quick).data
        cols4 = ["marker", *[f"{g}_mean" for g in tb.GROUPS], "spearman_r", "spearman_p"]
        if len(m4) and len(t4):
            side4 = m4[cols4].merge(t4[cols4], on="marker", how="outer",
                                    suffixes=("_measured", "_truth"))
    rows = []
    merged = measured.baseline.merge(truth.baseline, on="subject", suffixes=("", "_truth"))
    for m in available(measured.baseline.columns):
        if f"{m.name}_truth" not in merged:
            continue
        a = pd.to_numeric(merged[m.name], errors="coerce").to_numpy(float)
        b = pd.to_numeric(merged[f"{m.name}_truth"], errors="coerce").to_numpy(float)
        ok = np.isfinite(a) & np.isfinite(b)
        diff = a[ok] - b[ok]
        r = (float(np.corrcoef(a[ok], b[ok])[0, 1]) if ok.sum() > 2 and np.ptp(a[ok]) > 0
             and np.ptp(b[ok]) > 0 else math.nan)
        rows.append({"marker": m.name, "label": m.label, "n": int(ok.sum()),
                     "n_missing": int((~ok).sum()),
                     "mean_measured": float(a[ok].mean()) if ok.any() else math.nan,
                     "mean_truth": float(b[ok].mean()) if ok.any() else math.nan,
                     "bias_mean": float(diff.mean()) if len(diff) else math.nan,
                     "mae": float(np.abs(diff).mean()) if len(diff) else math.nan,
                     "pearson_r": r,
                     "exact_agreement": float((diff == 0).mean()) if len(diff) else math.nan})
    agree = pd.DataFrame(rows)
    n_unmatched = len(measured.baseline) - len(merged)
    notes = [f"{n_unmatched} measured subject(s) without ground truth"] if n_unmatched else []
    return [
        tb.TableResult("truth_table2", "Truth vs measured: Table 2 statistics", side,
                       notes=["_measured: from the images; _truth: simulator ground truth; "
                              "rel_diff = (measured - truth) / truth."]),
        tb.TableResult("truth_table4", "Truth vs measured: one-year change (Table 4)", side4,
                       notes=["change means per group and r of change with severity, "
                              "measured vs ground truth."]),
        tb.TableResult("truth_agreement", "Truth vs measured: per-subject agreement", agree,
                       notes=notes + ["bias = mean(measured - truth); MAE = mean |measured - "
                                      "truth|; exact_agreement: share of identical values."]),
    ]


def summary_markdown(res: AnalysisResult) -> str:
    """A short Markdown summary (for the Prefect artifact): cohort and Table 2 headline."""
    lines = [f"**Subjects:** {res.n_subjects} at baseline, {res.n_with_follow_up} with "
             "follow-up.", ""]
    t2 = res.tables.get("table2")
    if t2 is not None and len(t2.data):
        lines += ["| marker | r with severity [95% CI] | P | P (Holm) | JT P |",
                  "|---|---|---|---|---|"]
        for r in t2.data.to_dict("records"):
            lines.append(f"| {r['label']} | {r['r_fmt']} | {d.fmt_p(r['spearman_p'])} | "
                         f"{d.fmt_p(r['spearman_p_holm'])} | {d.fmt_p(r['jt_p'])} |")
    cmp = res.tables.get("published_comparison")
    if cmp is not None:
        agree = pub.paper_agreement(cmp.data)
        if agree:
            lines += ["", f"**Paper agreement (Table 2):** direction and significance "
                      f"{'agree' if agree['all_direction_and_significance'] else 'differ'} "
                      f"({agree['direction_and_significance']}); group means within 15%: "
                      f"{agree['means_within_tolerance']}/{agree['means_compared']}.", ""]
    for n in res.notes:
        lines.append(f"- {n}")
    return "\n".join(lines)
