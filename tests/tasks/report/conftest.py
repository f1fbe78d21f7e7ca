"""Fixtures for report and flow tests: a small synthetic cohort and its analysis."""

from __future__ import annotations

import pytest

from tasks.stats.analysis import run_analysis
from tasks.stats.data import AnalysisFrames
from tasks.stats.published import PACKAGED_TABLES, load_published
from tasks.stats.synthetic import synthetic_frames
from tasks.stats.tables import Options

FAST = Options(n_boot=100, n_perm=99, seed=5)


@pytest.fixture(scope="session")
def small_cohort():
    """About a third of the paper's size, 20% without follow-up."""
    return synthetic_frames(0.35, seed=21, missing_follow_up=0.2)


@pytest.fixture(scope="session")
def small_frames(small_cohort):
    """The small cohort as :class:`AnalysisFrames`."""
    return AnalysisFrames(**small_cohort, source="synthetic")


@pytest.fixture(scope="session")
def small_result(small_frames):
    """Its analysis, with the published comparison."""
    return run_analysis(small_frames, published=load_published(PACKAGED_TABLES), options=FAST)
