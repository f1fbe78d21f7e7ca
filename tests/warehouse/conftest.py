"""Fixtures for the warehouse tests; the fake study itself lives in :mod:`bench.fake_study`."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.fake_study import edit_measures, make_fake_study, measures_path

__all__ = ["edit_measures", "make_fake_study", "measures_path"]


@pytest.fixture(scope="session")
def shared_gx_dir(tmp_path_factory) -> Path:
    """One GX file context for the warehouse tests (registering suites costs seconds)."""
    return tmp_path_factory.mktemp("gx")


@pytest.fixture
def wh_settings(tmp_path, shared_gx_dir):
    """Resolved settings in a fresh home, sharing the session's GX context directory."""
    from calcisvd.settings import load_settings

    return load_settings(env={}, overrides={"home": tmp_path / "home", "n_procs": 1,
                                            "gx_dir": shared_gx_dir})


@pytest.fixture
def study(wh_settings):
    """Settings with a fake study of 6 subjects x 2 sessions written under its home."""
    subjects = make_fake_study(wh_settings.bids_dir, wh_settings.derivatives_dir, 6, seed=1)
    return wh_settings, subjects
