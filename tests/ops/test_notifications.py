"""Failure notifications and zombie detection are real Prefect automations; setup reruns."""

from __future__ import annotations

import datetime as dt

import pytest


def test_failure_automation_created_and_replaced(prefect_harness) -> None:
    from prefect.automations import Automation

    from ops.notifications import AUTOMATION_NAME, setup_failure_notifications

    first = setup_failure_notifications("https://hooks.example.org/a")
    second = setup_failure_notifications("https://hooks.example.org/b")
    assert first != second
    auto = Automation.read(name=AUTOMATION_NAME)
    assert str(auto.id) == second
    assert auto.trigger.expect == {"prefect.flow-run.Failed", "prefect.flow-run.Crashed"}
    assert auto.actions[0].type == "send-notification"


def test_zombie_automation_crashes_runs_after_missed_heartbeats(prefect_harness) -> None:
    from prefect.automations import Automation

    from ops.notifications import ZOMBIE_AUTOMATION_NAME, setup_zombie_detection

    first = setup_zombie_detection(missed=3, heartbeat_s=60)
    second = setup_zombie_detection(missed=4, heartbeat_s=60)
    assert first != second
    auto = Automation.read(name=ZOMBIE_AUTOMATION_NAME)
    assert str(auto.id) == second
    trig = auto.trigger
    assert trig.posture == "Proactive"
    assert trig.after == {"prefect.flow-run.heartbeat"}
    assert {"prefect.flow-run.heartbeat", "prefect.flow-run.Completed",
            "prefect.flow-run.Crashed"} <= trig.expect
    assert trig.within == dt.timedelta(seconds=240)
    assert trig.for_each == {"prefect.resource.id"}
    assert auto.actions[0].type == "change-flow-run-state"
    assert auto.actions[0].state.value == "CRASHED"


def test_zombie_detection_refuses_settings_that_cannot_work(prefect_harness) -> None:
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    from ops.notifications import setup_zombie_detection

    with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}), \
            pytest.raises(ValueError, match="heartbeats are off"):
        setup_zombie_detection()
    with pytest.raises(ValueError, match="at least 2"):
        setup_zombie_detection(missed=1, heartbeat_s=60)


def test_command_line_needs_something_to_set_up(capsys) -> None:
    from ops.notifications import main

    with pytest.raises(SystemExit) as exc:
        main([])
    assert exc.value.code == 2
    assert "nothing to set up" in capsys.readouterr().err
