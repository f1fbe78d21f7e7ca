"""Tests for tasks/stats/memo.py: reused tables equal a run from scratch; changed data, dtypes,
options or code are computed again."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from tasks.stats import memo
from tasks.stats.analysis import run_analysis
from tasks.stats.data import AnalysisFrames
from tasks.stats.published import PACKAGED_TABLES, load_published
from tasks.stats.synthetic import synthetic_frames
from tasks.stats.tables import Options, table1

FAST = Options(n_boot=100, n_perm=99, seed=5)
BASELINE_TABLES = ["table1", "table2", "table3", "adjusted", "icac_by_artery"]


@pytest.fixture(scope="module")
def small() -> AnalysisFrames:
    return AnalysisFrames(**synthetic_frames(0.3, seed=23, missing_follow_up=0.2),
                          source="synthetic")


@pytest.fixture(scope="module")
def published() -> dict:
    return load_published(PACKAGED_TABLES)


@pytest.fixture(scope="module")
def scratch(small, published):
    """The analysis without a cache."""
    return run_analysis(small, published=published, options=FAST)


def assert_same(a, b) -> None:
    assert list(a.tables) == list(b.tables)
    assert a.notes == b.notes and (a.n_subjects, a.n_with_follow_up) == (b.n_subjects,
                                                                          b.n_with_follow_up)
    for name, ta in a.tables.items():
        tb_ = b.tables[name]
        assert (ta.name, ta.title, ta.display, ta.notes) == (tb_.name, tb_.title, tb_.display,
                                                             tb_.notes), name
        pd.testing.assert_frame_equal(ta.data, tb_.data, check_exact=True, obj=name)


def test_cold_and_warm_runs_equal_a_run_from_scratch(tmp_path, small, published, scratch):
    cache = memo.TableCache(tmp_path)
    cold = run_analysis(small, published=published, options=FAST, cache=cache)
    assert cache.hits == [] and "table1" in cache.misses and "adjusted" in cache.misses
    assert_same(cold, scratch)
    warm_cache = memo.TableCache(tmp_path)
    warm = run_analysis(small, published=published, options=FAST, cache=warm_cache)
    assert warm_cache.misses == [] and sorted(warm_cache.hits) == sorted(cache.misses)
    assert_same(warm, scratch)


def test_new_follow_up_data_recomputes_table4_only(tmp_path, small, published):
    cache = memo.TableCache(tmp_path)
    run_analysis(small, published=published, options=FAST, cache=cache)
    change = small.change.copy()
    change = change.iloc[1:].reset_index(drop=True)  # one subject's follow-up fewer
    changed = dataclasses.replace(small, change=change)
    again = memo.TableCache(tmp_path)
    got = run_analysis(changed, published=published, options=FAST, cache=again)
    assert again.misses == ["table4"]
    assert sorted(again.hits) == sorted(BASELINE_TABLES)
    assert_same(got, run_analysis(changed, published=published, options=FAST))


def test_one_changed_baseline_value_recomputes_what_reads_it(tmp_path, small, published):
    cache = memo.TableCache(tmp_path)
    run_analysis(small, published=published, options=FAST, cache=cache)
    base = small.baseline.copy()
    base.loc[base.index[0], "wmh_volume_cm3"] = float(base["wmh_volume_cm3"].iloc[0]) + 0.5
    changed = dataclasses.replace(small, baseline=base)
    again = memo.TableCache(tmp_path)
    got = run_analysis(changed, published=published, options=FAST, cache=again)
    assert again.hits == []  # every table reads the baseline cohort
    assert_same(got, run_analysis(changed, published=published, options=FAST))


def test_key_follows_values_dtypes_columns_options_and_code(small, monkeypatch):
    base = small.baseline
    key = memo.call_key(table1, (base, FAST), {})
    assert key == memo.call_key(table1, (base.copy(), FAST), {})
    assert key != memo.call_key(table1, (base, dataclasses.replace(FAST, seed=6)), {})
    assert key != memo.call_key(table1, (base.iloc[::-1], FAST), {})  # row order
    assert key != memo.call_key(table1, (base[list(base.columns)[::-1]], FAST), {})
    assert key != memo.call_key(table1, (base.astype({"age": "float32"}), FAST), {})
    cat = base.assign(severity_group=base["severity_group"].astype(
        pd.CategoricalDtype(["severe", "moderate", "none_mild"])))
    cat2 = base.assign(severity_group=base["severity_group"].astype(
        pd.CategoricalDtype(["none_mild", "moderate", "severe"])))
    assert memo.call_key(table1, (cat, FAST), {}) != memo.call_key(table1, (cat2, FAST), {})
    with_none = base.astype({"sex": object})
    with_none.loc[with_none.index[0], "sex"] = None
    with_nan = base.astype({"sex": object})
    with_nan.loc[with_nan.index[0], "sex"] = float("nan")
    assert memo.call_key(table1, (with_none, FAST), {}) != \
        memo.call_key(table1, (with_nan, FAST), {})
    assert memo.call_key(table1, (object(), FAST), {}) is None  # cannot key: computed
    monkeypatch.setattr(memo, "code_version", lambda: "another")
    assert key != memo.call_key(table1, (base, FAST), {})


def test_unreadable_entry_is_computed_again(tmp_path, small):
    cache = memo.TableCache(tmp_path)
    first = cache.call(table1, small.baseline, FAST)
    (entry,) = tmp_path.glob("*.pkl")
    entry.write_bytes(b"not a pickle")
    again = memo.TableCache(tmp_path)
    got = again.call(table1, small.baseline, FAST)
    assert again.misses == ["table1"]
    pd.testing.assert_frame_equal(got.data, first.data, check_exact=True)
    assert memo.call(None, table1, small.baseline, FAST).data.equals(first.data)


def test_not_reading_computes_afresh_and_stores(tmp_path, small):
    forced = memo.TableCache(tmp_path, read=False)
    forced.call(table1, small.baseline, FAST)
    forced.call(table1, small.baseline, FAST)
    assert forced.misses == ["table1", "table1"] and forced.hits == []
    reader = memo.TableCache(tmp_path)
    reader.call(table1, small.baseline, FAST)
    assert reader.hits == ["table1"]


def test_figure_file_reused_byte_identical_and_redrawn_on_change(tmp_path, small):
    from tasks.report.figures import calcium_vs_wmh

    cache = memo.TableCache(tmp_path / "cache")
    first = cache.file(calcium_vs_wmh, tmp_path / "a" / "f.png", small.baseline)
    warm = memo.TableCache(tmp_path / "cache")
    again = warm.file(calcium_vs_wmh, tmp_path / "b" / "f.png", small.baseline)
    assert warm.hits == ["calcium_vs_wmh"]
    fresh = calcium_vs_wmh(small.baseline, tmp_path / "c" / "f.png")
    assert again.read_bytes() == first.read_bytes() == fresh.read_bytes()
    base = small.baseline.copy()
    base.loc[base.index[0], "wmh_volume_cm3"] = float(base["wmh_volume_cm3"].iloc[0]) * 3 + 1
    changed = warm.file(calcium_vs_wmh, tmp_path / "d" / "f.png", base)
    assert warm.misses == ["calcium_vs_wmh"]
    assert changed.read_bytes() == calcium_vs_wmh(base, tmp_path / "e" / "f.png").read_bytes()
    assert changed.read_bytes() != first.read_bytes()
