import argparse
import json
from pathlib import Path

import pandas as pd
import pytest

from tasks.stats.synthetic import write_warehouse


@pytest.fixture
def warehouse_settings(settings, small_cohort):
    settings.warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    write_warehouse(settings.warehouse_path, small_cohort)
    return settings


def test_analyze_flow_writes_report_and_artifacts(prefect_harness, warehouse_settings):
    from prefect import get_client

    from flows.analyze import analyze_flow

    out = analyze_flow(warehouse_settings, n_boot=50, n_perm=49, seed=3)
    html = Path(out["html"])
    assert html.is_file() and html.parent.parent == warehouse_settings.reports_dir
    assert (warehouse_settings.reports_dir / "latest" / "report.md").is_file()
    t2 = pd.read_csv(out["csv"]["table2"]).set_index("marker")
    assert t2.loc["microbleed_count", "spearman_r"] > 0.3
    run = json.loads((html.parent / "run.json").read_text())
    assert run["settings"]["warehouse_path"] == str(warehouse_settings.warehouse_path)
    assert out["n_subjects"] > out["n_with_follow_up"] > 0
    assert out["paper_agreement"]["direction_and_significance"]["microbleed_count"] is True

    import asyncio

    async def artifacts():
        async with get_client() as client:
            return await client.read_artifacts()

    keys = {a.key for a in asyncio.run(artifacts())}
    assert {"analysis-table2", "analysis-summary"} <= keys


def test_command_without_warehouse(settings, capsys):
    from calcisvd.commands import analyze

    args = argparse.Namespace(published=None, n_boot=10, n_perm=0, seed=1)
    assert analyze.run(args, settings) == 1
    assert "calcisvd load" in capsys.readouterr().out


def test_command_help_teaches():
    from calcisvd.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    text = sub.choices["analyze"].format_help()
    assert "v_baseline_cohort" in text and "--n-boot" in text and "Example" in text


def test_read_frames_while_this_process_holds_the_warehouse(tmp_path, small_cohort):
    import duckdb

    from flows.analyze import read_frames_task

    path = write_warehouse(tmp_path / "w.duckdb", small_cohort)
    holder = duckdb.connect(str(path))  # e.g. the load stage of `calcisvd run`
    try:
        frames, truth = read_frames_task.fn(path)
    finally:
        holder.close()
    assert len(frames.baseline) == len(small_cohort["baseline"]) and truth is None


def test_analyze_skips_when_views_options_and_code_are_unchanged(prefect_harness,
                                                                 warehouse_settings):
    import duckdb

    from flows.analyze import analyze_flow

    first = analyze_flow(warehouse_settings, n_boot=20, n_perm=19, seed=3)
    assert not first.get("skipped")
    again = analyze_flow(warehouse_settings, n_boot=20, n_perm=19, seed=3)
    assert again["skipped"] and again["html"] == first["html"]
    assert again["n_subjects"] == first["n_subjects"]
    other = analyze_flow(warehouse_settings, n_boot=20, n_perm=19, seed=4)  # options changed
    assert not other.get("skipped") and other["html"] != first["html"]
    con = duckdb.connect(str(warehouse_settings.warehouse_path))
    con.execute("UPDATE t_baseline SET age = age + 1 WHERE subject = "
                "(SELECT min(subject) FROM t_baseline)")
    con.close()
    changed = analyze_flow(warehouse_settings, n_boot=20, n_perm=19, seed=4)
    assert not changed.get("skipped") and changed["html"] != other["html"]
    forced = analyze_flow(warehouse_settings, n_boot=20, n_perm=19, seed=4, force=True)
    assert not forced.get("skipped")


def test_rerun_after_new_follow_up_equals_a_report_from_scratch(prefect_harness,
                                                                warehouse_settings,
                                                                monkeypatch):
    """Tables and figures reused from var/cache/analysis (tasks/stats/memo.py) give the same
    files as a forced run that computes everything; changed follow-up data is recomputed."""
    import duckdb

    from flows.analyze import analysis_cache_dir, analyze_flow

    analyze_flow(warehouse_settings, n_boot=20, n_perm=19, seed=3)
    con = duckdb.connect(str(warehouse_settings.warehouse_path))
    con.execute("DELETE FROM t_change WHERE subject = "
                "(SELECT min(subject) FROM t_change)")  # the follow-ups changed
    con.close()
    from tasks.stats import memo

    caches: list = []

    class Recorded(memo.TableCache):  # the real cache, remembered to read its hits
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            caches.append(self)

    monkeypatch.setattr(memo, "TableCache", Recorded)
    cached = analyze_flow(warehouse_settings, n_boot=20, n_perm=19, seed=3)
    assert not cached.get("skipped")
    tables, figures = caches
    assert tables.misses == ["table4"] and len(tables.hits) == 5
    assert figures.misses == ["spaghetti"] and len(figures.hits) == 2
    assert any(analysis_cache_dir(warehouse_settings).glob("*.pkl"))
    scratch = analyze_flow(warehouse_settings, n_boot=20, n_perm=19, seed=3, force=True)
    a, b = Path(cached["report_dir"]), Path(scratch["report_dir"])
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.suffix in (".csv", ".png"))
    assert files and any(f.suffix == ".png" for f in files)
    assert files == sorted(p.relative_to(b) for p in b.rglob("*")
                           if p.suffix in (".csv", ".png"))
    for rel in files:
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel
    t4 = pd.read_csv(a / "table4.csv")
    first_t4 = pd.read_csv(sorted(Path(warehouse_settings.reports_dir).glob("analysis-*"))[0]
                           / "table4.csv")
    assert not t4.equals(first_t4)  # the change table was recomputed on the new data
