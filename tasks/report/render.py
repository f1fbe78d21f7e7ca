"""Write an analysis as a dated report folder: report.html, report.md, one CSV per table,
figures, and a ``latest`` pointer.

Layout under ``reports_dir``::

    analysis-YYYYMMDD-HHMMSS/report.html   tables + figures (linked PNGs in figures/)
    analysis-YYYYMMDD-HHMMSS/report.md
    analysis-YYYYMMDD-HHMMSS/<table>.csv   every number of each table
    analysis-YYYYMMDD-HHMMSS/figures/*.png
    analysis-YYYYMMDD-HHMMSS/run.json      options, settings, table list
    latest -> analysis-YYYYMMDD-HHMMSS     symlink (where the file system allows it)
    index.html                             links to every report, newest first

A report is written into a hidden ``.analysis-...partial-<pid>`` folder and renamed into place
when complete; ``latest`` and ``index.html`` are replaced by renames. A run killed midway
(SIGKILL) therefore never leaves a half report under an ``analysis-*`` name nor a missing
``latest``: readers see the previous report; the next run removes the dead run's folder.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from tasks.report import figures as fg
from tasks.stats.analysis import AnalysisResult
from tasks.stats.data import AnalysisFrames
from tasks.stats.markers import available
from tasks.stats.memo import TableCache

TEMPLATES = Path(__file__).with_name("templates")


@dataclass(frozen=True)
class ReportPaths:
    """Where a report was written."""

    directory: Path
    html: Path
    markdown: Path
    csv: dict[str, Path]
    figures: list[Path]


def _cell(v) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        if not math.isfinite(v):
            return "—"
        return f"{v:.3g}" if abs(v) < 1e-3 or abs(v) >= 1e4 else f"{v:.3f}"
    if isinstance(v, (list, tuple, np.ndarray)):
        return ", ".join(str(x) for x in v)
    text = str(v)
    return "—" if text in ("nan", "<NA>", "None") else text


HEADERS = {
    "label": "marker", "r_fmt": "r [95% CI]", "r": "r", "spearman_p": "P",
    "spearman_p_perm": "P perm",
    "spearman_p_holm": "P Holm", "spearman_p_bh": "P BH", "anova_p": "ANOVA P",
    "kw_p": "Kruskal-Wallis P", "welch_p": "Welch P", "kw_H": "KW H", "anova_F": "ANOVA F",
    "jt_z": "JT z",
    "jt_p": "JT P", "eta2": "η²", "epsilon2": "ε²", "cramers_v": "Cramér's V",
    "trend_M2": "trend M²", "trend_p": "trend P", "spearman_r": "r", "kw_p_holm": "KW P Holm",
    "kw_p_bh": "KW P BH", "statistic": "statistic", "p": "P", "p_holm": "P Holm",
    "p_bh": "P BH", "effect_fmt": "effect [95% CI]", "lmm_time": "LMM slope/yr (ref)",
    "lmm_time_x_moderate": "LMM Δslope moderate", "lmm_time_x_moderate_p": "P Δslope moderate",
    "lmm_time_x_severe": "LMM Δslope severe", "lmm_time_x_severe_p": "P Δslope severe",
    "lmm_interaction_p": "LMM time×group P",
}


def pretty_header(name: str) -> str:
    """A readable column header: ``severe_mean_sd`` -> ``severe mean ± SD``."""
    if name in HEADERS:
        return HEADERS[name]
    base = name[:-4] if name.endswith("_fmt") else name
    if base in HEADERS:
        return HEADERS[base]
    for suffix, text in (("_mean_sd", " mean ± SD"), ("_median_iqr", " median (IQR)"),
                         ("_paired_t_p", " paired t P"), ("_wilcoxon_p", " Wilcoxon P")):
        if base.endswith(suffix):
            return base[: -len(suffix)] + text
    return base.replace("_", " ")


def _pretty(df: pd.DataFrame) -> pd.DataFrame:
    return df.rename(columns={c: pretty_header(c) for c in df.columns})


def markdown_table(df: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table (pipes escaped, NaN as a dash)."""
    if df is None or df.empty:
        return "_(empty)_"
    head = "| " + " | ".join(str(c) for c in df.columns) + " |"
    sep = "|" + "---|" * len(df.columns)
    body = ["| " + " | ".join(_cell(v).replace("|", "\\|") for v in row) + " |"
            for row in df.itertuples(index=False)]
    return "\n".join([head, sep, *body])


def html_table(df: pd.DataFrame) -> str:
    """An escaped HTML table of ``df`` (NaN as a dash)."""
    if df is None or df.empty:
        return "<p><em>(empty)</em></p>"
    shown = df.map(_cell)
    return shown.to_html(index=False, classes="data", border=0, escape=True)


def _figures(frames: AnalysisFrames, truth: AnalysisFrames | None, out: Path,
             cache: TableCache | None = None) -> list[tuple]:
    def draw(fn, path: Path, *args) -> Path:  # the same figure of the same data: its file
        return fn(*args, path) if cache is None else cache.file(fn, path, *args)

    base = frames.baseline
    figs: list[tuple[str, Path]] = []
    if len(base) == 0:
        return figs
    mk = [(m.name, m.label, m.unit) for m in available(base.columns) if m.primary]
    figs.append(("MRI markers by ICAC severity group",
                 draw(fg.markers_by_group, out / "markers_by_group.png", base, mk)))
    if frames.change is not None and len(frames.change):
        figs.append(("Baseline to one-year follow-up (spaghetti)",
                     draw(fg.spaghetti, out / "spaghetti.png", frames.change, mk)))
    if {"total_calcium_volume_mm3", "wmh_volume_cm3"} <= set(base.columns):
        figs.append(("Total calcium volume vs WMH volume",
                     draw(fg.calcium_vs_wmh, out / "calcium_vs_wmh.png", base)))
    if truth is not None and len(truth.baseline):
        figs.append(("Measured vs ground truth",
                     draw(fg.truth_vs_measured, out / "truth_vs_measured.png", base,
                          truth.baseline, mk)))
    return figs


def _update_latest(root: Path, target: Path) -> None:
    """Point ``latest`` at ``target`` and rewrite index.html, each by a rename."""
    from calcisvd.io import atomic_write_text

    link = root / "latest"
    tmp = root / f".latest.{os.getpid()}.tmp"
    try:
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(target.name, target_is_directory=True)
        os.replace(tmp, link)
    except OSError:
        tmp.unlink(missing_ok=True)  # no symlinks here: index.html points to the newest report
    reports = sorted((p for p in root.glob("analysis-*") if p.is_dir()), reverse=True)
    items = "\n".join(f'<li><a href="{p.name}/report.html">{p.name}</a></li>' for p in reports)
    atomic_write_text(
        root / "index.html",
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>calcisvd reports</title>"
        f"</head><body><h1>calcisvd reports</h1><p>Latest: <a href='{target.name}/report.html'>"
        f"{target.name}</a></p><ul>{items}</ul></body></html>\n")


_PARTIAL = re.compile(r"^\.analysis-.+\.partial-(\d+)$")


def _pid_alive(pid: int) -> bool:
    from calcisvd.io import pid_alive

    return pid_alive(pid)


def remove_dead_partials(root: Path) -> list[str]:
    """Remove the unfinished report folders of runs that no longer exist; their names."""
    gone = []
    for p in Path(root).glob(".analysis-*.partial-*"):
        m = _PARTIAL.match(p.name)
        if m and p.is_dir() and int(m.group(1)) != os.getpid() and not _pid_alive(
                int(m.group(1))):
            shutil.rmtree(p, ignore_errors=True)
            gone.append(p.name)
    return gone


def write_report(result: AnalysisResult, frames: AnalysisFrames, reports_dir: Path, *,
                 truth: AnalysisFrames | None = None, now: dt.datetime | None = None,
                 run_info: dict | None = None, cache: TableCache | None = None) -> ReportPaths:
    """Render ``result`` into a new dated folder under ``reports_dir`` and point ``latest``
    at it. ``frames``/``truth`` feed the figures (a figure of unchanged data is copied from
    ``cache``, :mod:`tasks.stats.memo`); ``run_info`` is saved in run.json."""
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    now = now or dt.datetime.now(dt.UTC)
    stamp = now.strftime("%Y%m%d-%H%M%S")
    root = Path(reports_dir)
    root.mkdir(parents=True, exist_ok=True)
    remove_dead_partials(root)
    final = root / f"analysis-{stamp}"
    suffix = 1
    while final.exists():
        final = root / f"analysis-{stamp}-{suffix}"
        suffix += 1
    out = root / f".{final.name}.partial-{os.getpid()}"  # renamed to `final` when complete
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    csvs: dict[str, Path] = {}
    entries = []
    md = [f"# calcisvd analysis {stamp}", "",
          f"{result.n_subjects} subject(s) at baseline, {result.n_with_follow_up} with "
          f"one-year follow-up. Source: {frames.source or 'frames'}"
          + ("; ground truth available." if truth is not None else "."), ""]
    if result.notes:
        md += ["## Notes", "", *[f"- {n}" for n in result.notes], ""]
    for name, t in result.tables.items():
        path = out / f"{name}.csv"
        t.data.to_csv(path, index=False)
        csvs[name] = path
        shown = t.shown()
        entries.append({"name": name, "title": t.title, "html": html_table(_pretty(shown)),
                        "notes": t.notes, "csv": path.name})
        md += [f"## {t.title}", "", markdown_table(_pretty(shown)), ""]
        md += [f"- {n}" for n in t.notes] + ["", f"CSV: `{path.name}`", ""]
    fig_paths = _figures(frames, truth, out / "figures", cache)
    md += ["## Figures", ""] + [f"![{title}](figures/{p.name})" for title, p in fig_paths]
    options = json.dumps(dataclasses.asdict(result.options), indent=2)
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html",
                                                                                       "j2"]))
    html = env.get_template("report.html.j2").render(
        stamp=stamp, n_subjects=result.n_subjects, n_follow_up=result.n_with_follow_up,
        source=frames.source or "frames", truth=truth is not None, notes=result.notes,
        tables=entries, figures=[{"title": t, "path": f"figures/{p.name}"} for t, p in fig_paths],
        options=options)
    (out / "report.html").write_text(html, encoding="utf-8")
    (out / "report.md").write_text("\n".join(md) + "\n", encoding="utf-8")
    info = {"created": now.isoformat(), "tables": list(result.tables), "options":
            dataclasses.asdict(result.options), **(run_info or {})}
    (out / "run.json").write_text(json.dumps(info, indent=2, default=str), encoding="utf-8")
    os.rename(out, final)
    _update_latest(root, final)
    return ReportPaths(final, final / "report.html", final / "report.md",
                       {k: final / p.name for k, p in csvs.items()},
                       [final / p.relative_to(out) for _, p in fig_paths])
