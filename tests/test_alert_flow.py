"""Alertmanager notifications into the running bot and the fake Slack, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import pytest
from sqlmodel import select

from bot.runtime import BotRuntime
from bot.storage.models import Incident, WebhookDelivery
from bot.workers import intake
from standins.fake_slack import FakeSlack
from tests.support.alerts import (
    T0,
    alert,
    incidents,
    notification,
    send,
    settled,
    timeline,
    wait_settled,
)
from tests.support.bots import SLACK_MODES, Clock, make_bot
from tests.support.polling import eventually


@pytest.mark.parametrize("bot", SLACK_MODES, indirect=True)
async def test_firing_group_opens_a_channel_with_responders_pinned_alert_and_digest(
    bot: BotRuntime, fake_slack: FakeSlack
) -> None:
    assert await send(bot, notification(alert("a1"))) == 200
    await wait_settled(bot)

    (incident,) = await incidents(bot)
    assert incident.ref == "INC-1"
    assert incident.severity == "sev1"
    assert incident.service == "payments"
    assert incident.started_at == T0
    name = f"inc-{T0:%Y%m%d}-payments-higherrorrate"
    channel = fake_slack.channel_by_name(name)
    assert channel is not None
    assert incident.channel_id == channel.id
    assert channel.topic.startswith("INC-1 | sev1 | investigating | payments")
    assert "INC-1" in channel.purpose
    assert {"U0ONCALL1", "U0ONCALL2", "U0LEAD"} <= channel.members
    (message,) = channel.messages
    assert message.ts in channel.pins
    rendered = json.dumps(message.blocks)
    for expected in (
        "Error rate above 5%",
        "sev1",
        "severity=critical",
        "http://prometheus:9090/graph",
        "https://runbooks.example.com/payments",
        T0.strftime("%Y-%m-%dT%H:%M:%S"),
    ):
        assert expected in rendered
    digest = fake_slack.channel_by_name("incidents")
    assert digest is not None
    (line,) = digest.messages
    assert "INC-1" in line.text
    assert f"<#{channel.id}>" in line.text
    assert "investigating" in line.text

    kinds = [e.kind for e in await timeline(bot, 1)]
    assert kinds[0] == "alert_firing"  # occurred at startsAt, before the bot knew
    assert {"incident_opened", "channel_opened", "responders_invited"} <= set(kinds)
    firing = next(e for e in await timeline(bot, 1) if e.kind == "alert_firing")
    assert firing.occurred_at == T0
    assert firing.recorded_at > firing.occurred_at
    assert firing.occurred_at.tzinfo is not None


async def test_repeated_and_concurrent_duplicates_make_one_incident_and_no_extra_rows(
    bot: BotRuntime, fake_slack: FakeSlack
) -> None:
    payload = notification(alert("a1"))
    statuses = await asyncio.gather(*(send(bot, payload) for _ in range(20)))
    assert statuses == [200] * 20
    await wait_settled(bot)
    rows_before = len(await timeline(bot, 1))
    assert await send(bot, payload) == 200
    await wait_settled(bot)

    assert len(await incidents(bot)) == 1
    assert len(await timeline(bot, 1)) == rows_before
    assert len(fake_slack.calls_to("conversations.create")) == 1
    assert len(fake_slack.calls_to("chat.postMessage")) == 2  # the alert and the digest line


async def test_states_differing_only_in_external_url_are_one_state_in_a_batch(
    bot: BotRuntime, fake_slack: FakeSlack
) -> None:
    await bot.background.stop()  # the three are processed together, in one batch
    firing = notification(alert("a1"))
    again = {**firing, "externalURL": "http://alertmanager-2:9093"}  # an HA peer, say
    resolved = notification(alert("a1", "resolved", ends=T0 + timedelta(minutes=1)))
    for payload in (firing, again, resolved):
        assert await send(bot, payload) == 200
    bot.background.start()
    await wait_settled(bot)

    (incident,) = await incidents(bot)
    kinds = [e.kind for e in await timeline(bot, incident.id or 0)]
    assert kinds.count("alert_firing") == 1
    assert kinds.count("alert_resolved") == 1  # the state after the repeat still counted
    assert "incident_mitigated" in kinds
    assert len(fake_slack.calls_to("conversations.create")) == 1
    async with bot.store.unit() as unit:
        rows = (await unit.session.exec(select(WebhookDelivery))).all()
    outcomes = [r.outcome or "" for r in sorted(rows, key=lambda r: r.id or 0)]
    assert outcomes[1].startswith("same alerts as delivery"), outcomes  # what `deliveries` shows


async def test_repeats_fold_across_the_batches_of_a_pass(
    bot: BotRuntime, fake_slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A storm's pass is cut into batches; its repeats must not cost a full processing
    # at the start of each batch.
    monkeypatch.setattr(intake, "BATCH", 2)
    await bot.background.stop()
    firing = notification(alert("a1"))
    for peer in range(5):
        assert await send(bot, {**firing, "externalURL": f"http://alertmanager-{peer}:9093"}) == 200
    bot.background.start()
    await wait_settled(bot)

    (incident,) = await incidents(bot)
    assert [e.kind for e in await timeline(bot, incident.id or 0)].count("alert_firing") == 1
    assert len(fake_slack.calls_to("conversations.create")) == 1
    async with bot.store.unit() as unit:
        rows = (await unit.session.exec(select(WebhookDelivery))).all()
    outcomes = [r.outcome or "" for r in sorted(rows, key=lambda r: r.id or 0)]
    assert outcomes[0].startswith("open INC-1"), outcomes
    assert outcomes[1:] == [f"same alerts as delivery {i}" for i in range(1, 5)], outcomes


async def test_new_alert_then_resolution_is_diffed_and_marks_mitigated(
    bot: BotRuntime, fake_slack: FakeSlack
) -> None:
    await send(bot, notification(alert("a1")))
    await wait_settled(bot)
    await send(bot, notification(alert("a1"), alert("b2")))
    await wait_settled(bot)
    ended = T0 + timedelta(minutes=2)
    await send(
        bot, notification(alert("a1", "resolved", ends=ended), alert("b2", "resolved", ends=ended))
    )
    await wait_settled(bot)

    (incident,) = await incidents(bot)
    assert incident.mitigated_at == ended
    assert incident.status == "monitoring"
    events = await timeline(bot, 1)
    texts = [e.text for e in events]
    # Each alert is named by the label that tells it from the rest of its group.
    assert "New alert HighErrorRate firing (pod=a1)" in texts
    assert "New alert HighErrorRate firing (pod=b2)" in texts
    assert "Alert HighErrorRate resolved (pod=a1)" in texts
    assert "Alert HighErrorRate resolved (pod=b2)" in texts
    assert [e.kind for e in events].count("alert_resolved") == 2
    assert any(e.kind == "incident_mitigated" and e.occurred_at == ended for e in events)
    channel = fake_slack.channels[incident.channel_id or ""]
    said = "\n".join(m.text for m in channel.messages)
    assert "New alert HighErrorRate firing (pod=b2)" in said
    assert "All alerts of this group resolved" in said
    digest = fake_slack.channel_by_name("incidents")
    assert digest is not None
    assert "alerts resolved" in digest.messages[0].text  # edited in place, still one line
    assert len(digest.messages) == 1


async def test_truncated_alerts_are_shown(bot: BotRuntime, fake_slack: FakeSlack) -> None:
    await send(bot, notification(alert("a1")))
    await wait_settled(bot)
    await send(bot, notification(alert("a1"), alert("b2"), truncated=3))
    await wait_settled(bot)
    (incident,) = await incidents(bot)
    channel = fake_slack.channels[incident.channel_id or ""]
    assert any("left out 3 more alert" in m.text for m in channel.messages)
    assert any(e.kind == "alerts_truncated" for e in await timeline(bot, 1))


async def test_resolved_group_with_no_incident_is_recorded_but_opens_nothing(
    bot: BotRuntime,
) -> None:
    assert (
        await send(bot, notification(alert("a1", "resolved", ends=T0 + timedelta(minutes=1))))
        == 200
    )
    await wait_settled(bot)
    assert await incidents(bot) == []


async def refire_after(
    database_url: str, fake_slack: FakeSlack, delay: timedelta, *, human_resolved: bool
) -> list[Incident]:
    clock = Clock()
    async with make_bot(database_url, fake_slack, clock=clock) as runtime:
        await send(runtime, notification(alert("a1")))
        await wait_settled(runtime)
        ended = T0 + timedelta(minutes=1)
        await send(runtime, notification(alert("a1", "resolved", ends=ended)))
        await wait_settled(runtime)
        if human_resolved:
            await runtime.store.update_incident(1, status="resolved", resolved_at=clock.now)
        clock.now = ended + delay
        await send(runtime, notification(alert("a1", starts=ended + delay)))
        await wait_settled(runtime)
        return await incidents(runtime)


@pytest.mark.parametrize(
    ("delay", "human_resolved", "count", "status"),
    [
        (timedelta(minutes=30), False, 1, "investigating"),
        (timedelta(minutes=90), False, 2, "investigating"),
        (timedelta(minutes=5), True, 2, "investigating"),
    ],
    ids=["within-window-reopens", "after-window-new-incident", "human-resolved-new-incident"],
)
async def test_refiring_group(
    database_url: str,
    fake_slack: FakeSlack,
    delay: timedelta,
    human_resolved: bool,
    count: int,
    status: str,
) -> None:
    found = await refire_after(database_url, fake_slack, delay, human_resolved=human_resolved)
    assert len(found) == count
    assert found[-1].status == status
    assert found[-1].mitigated_at is None
    assert len(fake_slack.calls_to("conversations.create")) == count


async def test_taken_channel_name_gets_a_suffix(bot: BotRuntime, fake_slack: FakeSlack) -> None:
    fake_slack.add_channel(f"inc-{T0:%Y%m%d}-payments-higherrorrate")
    await send(bot, notification(alert("a1")))
    await wait_settled(bot)
    (incident,) = await incidents(bot)
    assert incident.channel_name == f"inc-{T0:%Y%m%d}-payments-higherrorrate-2"


async def test_slack_outage_delays_the_channel_and_loses_nothing(
    bot: BotRuntime, fake_slack: FakeSlack
) -> None:
    fake_slack.set_outage(True, status=503)
    assert await send(bot, notification(alert("a1"))) == 200
    (incident,) = await eventually(lambda: incidents(bot), what="the incident row")
    assert incident.channel_id is None  # Slack is down, but the incident exists
    await eventually(
        lambda: _failed_calls(fake_slack, 6), what="the bot to retry against the outage"
    )
    fake_slack.set_outage(False)
    fake_slack.fail_next(
        "conversations.invite", status=429, retry_after=30
    )  # longer than we wait inline
    await send(bot, notification(alert("a1"), alert("b2")))
    await eventually(lambda: settled(bot), timeout=40, what="recovery after the outage")

    (incident,) = await incidents(bot)
    channel = fake_slack.channels[incident.channel_id or ""]
    assert {"U0ONCALL1", "U0ONCALL2", "U0LEAD"} <= channel.members
    assert len(channel.pins) == 1
    assert any("New alert HighErrorRate firing" in m.text for m in channel.messages)
    assert len(fake_slack.calls_to("conversations.create")) == 1


async def _failed_calls(fake_slack: FakeSlack, count: int) -> bool:
    return sum(1 for c in fake_slack.calls if c.status >= 500) >= count


async def test_a_crash_between_storing_and_processing_loses_nothing(
    database_url: str, fake_slack: FakeSlack
) -> None:
    async with make_bot(database_url, fake_slack) as first:
        await first.background.stop()  # the process "dies" right after answering 200
        assert await send(first, notification(alert("a1"))) == 200
    assert fake_slack.calls_to("conversations.create") == []

    async with make_bot(database_url, fake_slack) as second:
        await wait_settled(second)
        (incident,) = await incidents(second)
        assert incident.channel_id is not None
