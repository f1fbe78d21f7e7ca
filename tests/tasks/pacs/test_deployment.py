"""The pacs-pull deployment and the receiver's systemd unit are well-formed."""

from __future__ import annotations

import configparser
import inspect
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[3]


def test_pacs_pull_deployment_matches_the_flow():
    from prefect.client.schemas.schedules import CronSchedule

    from flows.pull import pull_flow

    doc = yaml.safe_load((REPO / "prefect.yaml").read_text())
    dep = next(d for d in doc["deployments"] if d["name"] == "pacs-pull")
    assert dep["entrypoint"] == "flows/pull.py:pull_flow"
    params = inspect.signature(pull_flow.fn).parameters
    assert set(dep["parameters"]) <= set(params) and dep["parameters"]["ingest"] is True
    (sched,) = dep["schedules"]
    CronSchedule(cron=sched["cron"], timezone=sched["timezone"])  # raises when invalid


def test_systemd_unit_runs_calcisvd_receive():
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str
    unit.read(REPO / "ops" / "calcisvd-receive.service")
    assert unit["Service"]["ExecStart"].endswith("calcisvd receive")
    assert unit["Service"]["KillSignal"] == "SIGTERM"
    assert unit["Install"]["WantedBy"] == "multi-user.target"
