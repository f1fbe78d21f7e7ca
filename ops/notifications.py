"""Failure notifications through a Prefect automation (no home-made alerting).

Creates (or replaces) a webhook notification block and an automation that fires on every
Failed or Crashed flow run tagged ``calcisvd``. Point it at:

* a webhook (Slack/Teams/Mattermost incoming webhook, or any HTTP endpoint)::

      python -m ops.notifications --webhook https://hooks.example.org/T000/B000/XXXX

* e-mail: use your mail gateway's webhook/HTTP API with ``--webhook``, or install
  ``prefect-email`` and create an ``EmailServerCredentials`` block, then swap the block id in
  ``ops/automations/notify-on-failure.yaml`` and run ``prefect automation create -f`` on it.

Run against the server the workers use (``PREFECT_API_URL``).
"""

from __future__ import annotations

import argparse

AUTOMATION_NAME = "calcisvd: notify on failed runs"
BLOCK_NAME = "calcisvd-failure-webhook"


def setup_failure_notifications(webhook_url: str, allow_private: bool = False) -> str:
    """Create the webhook block and the automation; returns the automation id."""
    from prefect.automations import Automation, EventTrigger, SendNotification
    from prefect.blocks.notifications import CustomWebhookNotificationBlock

    block = CustomWebhookNotificationBlock(
        name="calcisvd", url=webhook_url, method="POST",
        json_data={"text": "{{subject}}\n{{body}}"}, allow_private_urls=allow_private)
    block_id = block.save(BLOCK_NAME, overwrite=True)
    _delete_existing()
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


def _delete_existing() -> None:
    """Remove an earlier version of the automation, so that setup can be rerun."""
    from prefect.automations import Automation

    try:
        old = Automation.read(name=AUTOMATION_NAME)
    except (ValueError, LookupError):
        return
    if old is not None:
        old.delete()


def main() -> None:
    """Command-line entry: ``python -m ops.notifications --webhook URL``."""
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--webhook", required=True, help="URL that receives a JSON POST")
    p.add_argument("--allow-private", action="store_true",
                   help="allow a webhook on a private network address")
    args = p.parse_args()
    print("automation", setup_failure_notifications(args.webhook, args.allow_private))


if __name__ == "__main__":
    main()
