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
    import duckdb

    from tasks.stats.data import read_analysis_frames, read_truth_frames

    if not Path(warehouse_path).is_file():
        raise FileNotFoundError(f"no warehouse at {warehouse_path}: run `calcisvd load` first")
    try:
        con = duckdb.connect(str(warehouse_path), read_only=True)
    except duckdb.ConnectionException:
        # this process already holds the file read-write (e.g. `calcisvd run`): share it
        con = duckdb.connect(str(warehouse_path))
    try:
        return read_analysis_frames(con), read_truth_frames(con)
    finally:
        con.close()


@task(name="run-statistics", cache_policy=NONE)
def analyze_task(frames: Any, truth: Any, published_path: Path, options: Any) -> Any:
    """Tables 1-4, adjusted models, published comparison, truth vs measured."""
    from tasks.stats.analysis import run_analysis
    from tasks.stats.published import load_published

    return run_analysis(frames, truth=truth, published=load_published(published_path),
                        options=options)


@task(name="write-report", cache_policy=NONE)
def write_report_task(result: Any, frames: Any, truth: Any, reports_dir: Path,
                      run_info: dict) -> Any:
    """The dated report folder (HTML, Markdown, CSV, figures) and the ``latest`` pointer."""
    from tasks.report.render import write_report

    return write_report(result, frames, reports_dir, truth=truth, run_info=run_info)


@flow(name=flow_name("analyze"), flow_run_name=run_name("analyze"), log_prints=True)
@untagged_tasks
def analyze_flow(settings: Settings | None = None, published_path: Path | None = None,
                 n_boot: int = 2000, n_perm: int = 9999, seed: int = 20240601,
                 home: str | None = None, config: str | None = None) -> dict[str, Any]:
    """Analyse the warehouse and write ``<reports_dir>/analysis-<stamp>/``; returns paths and
    headline numbers."""
    from tasks.stats.analysis import summary_markdown
    from tasks.stats.published import default_published_path, paper_agreement
    from tasks.stats.tables import Options

    settings = flow_entry(settings, home, config)
    log = get_run_logger()
    published_path = Path(published_path or default_published_path(REPO_ROOT))
    options = Options(n_boot=n_boot, n_perm=n_perm, seed=seed)
    frames, truth = read_frames_task(settings.warehouse_path)
    if truth is None:  # a simulated cohort: truth files + the re-identification map
        from tasks.stats.truth import load_truth_table, truth_frames

        truth = truth_frames(frames, load_truth_table(settings.truth_dir,
                                                      settings.reid_map_path))
    log.info("analyze: %d subject(s) at baseline%s", len(frames.baseline),
             ", ground truth present" if truth is not None else "")
    result = analyze_task(frames, truth, published_path, options)
    paths = write_report_task(result, frames, truth, settings.reports_dir,
                              {"settings": settings.as_dict(),
                               "published_tables": str(published_path)})
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
    return {"report_dir": str(paths.directory), "html": str(paths.html),
            "markdown": str(paths.markdown), "csv": {k: str(v) for k, v in paths.csv.items()},
            "n_subjects": result.n_subjects, "n_with_follow_up": result.n_with_follow_up,
            "notes": result.notes, "paper_agreement": paper_agreement(
                result.tables["published_comparison"].data)
            if "published_comparison" in result.tables else {}}
