"""Failure notifications are a real Prefect automation, and setup can be rerun."""

from __future__ import annotations


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
