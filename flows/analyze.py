"""Prefect flow: read the warehouse's analyst views, run the statistics, write the report.

Tasks: read the views (read-only DuckDB connection) -> run :func:`tasks.stats.analysis.
run_analysis` -> write the dated report (:func:`tasks.report.render.write_report`) -> publish
a table artifact (Table 2) and a Markdown artifact (summary with a link to the report).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NONE

from calcisvd.settings import REPO_ROOT, Settings
from flows.common import flow_entry, flow_name, run_name, untagged_tasks


@task(name="read-warehouse", cache_policy=NONE)
def read_frames_task(warehouse_path: Path) -> tuple[Any, Any]:
    """The analyst views (and ground-truth tables, if any) as DataFrames."""
    from tasks.stats.data import read_analysis_frames, read_truth_frames
    from warehouse.resource import Warehouse

    if not Path(warehouse_path).is_file():
        raise FileNotFoundError(f"no warehouse at {warehouse_path}: run `calcisvd load` first")
    with Warehouse(Path(warehouse_path)).read() as con:
        return read_analysis_frames(con), read_truth_frames(con)


@task(name="run-statistics", cache_policy=NONE)
def analyze_task(frames: Any, truth: Any, published_path: Path, options: Any,
                 cache_dir: Path | None = None, force: bool = False) -> Any:
    """Tables 1-4, adjusted models, published comparison, truth vs measured; a table whose
    inputs did not change since an earlier run is read from ``cache_dir``
    (:mod:`tasks.stats.memo`) unless ``force`` (then every table is computed and stored)."""
    from tasks.stats.analysis import run_analysis
    from tasks.stats.memo import TableCache
    from tasks.stats.published import load_published

    cache = TableCache(cache_dir, read=not force) if cache_dir else None
    result = run_analysis(frames, truth=truth, published=load_published(published_path),
                          options=options, cache=cache)
    if cache is not None:
        get_run_logger().info("analyze: %d table(s) computed (%s), %d reused unchanged (%s)",
                              len(cache.misses), ", ".join(cache.misses) or "none",
                              len(cache.hits), ", ".join(cache.hits) or "none")
    return result


@task(name="write-report", cache_policy=NONE)
def write_report_task(result: Any, frames: Any, truth: Any, reports_dir: Path,
                      run_info: dict, cache_dir: Path | None = None,
                      force: bool = False) -> Any:
    """The dated report folder (HTML, Markdown, CSV, figures) and the ``latest`` pointer; a
    figure of unchanged data is copied from ``cache_dir`` (drawn afresh with ``force``)."""
    from tasks.report.render import write_report
    from tasks.stats.memo import TableCache

    cache = TableCache(cache_dir, read=not force) if cache_dir else None
    paths = write_report(result, frames, reports_dir, truth=truth, run_info=run_info,
                         cache=cache)
    if cache is not None:
        get_run_logger().info("analyze: %d figure(s) drawn, %d reused unchanged",
                              len(cache.misses), len(cache.hits))
    return paths


#: beside each report: the flow's result and the fingerprint of what it was computed from
SUMMARY_FILE = "summary.json"


def analysis_cache_dir(settings: Settings) -> Path:
    """Where the statistics tables of earlier runs are kept (:mod:`tasks.stats.memo`)."""
    return Path(settings.var_dir) / "cache" / "analysis"


def previous_summary(reports_dir: Path, fingerprint: str) -> dict[str, Any] | None:
    """The latest report's summary when it was computed from ``fingerprint``, else None."""
    import json

    path = Path(reports_dir) / "latest" / SUMMARY_FILE
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if doc.get("inputs_fingerprint") != fingerprint or not Path(doc.get("html", "")).is_file():
        return None
    return doc


def analysis_inputs(settings: Settings, published_path: Path | None = None,
                    n_boot: int = 2000, n_perm: int = 9999, seed: int = 20240601,
                    include_review: bool = False) -> tuple[dict[str, Any], list[Path]]:
    """The options and files (besides the warehouse) a report is computed from: the published
    tables given, or both candidates of the default (the statistics modules that choose between
    them take seconds to import; a skip should not), and the simulator's truth."""
    candidates = [Path(published_path)] if published_path else \
        [REPO_ROOT.parent / "shared" / "paper" / "tables.yaml",
         REPO_ROOT / "tasks" / "stats" / "published_tables.yaml"]
    options = {"n_boot": n_boot, "n_perm": n_perm, "seed": seed}
    if include_review:  # QC review sessions kept (the default fingerprint stays as it was)
        options["include_review"] = True
    return (options,
            [*candidates, Path(settings.reid_map_path), Path(settings.truth_dir) / "cohort.json"])


def report_is_current(settings: Settings) -> bool:
    """True when the latest report (default options) was computed from what the warehouse
    holds now: the pipeline then does not start the analyze subflow."""
    from warehouse.stamps import analysis_fingerprint

    if not Path(settings.warehouse_path).is_file():
        return False
    try:
        fingerprint = analysis_fingerprint(settings.warehouse_path, *analysis_inputs(settings))
    except Exception:  # warehouse busy or incomplete: the flow decides
        return False
    return previous_summary(settings.reports_dir, fingerprint) is not None


@flow(name=flow_name("analyze"), flow_run_name=run_name("analyze"), log_prints=True)
@untagged_tasks
def analyze_flow(settings: Settings | None = None, published_path: Path | None = None,
                 n_boot: int = 2000, n_perm: int = 9999, seed: int = 20240601,
                 force: bool = False, home: str | None = None, config: str | None = None,
                 include_review: bool = False) -> dict[str, Any]:
    """Analyse the warehouse and write ``<reports_dir>/analysis-<stamp>/``; returns paths and
    headline numbers. When the curated tables, options and code are those of the latest
    report, that report stands and nothing is recomputed; otherwise tables whose inputs are
    those of an earlier run are reused (:mod:`tasks.stats.memo`). ``force``: every table is
    computed from scratch (and stored for the next run)."""
    from warehouse.stamps import analysis_fingerprint

    settings = flow_entry(settings, home, config)
    log = get_run_logger()
    if not Path(settings.warehouse_path).is_file():
        raise FileNotFoundError(f"no warehouse at {settings.warehouse_path}: "
                                "run `calcisvd load` first")
    fingerprint = analysis_fingerprint(settings.warehouse_path,
                                       *analysis_inputs(settings, published_path, n_boot,
                                                        n_perm, seed, include_review))
    previous = None if force else previous_summary(settings.reports_dir, fingerprint)
    if previous is not None:
        log.info("analyze: warehouse unchanged since %s; that report stands",
                 previous["report_dir"])
        return {**previous, "skipped": True}
    from calcisvd.io import atomic_write_json
    from tasks.stats.analysis import summary_markdown
    from tasks.stats.published import default_published_path, paper_agreement
    from tasks.stats.tables import Options

    published_path = Path(published_path or default_published_path(REPO_ROOT))
    options = Options(n_boot=n_boot, n_perm=n_perm, seed=seed, include_review=include_review)
    frames, truth = read_frames_task(settings.warehouse_path)
    if truth is None:  # a simulated cohort: truth files + the re-identification map
        from tasks.stats.truth import load_truth_table, truth_frames

        truth = truth_frames(frames, load_truth_table(settings.truth_dir,
                                                      settings.reid_map_path,
                                                      grade=_truth_grader()))
    log.info("analyze: %d subject(s) at baseline%s", len(frames.baseline),
             ", ground truth present" if truth is not None else "")
    result = analyze_task(frames, truth, published_path, options,
                          analysis_cache_dir(settings), force)
    paths = write_report_task(result, frames, truth, settings.reports_dir,
                              {"settings": settings.as_dict(),
                               "published_tables": str(published_path)},
                              analysis_cache_dir(settings), force)
    t2 = result.tables.get("table2")
    if t2 is not None and len(t2.data):
        cols = ["label", "none_mild_mean_sd", "moderate_mean_sd", "severe_mean_sd", "r_fmt",
                "spearman_p_fmt", "spearman_p_holm_fmt", "jt_p_fmt"]
        create_table_artifact(key="analysis-table2", table=t2.data[cols].to_dict("records"),
                              description="Table 2: MRI markers by ICAC severity group")
    create_markdown_artifact(
        key="analysis-summary",
        markdown=f"# Analysis\n\nReport: `{paths.html}`\n\n{summary_markdown(result)}",
        description="calcisvd analysis summary")
    log.info("analyze: report written to %s", paths.html)
    out = {"report_dir": str(paths.directory), "html": str(paths.html),
           "markdown": str(paths.markdown), "csv": {k: str(v) for k, v in paths.csv.items()},
           "n_subjects": result.n_subjects, "n_with_follow_up": result.n_with_follow_up,
           "notes": result.notes, "paper_agreement": paper_agreement(
               result.tables["published_comparison"].data)
           if "published_comparison" in result.tables else {}}
    atomic_write_json(Path(paths.directory) / SUMMARY_FILE,
                      {**out, "inputs_fingerprint": fingerprint})
    return out


def _truth_grader():
    """The truth side's grading of the simulator's raw truth (``bench/truth_grades.py``,
    written from the published definitions, not the measurer's rules); None outside a
    source checkout, where the report then leaves true grades unknown."""
    try:
        from bench.truth_grades import truth_grades
    except ImportError:
        return None
    return truth_grades
