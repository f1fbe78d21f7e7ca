"""Fixtures for the PACS tests: a real Orthanc, a simulated cohort, an ingested folder drop."""

from __future__ import annotations

import pytest

from bench.support.orthanc import start_orthanc
from bench.support.pacs_helpers import simulate


@pytest.fixture(scope="session")
def cohort(tmp_path_factory):
    """One simulated patient at 4 mm, baseline + follow-up: the home holding drop/."""
    home = tmp_path_factory.mktemp("pacs-cohort") / "home"
    simulate(home, subjects=1, resolution=4.0, follow_up=True)
    return home


@pytest.fixture
def orthanc(tmp_path):
    """A fresh Orthanc with the DICOMweb plugin on 127.0.0.1 free ports (stopped after)."""
    server = start_orthanc(tmp_path / "orthanc")
    yield server
    server.stop()
