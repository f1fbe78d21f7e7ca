"""Reusing the outcomes of a suite that passed on exactly the same data (outcome_cache)."""

from __future__ import annotations

import pytest

from expectations import runner
from expectations.outcome_cache import cache_path
from tests.expectations.test_runner import _frame, _svd


@pytest.fixture(scope="module")
def gx_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("gx-cache")


def _validate(gx_dir, df, reuse=True):
    return runner.validate_frames({"svd_measures": df}, gx_dir=gx_dir, target="staging",
                                  build_docs=False, reuse=reuse)


def test_same_data_reused_any_change_validated_again(gx_dir):
    rows = [_svd(), _svd(session="M12", fazekas_total=6, fazekas_pv=3, fazekas_deep=3)]
    first = _validate(gx_dir, _frame(rows))
    assert first.success and first.reused == [] and cache_path(gx_dir).is_file()
    again = _validate(gx_dir, _frame(rows))
    assert again.reused == ["svd_measures"] and again.success
    assert [(o.expectation, o.column, o.success, o.element_count) for o in again.outcomes] == \
        [(o.expectation, o.column, o.success, o.element_count) for o in first.outcomes]
    # another load writes the same rows: run_id differs, nothing the suite checks does
    other_run = _frame(rows)
    other_run["run_id"] = "another-run"
    assert _validate(gx_dir, other_run).reused == ["svd_measures"]
    # without reuse (--force) every suite runs
    assert _validate(gx_dir, _frame(rows), reuse=False).reused == []
    # one new value that breaks a rule: validated, and it fails (never a reused pass)
    bad = _frame([rows[0], _svd(session="M12", wmh_volume_cm3=301.0)])
    report = _validate(gx_dir, bad)
    assert report.reused == [] and not report.success
    assert report.failed_names() == [
        "svd_measures.expect_column_values_to_be_between(wmh_volume_cm3)"]
    # a failing suite is not stored: the same bad data is validated (and fails) again
    assert _validate(gx_dir, bad).reused == [] and not _validate(gx_dir, bad).success
    # a new row, even a valid one, is validated
    more = _frame([*rows, _svd(subject="b")])
    assert _validate(gx_dir, more).reused == []


def test_unreadable_cache_means_validate_everything(gx_dir):
    rows = [_svd(subject="z")]
    _validate(gx_dir, _frame(rows))
    cache_path(gx_dir).write_text("{broken")
    report = _validate(gx_dir, _frame(rows))
    assert report.reused == [] and report.success
