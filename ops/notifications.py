"""Failure notifications and zombie-run detection through Prefect automations.

No home-made alerting: both are automations on the Prefect server the workers use.

``--webhook URL`` creates (or replaces) a webhook notification block and an automation that
fires on every Failed or Crashed flow run tagged ``calcisvd``. Point it at:

* a webhook (Slack/Teams/Mattermost incoming webhook, or any HTTP endpoint)::

      python -m ops.notifications --webhook https://hooks.example.org/T000/B000/XXXX

* e-mail: use your mail gateway's webhook/HTTP API with ``--webhook``, or create an
  ``EmailServerCredentials``-based notification block (``prefect-email``) and give its id to
  the ``SendNotification`` action of :func:`setup_failure_notifications`.

``--zombies`` creates (or replaces) an automation that marks a calcisvd flow run Crashed when
its heartbeats stop (the machine or the worker died under it): the failure notification then
fires for it too. Deployment runs emit a heartbeat every ``PREFECT_FLOWS_HEARTBEAT_FREQUENCY``
seconds (180 by default); a run is declared a zombie after ``--missed`` (3) missed beats.
Flows started from the command line run without heartbeats (see calcisvd/orchestration.py).

Run against the server the workers use (``PREFECT_API_URL``)::

    python -m ops.notifications --webhook https://hooks.example.org/T000/B000/XXXX --zombies
"""

from __future__ import annotations

import argparse

AUTOMATION_NAME = "calcisvd: notify on failed runs"
ZOMBIE_AUTOMATION_NAME = "calcisvd: crash runs whose heartbeats stopped"
BLOCK_NAME = "calcisvd-failure-webhook"
#: the events that end a heartbeat wait: a further beat, or a final state
HEARTBEAT_OR_END = frozenset({"prefect.flow-run.heartbeat", "prefect.flow-run.Completed",
                              "prefect.flow-run.Failed", "prefect.flow-run.Cancelled",
                              "prefect.flow-run.Crashed"})


def setup_failure_notifications(webhook_url: str, allow_private: bool = False) -> str:
    """Create the webhook block and the automation; returns the automation id."""
    from prefect.automations import Automation, EventTrigger, SendNotification
    from prefect.blocks.notifications import CustomWebhookNotificationBlock

    block = CustomWebhookNotificationBlock(
        name="calcisvd", url=webhook_url, method="POST",
        json_data={"text": "{{subject}}\n{{body}}"}, allow_private_urls=allow_private)
    block_id = block.save(BLOCK_NAME, overwrite=True)
    _delete_existing(AUTOMATION_NAME)
    automation = Automation(
        name=AUTOMATION_NAME,
        description="A calcisvd flow run failed or crashed",
        trigger=EventTrigger(
            match={"prefect.resource.id": "prefect.flow-run.*"},
            match_related={"prefect.resource.role": "tag",
                           "prefect.resource.id": "prefect.tag.calcisvd"},
            expect={"prefect.flow-run.Failed", "prefect.flow-run.Crashed"},
            posture="Reactive", threshold=1),
        actions=[SendNotification(
            block_document_id=block_id,
            subject="calcisvd: {{ flow_run.name }} is {{ flow_run.state.name }}",
            body="Flow run {{ flow_run.name }} ({{ flow.name }}) ended {{ flow_run.state.name }}"
                 ": {{ flow_run.state.message }}")],
    ).create()
    return str(automation.id)


def setup_zombie_detection(missed: int = 3, heartbeat_s: int | None = None) -> str:
    """Create the automation that crashes calcisvd runs whose heartbeats stopped; its id.

    ``heartbeat_s`` defaults to the heartbeat frequency of the current Prefect settings (the
    workers must use the same); a run is a zombie after ``missed`` beats without one.
    """
    from datetime import timedelta

    from prefect.automations import (
        Automation,
        ChangeFlowRunState,
        EventTrigger,
        Posture,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.settings import get_current_settings

    every = heartbeat_s or get_current_settings().flows.heartbeat_frequency
    if not every:
        raise ValueError("flow-run heartbeats are off (PREFECT_FLOWS_HEARTBEAT_FREQUENCY): "
                         "nothing would tell a zombie run from a live one")
    if missed < 2:
        raise ValueError("missed must be at least 2 (one late heartbeat is not a crash)")
    _delete_existing(ZOMBIE_AUTOMATION_NAME)
    automation = Automation(
        name=ZOMBIE_AUTOMATION_NAME,
        description=f"No heartbeat from a running calcisvd flow run for {missed} x {every} s",
        trigger=EventTrigger(
            after={"prefect.flow-run.heartbeat"},
            expect=set(HEARTBEAT_OR_END),
            match={"prefect.resource.id": "prefect.flow-run.*"},
            match_related={"prefect.resource.role": "tag",
                           "prefect.resource.id": "prefect.tag.calcisvd"},
            for_each={"prefect.resource.id"},
            posture=Posture.Proactive, threshold=1,
            within=timedelta(seconds=missed * every)),
        actions=[ChangeFlowRunState(
            state=StateType.CRASHED,
            message=f"no heartbeat for {missed * every} s: the process running it is gone")],
    ).create()
    return str(automation.id)


def _delete_existing(name: str) -> None:
    """Remove an earlier version of an automation, so that setup can be rerun."""
    from prefect.automations import Automation

    try:
        old = Automation.read(name=name)
    except (ValueError, LookupError):
        return
    if old is not None:
        old.delete()


def main(argv: list[str] | None = None) -> None:
    """Command-line entry: ``python -m ops.notifications [--webhook URL] [--zombies]``."""
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--webhook", help="URL that receives a JSON POST for each failed run")
    p.add_argument("--allow-private", action="store_true",
                   help="allow a webhook on a private network address")
    p.add_argument("--zombies", action="store_true",
                   help="mark runs whose heartbeats stopped as Crashed")
    p.add_argument("--missed", type=int, default=3, metavar="N",
                   help="heartbeats missed before a run is a zombie (default 3)")
    args = p.parse_args(argv)
    if not (args.webhook or args.zombies):
        p.error("nothing to set up: give --webhook URL, --zombies, or both")
    if args.webhook:
        print("failure notifications:", setup_failure_notifications(args.webhook,
                                                                    args.allow_private))
    if args.zombies:
        print("zombie detection:", setup_zombie_detection(args.missed))


if __name__ == "__main__":
    main()
