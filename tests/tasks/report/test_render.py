import datetime as dt

import pandas as pd

from tasks.report.render import html_table, markdown_table, write_report
from tasks.stats.data import AnalysisFrames
from tasks.stats.tables import Options


def test_markdown_and_html_tables_escape_and_dash():
    df = pd.DataFrame({"a": [1.23456, float("nan")], "b": ["x|y", "<b>"]})
    md = markdown_table(df)
    assert md.splitlines()[2] == "| 1.235 | x\\|y |" and "| — |" in md
    html = html_table(df)
    assert "&lt;b&gt;" in html and "<b>" not in html


def test_write_report_layout(tmp_path, small_result, small_frames):
    now = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    paths = write_report(small_result, small_frames, tmp_path, now=now)
    assert paths.directory.name == "analysis-20260102-030405"
    for name in ("table1", "table2", "table2_grade", "table3", "table3_grade", "table4",
                 "adjusted", "published_comparison", "published_r_p_check"):
        assert paths.csv[name].is_file()
    t2 = pd.read_csv(paths.csv["table2"])
    assert t2.set_index("marker").loc["fazekas_total", "spearman_r"] > 0
    html = paths.html.read_text()
    assert "Table 2. MRI markers by ICAC severity group" in html
    assert "figures/spaghetti.png" in html and "without a follow-up" in html
    # issue 20: the figures come before the tables; wide tables scroll inside the page
    assert html.index('id="figures"') < html.index('id="table1"')
    assert '<div class="scroll"><table' in html and ".scroll { overflow-x: auto" in html
    assert {p.name for p in paths.figures} == {"markers_by_group.png", "spaghetti.png",
                                               "calcium_vs_wmh.png"}
    assert all(p.stat().st_size > 5000 for p in paths.figures)
    md = paths.markdown.read_text()
    assert "## Published r against published P at the reported n" in md
    latest = tmp_path / "latest"
    assert latest.resolve() == paths.directory.resolve()
    assert "analysis-20260102-030405" in (tmp_path / "index.html").read_text()
    again = write_report(small_result, small_frames, tmp_path, now=now)
    assert again.directory != paths.directory and latest.resolve() == again.directory.resolve()


def test_truth_side_by_side(tmp_path, small_result, small_cohort):
    import copy

    import pytest

    from tasks.stats.analysis import truth_vs_measured

    measured = dict(small_cohort)
    measured["baseline"] = small_cohort["baseline"].assign(
        wmh_volume_cm3=small_cohort["baseline"]["wmh_volume_cm3"] * 1.1)
    mf, tf = AnalysisFrames(**measured, source="test"), AnalysisFrames(**small_cohort)
    tables = {t.name: t for t in truth_vs_measured(mf, tf, Options(n_boot=50, n_perm=0))}
    agree = tables["truth_agreement"].data.set_index("marker")
    assert agree.loc["fazekas_total", "exact_agreement"] == 1.0
    assert agree.loc["wmh_volume_cm3", "bias_mean"] > 0
    side4 = tables["truth_table4"].data.set_index("marker")
    assert side4.loc["fazekas_total", "spearman_r_measured"] == pytest.approx(
        side4.loc["fazekas_total", "spearman_r_truth"])
    side = tables["truth_table2"].data.set_index("marker")
    assert side.loc["wmh_volume_cm3", "severe_rel_diff"] == pytest.approx(0.1)
    res = copy.copy(small_result)
    res.tables = {**small_result.tables, **tables}
    paths = write_report(res, mf, tmp_path, truth=tf)
    assert "Truth vs measured" in paths.html.read_text()
    assert any(p.name == "truth_vs_measured.png" for p in paths.figures)


def test_pretty_headers():
    from tasks.report.render import pretty_header

    assert pretty_header("severe_mean_sd") == "severe mean ± SD"
    assert pretty_header("r_fmt") == "r [95% CI]"
    assert pretty_header("spearman_p_holm_fmt") == "P Holm"
    assert pretty_header("lmm_time_x_severe_p_fmt") == "P Δslope severe"
    assert pretty_header("moderate_wilcoxon_p_fmt") == "moderate Wilcoxon P"


def test_every_figure_axis_has_its_unit(tmp_path, small_frames):
    import matplotlib

    from tasks.report import figures as fg
    from tasks.stats.markers import available

    base = small_frames.baseline
    mk = [(m.name, m.label, m.unit) for m in available(base.columns) if m.primary]
    with matplotlib.rc_context({"svg.fonttype": "none"}):  # text stays text in the SVG
        box = fg.markers_by_group(base, mk, tmp_path / "box.svg").read_text()
        spag = fg.spaghetti(small_frames.change, mk, tmp_path / "spag.svg").read_text()
        truth = fg.truth_vs_measured(base, base, mk, tmp_path / "truth.svg").read_text()
    for svg in (box, spag):
        assert "WMH volume (cm³)" in svg and "Lacunes (count)" in svg
        assert "Fazekas score (PV + deep) (grade 0-6)" in svg
    assert "truth (cm³)" in truth and "measured (mm³)" in truth
    assert "ICAC severity group" in box and "visit (time since baseline)" in spag


def test_a_marker_measured_nowhere_is_drawn_as_not_measured(tmp_path, small_frames):
    """Lacunes on thick slices are not measured (None in every session): the truth panel
    says so instead of failing on a column of missing values (nullable Int64, pd.NA)."""
    import matplotlib
    import pandas as pd

    from tasks.report import figures as fg

    base = small_frames.baseline
    measured = base.copy()
    measured["lacune_count"] = pd.array([pd.NA] * len(base), dtype="Int64")
    mk = [("lacune_count", "Lacunes", "count"), ("wmh_volume_cm3", "WMH volume", "cm³")]
    with matplotlib.rc_context({"svg.fonttype": "none"}):
        svg = fg.truth_vs_measured(measured, base, mk, tmp_path / "t.svg").read_text()
    assert "not measured" in svg and "WMH volume" in svg


def test_markers_poorly_agreeing_with_truth_are_flagged(small_frames):
    import dataclasses

    from tasks.stats.analysis import run_analysis
    from tasks.stats.tables import Options

    truth_base = small_frames.baseline.copy()
    truth_base["lacune_count"] = truth_base["lacune_count"].to_numpy()[::-1]  # r near 0
    truth_base["microbleed_volume_mm3"] = truth_base["microbleed_volume_mm3"] / 4.0
    truth = dataclasses.replace(small_frames, baseline=truth_base, change=None,
                                source="ground truth")
    res = run_analysis(small_frames, truth=truth, options=Options(n_boot=50, n_perm=0, seed=1))
    rel = res.tables["reliability"].data.set_index("marker")
    assert "microbleed_volume_mm3" in rel.index and "4x the true mean" in \
        rel.loc["microbleed_volume_mm3", "reasons"]
    assert "wmh_volume_cm3" not in rel.index
    t2 = res.tables["table2"]
    assert "reliability" in t2.shown().columns
    flags = dict(zip(t2.data["marker"], t2.data["reliability"], strict=True))
    assert flags["microbleed_volume_mm3"].startswith("⚠") and flags["wmh_volume_cm3"] == ""
    assert any("flagged unreliable" in n for n in res.notes)


def test_a_report_killed_midway_leaves_the_previous_one_whole(tmp_path, small_result,
                                                              small_frames):
    """A run that dies while writing (here: a table that cannot be written, after others were)
    leaves no half report under an analysis-* name, and `latest` and index.html still point
    at the previous report; the next run removes the dead run's hidden folder."""
    import dataclasses
    import subprocess
    import sys

    import pytest

    first = write_report(small_result, small_frames, tmp_path,
                         now=dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC))
    broken = dataclasses.replace(small_result, tables={**small_result.tables, "broken": None})
    with pytest.raises(AttributeError):
        write_report(broken, small_frames, tmp_path,
                     now=dt.datetime(2026, 1, 3, 3, 4, 5, tzinfo=dt.UTC))
    assert [p.name for p in tmp_path.glob("analysis-*")] == [first.directory.name]
    assert (tmp_path / "latest").resolve() == first.directory.resolve()
    assert "analysis-20260103" not in (tmp_path / "index.html").read_text()
    # as a SIGKILLed run leaves it: a partial folder named after a process that is gone
    partial = next(tmp_path.glob(".analysis-20260103-030405.partial-*"))
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    stale = partial.rename(tmp_path / f".analysis-20260103-030405.partial-{dead}")
    again = write_report(small_result, small_frames, tmp_path,
                         now=dt.datetime(2026, 1, 4, 3, 4, 5, tzinfo=dt.UTC))
    assert not stale.exists() and not list(tmp_path.glob(".analysis-*"))
    assert sorted(p.name for p in tmp_path.glob("analysis-*")) == [
        first.directory.name, again.directory.name]
    assert (tmp_path / "latest").resolve() == again.directory.resolve()
    assert not list(tmp_path.glob(".latest*")) and not list(tmp_path.glob(".index*"))
