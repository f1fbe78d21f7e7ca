"""Tests for flows/preload.py: the later stages' start-up done in a background thread."""

from __future__ import annotations

import sys


def test_preload_registers_every_suite_and_imports(tmp_path):
    from expectations import runner
    from flows.preload import start_preload

    gx_dir = tmp_path / "gx"
    pre = start_preload(gx_dir, analyze=True)
    pre.wait()
    assert pre.error is None and pre.seconds is not None
    assert sorted(runner._REGISTERED[gx_dir.resolve()]) == runner.suite_names()
    assert {"great_expectations", "statsmodels.api", "tasks.report.render"} <= set(sys.modules)
    assert sys.modules["matplotlib"].get_backend().lower() == "agg"
    assert sorted(p.stem for p in (gx_dir / "gx" / "expectations").glob("*.json")) \
        == runner.suite_names()


def test_preload_failure_is_recorded_not_raised(tmp_path):
    from flows.preload import start_preload

    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    pre = start_preload(not_a_dir, analyze=False)
    pre.wait()
    assert pre.error  # the load stage then meets (and reports) the problem itself
