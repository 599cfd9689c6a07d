"""Every kind of message the bot says in Slack, with hostile sizes: Slack refuses none.

The fake Slack checks Block Kit limits as Slack does (standins/fake_slack_blocks.py)
and slash-command acks are checked by the signed-request helpers, so a message that
breaks a limit fails here instead of vanishing in production.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.core.incident_rules import IncidentStatus
from bot.core.messages import ALERT_REST
from bot.core.pod_health import ContainerState, PodTrouble
from bot.core.pod_logs import LogLine
from bot.core.reminders import ReminderInput, ReminderPolicy, due_reminders
from bot.core.rollback import RollbackPlan
from bot.core.rollout import EventLine, Revision, RolloutStatus
from bot.core.silences import SilenceView
from bot.core.similar import (
    Fix,
    Likeness,
    PastIncident,
    Shape,
    Similar,
    seen_before_line,
    similar_list,
)
from bot.core.status_report import FiringAlert, MetricReading, StatusReport
from bot.storage.models import Incident
from bot.workers.reminders import snooze_blocks
from commands.rollback import render_history, render_preview, render_progress
from commands.silence import silence_message, silences_list
from commands.status import render_status
from standins.fake_slack import FakeSlack
from tests.support.alerts import send
from tests.support.bots import running_bot
from tests.support.polling import eventually
from tests.support.slack_client import slash

LONG = "x" * 200  # a 200-character name
REFUSALS = {"invalid_blocks", "msg_too_long", "invalid_arguments", "too_long", "no_text"}
NOW = datetime.now(UTC).replace(microsecond=0)


def refused(fake: FakeSlack) -> list[str]:
    return [
        f"{c.method}: {c.response.get('error')} {c.response.get('response_metadata', '')}"
        for c in fake.calls
        if c.response.get("error") in REFUSALS
    ]


def hostile_alert() -> dict[str, Any]:
    labels = {"alertname": "A" + LONG, "service": "s" + LONG, "severity": "critical"}
    labels |= {f"label_{i:02d}_{LONG[:30]}": "v" * 120 for i in range(40)}
    starts = (NOW - timedelta(minutes=2)).isoformat().replace("+00:00", "Z")
    return {
        "receiver": "incident-bot",
        "status": "firing",
        "version": "4",
        "groupKey": '{}:{alertname="hostile"}',
        "truncatedAlerts": 7,
        "groupLabels": {"alertname": labels["alertname"]},
        "commonLabels": labels,
        "commonAnnotations": {"summary": "S" * 2000, "description": "D" * 10_240},
        "externalURL": "http://alertmanager:9093/" + LONG,
        "alerts": [
            {
                "status": "firing",
                "labels": labels,
                "fingerprint": "f" * 16,
                "annotations": {
                    "summary": "S" * 2000,
                    "description": "D" * 10_240,
                    "runbook_url": "https://runbooks.example.com/" + LONG,
                },
                "startsAt": starts,
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus:9090/graph?g0.expr=" + LONG * 5,
            }
        ],
    }


async def test_alert_lifecycle_help_and_list_with_hostile_sizes(
    sqlite_url: str, fake_slack: FakeSlack
) -> None:
    async with running_bot(sqlite_url, fake_slack) as bot:
        assert await send(bot, hostile_alert()) == 200
        posted = await fake_slack.wait_for_call("chat.postMessage", count=2)  # alert and digest
        alert = next(c for c in posted if c.args.get("blocks") and c.args["channel"] != "incidents")
        channel = alert.args["channel"]
        texts = [b.get("text", {}).get("text", "") for b in alert.args["blocks"]]
        assert any(ALERT_REST in t for t in texts), "a cut alert says where the rest is"
        assert any("label_00" in t for t in texts)

        for command in (
            "sev 1",
            "lead <@U0ONCALL1>",
            "note " + "N" * 3000,
            "action " + "A" * 2000 + " <@U0ONCALL2>",
            "status identified " + "I" * 3000,
            "status resolved " + "R" * 3500,
            "help",
        ):
            await slash(bot, "/incident", command, channel=channel)  # the ack is checked too
        await fake_slack.wait_for_call("chat.postMessage", count=3)

        for i in range(500):
            await bot.store.save(
                Incident(
                    title=f"{i} " + LONG,
                    severity="sev2",
                    service="s" + LONG,
                    started_at=NOW - timedelta(hours=i),
                    detected_at=NOW - timedelta(hours=i),
                    channel_id=f"C{i:08d}",
                )
            )
        listing = await slash(bot, "/incident", "list", channel=channel)
        assert "more: `incident-bot incidents --open` lists them all" in listing
        assert listing.count("\n") >= 10, "the list shows a good screenful before it cuts"

        async def settled() -> bool:
            return not await bot.store.open_jobs()

        await eventually(settled, what="every Slack job of the incident done")
        closing = [
            c for c in fake_slack.calls_to("chat.postMessage") if "resolved" in c.args["text"]
        ]
        assert closing, "the closing message was posted"
        assert refused(fake_slack) == []


def container() -> ContainerState:
    return ContainerState(
        "c" + LONG, "i" + LONG, False, "waiting", "R", "W" * 2000, False, 9, "Error", 1, NOW
    )


def hostile_report() -> StatusReport:
    revisions = tuple(
        Revision(n, "rs-" + LONG, ("registry.example.com/" + LONG + f":v{n}",) * 3, NOW, 1, {})
        for n in range(10, 0, -1)
    )
    return StatusReport(
        service="s" + LONG,
        namespace="n" * 63,
        deployment="d" + LONG,
        generated_at=NOW,
        metrics=tuple(
            MetricReading(k, 0.45, 0.01) for k in ("error_rate", "latency_p95", "request_rate")
        ),
        alerts=tuple(FiringAlert("A" + LONG, "critical", NOW) for _ in range(40)),
        rollout=RolloutStatus(10, 3, 2, 2, False, "progressing", "M" * 2000),
        revisions=revisions,
        pods=tuple(
            PodTrouble(
                "p" + LONG,
                False,
                99,
                "CrashLoopBackOff" + LONG,
                NOW,
                message="M" * 2000,
                containers=tuple(container() for _ in range(10)),
            )
            for _ in range(40)
        ),
        events=tuple(EventLine(NOW, "pod/" + LONG, "BackOff", "E" * 1000, 7) for _ in range(40)),
        log_lines=tuple(LogLine("p" + LONG, "L" * 500) for _ in range(100)),
        missing={"kubernetes": "K" * 4000, "prometheus": "P" * 4000, "Logs": "G" * 4000},
        metric_errors={"error_rate": "Q" * 4000},
    )


def hostile_plan(gitops: str | None = None) -> RollbackPlan:
    images = tuple(f"registry.example.com/{LONG}:{i}" for i in range(10))
    return RollbackPlan(
        namespace="n" * 63,
        deployment="d" + LONG,
        resource_version="1",
        from_revision=12,
        from_images=images,
        to_revision=11,
        to_images=images[::-1],
        diff=tuple(f"- env {LONG} {i}" for i in range(200)),
        patch=(),
        gitops=gitops,
    )


def rendered_messages() -> list[tuple[str, str, list[dict[str, Any]] | None]]:
    """(what, text, blocks) of every message rendered outside the alert flow."""
    plan = hostile_plan()
    status = RolloutStatus(10, 3, 2, 2, False, "progressing", "M" * 2000)
    policy = ReminderPolicy(status_update_minutes={"sev1": 1}, no_commander_minutes=1)
    reminder_input = ReminderInput(
        "INC-" + "9" * 12, "sev1", IncidentStatus.INVESTIGATING, NOW - timedelta(days=3)
    )
    reminders = due_reminders(reminder_input, now=NOW, policy=policy)
    assert reminders
    revs = list(hostile_report().revisions)
    matchers = tuple(
        {"name": f"label_{i}_{LONG}", "value": "v" * 200, "isRegex": False, "isEqual": True}
        for i in range(40)
    )
    silence = SilenceView(
        1, "s" * 36, matchers, "U0ONCALL1", NOW, NOW + timedelta(hours=4), "R" * 10_240, True
    )
    past = PastIncident(
        7,
        "INC-7",
        "T" + LONG * 5,
        Shape(service="s" + LONG),
        "resolved",
        NOW - timedelta(days=3),
        NOW - timedelta(days=3, minutes=-14),
        NOW - timedelta(days=2),
        "C1",
        Fix("summary", "F" * 10_240),
    )
    similar = [Similar(past, Likeness.SAME_ALERT)]
    gitops = hostile_plan("G" * 3000)
    return [
        ("status", *render_status(hostile_report())),
        (
            "rollback preview",
            *render_preview(plan, rollback_id=10**9, requested_by="U1", force=False),
        ),
        (
            "rollback preview, GitOps",
            *render_preview(gitops, rollback_id=1, requested_by="U1", force=True),
        ),
        ("rollback progress", *render_progress(plan, status, by="U" + LONG)),
        ("rollback history", render_history("n" * 63, "d" + LONG, revs * 10, 10), None),
        *[(f"reminder {r.kind.value}", r.text, snooze_blocks(r, 10**9)) for r in reminders],
        ("silence", *silence_message(silence, NOW)),
        ("silences list", silences_list([silence] * 500, NOW), None),
        ("similar incidents", similar_list(similar * 50, NOW, link=lambda p: p.ref), None),
        ("seen before", seen_before_line(similar * 50, NOW, link=lambda p: p.ref), None),
    ]


@pytest.mark.parametrize("index", range(len(rendered_messages())))
async def test_rendered_messages_with_hostile_sizes_are_accepted(
    fake_slack: FakeSlack, index: int
) -> None:
    from slack_sdk.web.async_client import AsyncWebClient

    what, text, blocks = rendered_messages()[index]
    channel = fake_slack.add_channel("inc-hostile")
    client = AsyncWebClient(token=fake_slack.bot_token, base_url=fake_slack.url)
    args: dict[str, Any] = {"channel": channel.id, "text": text}
    if blocks is not None:
        args["blocks"] = blocks
    response = await client.api_call("chat.postMessage", json=args)
    await client.api_call("chat.update", json={**args, "ts": response["ts"]})
    assert refused(fake_slack) == [], what
