"""Shared simulator fixtures: one small messy cohort export and in-memory sessions (4 mm)."""

from __future__ import annotations

import json

import pytest

from tests.simulator.sim_helpers import RES


@pytest.fixture(scope="session")
def messy_export(tmp_path_factory) -> dict:
    """A 3-patient messy export with follow-up at 4 mm (written once per test session)."""
    from simulator.export import simulate_cohort

    root = tmp_path_factory.mktemp("sim")
    summary = simulate_cohort(3, 11, RES, root / "drop", root / "truth", follow_up=True,
                              messy=True, n_procs=1)
    cohort = json.loads((root / "truth" / "cohort.json").read_text())
    return {"root": root, "drop": root / "drop", "truth": root / "truth", "summary": summary,
            "cohort": cohort}


@pytest.fixture(scope="session")
def sessions() -> dict:
    """One rendered baseline per severity group (in memory, 4 mm)."""
    from simulator import render_session

    return {g: render_session(seed=5, group=g, location=loc, resolution_mm=RES, index=i)
            for i, (g, loc) in enumerate([("none_mild", "ICA"), ("moderate", "MCA"),
                                          ("severe", "BA")])}
