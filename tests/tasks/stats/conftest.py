"""Fixtures for the statistics tests: synthetic analyst frames drawn from the published group
statistics (``tasks.stats.synthetic``) and a temporary DuckDB warehouse with the contract's
view names."""

from __future__ import annotations

import pandas as pd
import pytest

from tasks.stats.data import AnalysisFrames
from tasks.stats.synthetic import synthetic_frames
from tasks.stats.tables import Options

#: few resamples: keeps the suite fast; the numbers tested do not depend on them
FAST = Options(n_boot=200, n_perm=199, seed=7)


@pytest.fixture(scope="session")
def cohort() -> dict[str, pd.DataFrame]:
    """Paper-size synthetic cohort (60/35/31), 10% without follow-up."""
    return synthetic_frames(1.0, seed=11, missing_follow_up=0.1)


@pytest.fixture(scope="session")
def frames(cohort) -> AnalysisFrames:
    """The paper-size cohort as :class:`AnalysisFrames`."""
    return AnalysisFrames(**cohort, source="synthetic")


@pytest.fixture
def fast() -> Options:
    """Resampling options for tests."""
    return FAST
