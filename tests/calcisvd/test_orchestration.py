"""Flows started by the command line run without heartbeats, unless the operator set them."""

from __future__ import annotations

import importlib
import inspect
import os
import subprocess
import sys
from pathlib import Path

import pytest

from calcisvd.cli import COMMANDS

REPO = Path(__file__).resolve().parents[2]


def test_foreground_flow_runs_have_no_heartbeats(prefect_harness) -> None:
    from prefect import flow
    from prefect.settings import (
        PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
        get_current_settings,
        temporary_settings,
    )

    from calcisvd.orchestration import foreground_flow_runs

    @flow
    def probe() -> int | None:
        return get_current_settings().flows.heartbeat_frequency

    with foreground_flow_runs():
        assert probe() is None
    # set explicitly: kept
    with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: 60}), \
            foreground_flow_runs():
        assert probe() == 60


_PROBE = """
from prefect.settings import get_current_settings
from calcisvd.orchestration import foreground_flow_runs, heartbeats_configured
print(heartbeats_configured(), get_current_settings().flows.heartbeat_frequency)
with foreground_flow_runs():
    print(get_current_settings().flows.heartbeat_frequency)
"""


@pytest.mark.parametrize(("env", "expected"), [
    ({}, ["False 180", "None"]),  # Prefect's default: off in the foreground
    ({"PREFECT_FLOWS_HEARTBEAT_FREQUENCY": "60"}, ["True 60", "60"]),  # the operator's choice
])
def test_heartbeats_off_unless_the_operator_set_them(tmp_path, env, expected) -> None:
    clean = {k: v for k, v in os.environ.items() if k != "PREFECT_FLOWS_HEARTBEAT_FREQUENCY"}
    out = subprocess.run([sys.executable, "-c", _PROBE], cwd=REPO, env={**clean, **env},
                         capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.split("\n")[:2] == expected


def test_every_command_that_runs_a_flow_says_so() -> None:
    """cli.main starts flows in the foreground for commands with RUNS_FLOWS."""
    for name in COMMANDS:
        mod = importlib.import_module(f"calcisvd.commands.{name.replace('-', '_')}")
        uses_flows = "from flows." in inspect.getsource(mod)
        assert getattr(mod, "RUNS_FLOWS", False) == uses_flows, name
