"""Suite-wide fixtures: offline environment, an isolated CALCISVD_HOME, a real Prefect API."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from calcisvd.env import apply_offline_env

_PREFECT_HOME = Path(tempfile.mkdtemp(prefix="calcisvd-prefect-"))
os.environ.setdefault("PREFECT_HOME", str(_PREFECT_HOME))
apply_offline_env()


@pytest.fixture
def settings(tmp_path: Path):
    """Resolved settings rooted in a fresh temporary CALCISVD_HOME."""
    from calcisvd.settings import load_settings

    return load_settings(env={}, overrides={"home": tmp_path / "home", "n_procs": 1})


@pytest.fixture(scope="session")
def prefect_harness():
    """A real (ephemeral, temporary database) Prefect API for flow tests.

    Tests start flows in the foreground, as the command line does: without heartbeats.
    """
    from prefect.testing.utilities import prefect_test_harness

    from calcisvd.orchestration import foreground_flow_runs

    with prefect_test_harness(server_startup_timeout=180), foreground_flow_runs():
        yield
