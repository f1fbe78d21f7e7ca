"""Fixtures for the ingest tests: a tiny hospital export with PHI, faults, and its ingest."""

from __future__ import annotations

import pytest

from tests.tasks.ingest.ingest_fixtures import (
    make_settings,
    tree_digest,
    write_cohort,
    write_faults,
)


@pytest.fixture(scope="session")
def ingested(tmp_path_factory):
    """The cohort + faults ingested once: (settings, first summary, drop digest before)."""
    from tasks.ingest.pipeline import run_ingest

    home = tmp_path_factory.mktemp("ingest") / "home"
    settings = make_settings(home)
    write_cohort(settings.drop_dir)
    write_faults(settings.drop_dir)
    before = tree_digest(settings.drop_dir)
    summary = run_ingest(settings)
    return settings, summary, before
