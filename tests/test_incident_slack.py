"""/incident, the declare shortcut, capture and reminders, signed into the running bot."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from bot.runtime import BotRuntime
from bot.slack.listeners.capture import ts_time
from bot.storage.models import ActionItem, Incident, TimelineEvent
from standins.fake_slack import FakeSlack
from standins.fake_slack_state import FakeChannel
from standins.slack_requests import interaction_body
from tests.support.bots import CATALOG, SLACK_MODES, Clock, make_bot
from tests.support.polling import eventually
from tests.support.slack_client import click, deliver_again, event, post_signed, slash


async def settled(bot: BotRuntime) -> bool:
    return not await bot.store.pending_delivery_ids() and not await bot.store.open_jobs()


async def declare(
    bot: BotRuntime, fake_slack: FakeSlack, text: str
) -> tuple[Incident, FakeChannel]:
    general = fake_slack.channel_by_name("general") or fake_slack.add_channel("general")
    answer = await slash(bot, "/incident", f"declare {text}", channel=general.id, user="U0ONCALL1")
    assert answer.startswith("Declared INC-")
    await eventually(lambda: settled(bot), what="the incident channel to open")
    (incident,) = [i for i in await bot.store.incidents() if answer.startswith(f"Declared {i.ref}")]
    assert incident.channel_id is not None
    return incident, fake_slack.channels[incident.channel_id]


async def events_of(bot: BotRuntime, incident: Incident, kind: str) -> list[TimelineEvent]:
    assert incident.id is not None
    return [e for e in await bot.store.timeline(incident.id) if e.kind == kind]


async def test_declare_opens_a_channel_like_an_alert_does(
    bot: BotRuntime, fake_slack: FakeSlack
) -> None:
    incident, channel = await declare(
        bot, fake_slack, '"Checkout is slow" --sev 2 --service payments'
    )
    assert (incident.title, incident.severity, incident.service) == (
        "Checkout is slow",
        "sev2",
        "payments",
    )
    assert incident.reporter == "U0ONCALL1"
    assert channel.name.endswith("-payments-checkout-is-slow")
    assert {"U0ONCALL1", "U0ONCALL2", "U0LEAD"} <= channel.members
    assert channel.messages[0].ts in channel.pins
    assert channel.topic.startswith(f"{incident.ref} | sev2 | investigating | payments")
    digest = fake_slack.channel_by_name("incidents")
    assert digest is not None and incident.ref in digest.messages[0].text
    assert await events_of(bot, incident, "incident_declared")


async def test_lifecycle_in_the_channel(
    database_url: str, fake_slack: FakeSlack, clock: Clock
) -> None:
    async with make_bot(database_url, fake_slack, clock=clock) as bot:
        incident, channel = await declare(
            bot, fake_slack, "Payments 5xx --sev 3 --service payments"
        )
        clock.now += timedelta(minutes=5)
        assert "is now identified" in await slash(
            bot, "/incident", "status identified", channel=channel.id
        )
        clock.now += timedelta(minutes=2)
        assert "sev1" in await slash(bot, "/incident", "sev 1", channel=channel.id)
        assert "commander" in await slash(
            bot, "/incident", "lead <@U0STRANGER>", channel=channel.id
        )
        refusal = await slash(bot, "/incident", "status resolved", channel=channel.id)
        assert "summary" in refusal and "/incident status resolved" in refusal
        clock.now += timedelta(minutes=10)
        await slash(bot, "/incident", "status resolved Rolled back v2.3.1", channel=channel.id)
        await eventually(lambda: settled(bot), what="Slack updates")

        found = await bot.store.incident(incident.id or 0)
        assert found is not None
        assert (found.status, found.severity, found.commander) == ("resolved", "sev1", "U0STRANGER")
        assert found.identified_at == incident.started_at + timedelta(minutes=5)
        assert found.resolved_at == incident.started_at + timedelta(minutes=17)
        assert found.resolution_summary == "Rolled back v2.3.1"
        assert channel.topic.startswith(f"{incident.ref} | sev1 | resolved")
        assert "U0STRANGER" in channel.members
        said = "\n".join(m.text for m in channel.messages)
        assert "you are the commander" in said
        assert "resolved*: Rolled back v2.3.1" in said and "to resolve 17m" in said
        assert any(b.get("type") == "actions" for m in channel.messages for b in (m.blocks or []))
        digest = fake_slack.channel_by_name("incidents")
        assert (
            digest is not None
            and len(digest.messages) == 1
            and "resolved" in digest.messages[0].text
        )
        kinds = [e.kind for e in await bot.store.timeline(incident.id or 0)]
        assert kinds.count("status_changed") == 2
        assert "severity_changed" in kinds and "role_assigned" in kinds and "command" in kinds
        assert "already resolved" in await slash(
            bot, "/incident", "status resolved again", channel=channel.id
        )
        assert "closed" in await slash(bot, "/incident", "close", channel=channel.id)
        await eventually(lambda: settled(bot), what="the archive")
        assert channel.is_archived


async def test_notes_and_action_items(bot: BotRuntime, fake_slack: FakeSlack) -> None:
    _, channel = await declare(bot, fake_slack, "Latency --service payments")
    await slash(
        bot, "/incident", "note TODO: raise the pool timeout back to 30s", channel=channel.id
    )
    await slash(
        bot,
        "/incident",
        "action Add an alert on pool usage <@U0LEAD> --due 2026-12-01",
        channel=channel.id,
    )
    async with bot.store.unit() as unit:
        items = (await unit.session.exec(select(ActionItem))).all()
    assert sorted((i.text, i.owner, i.due) for i in items) == [
        ("Add an alert on pool usage", "U0LEAD", "2026-12-01"),
        ("raise the pool timeout back to 30s", None, None),
    ]
    assert "not an incident channel" in await slash(
        bot, "/incident", "note hi", channel="C0NOWHERE"
    )


async def test_bad_commands_get_the_usage_line(bot: BotRuntime, fake_slack: FakeSlack) -> None:
    _, channel = await declare(bot, fake_slack, "Latency")
    assert "Usage: /incident sev 1..4" in await slash(bot, "/incident", "sev 9", channel=channel.id)
    assert "Unknown command" in await slash(bot, "/incident", "explode", channel=channel.id)
    assert "Severities" in await slash(bot, "/incident", "help", channel=channel.id)
    assert "INC-1" in await slash(bot, "/incident", "list", channel=channel.id)


@pytest.mark.parametrize("bot", SLACK_MODES, indirect=True)
async def test_pins_reactions_edits_and_deletions_make_the_timeline(
    bot: BotRuntime, fake_slack: FakeSlack
) -> None:
    incident, channel = await declare(bot, fake_slack, "Latency")
    said = fake_slack.post(channel, "Pool exhausted at 14:38, timeouts 3s", user="U0ONCALL2")
    pin = {
        "type": "pin_added",
        "user": "U0ONCALL1",
        "channel_id": channel.id,
        "item": {
            "type": "message",
            "channel": channel.id,
            "message": {"type": "message", "user": "U0ONCALL2", "text": said.text, "ts": said.ts},
        },
        "event_ts": said.ts,
    }
    delivery = await event(bot, pin, event_id="EvPIN1")
    await deliver_again(bot, pin, delivery)  # Slack's retry of the same delivery
    (pinned,) = await eventually(lambda: events_of(bot, incident, "pinned_message"), what="the pin")
    assert pinned.occurred_at == ts_time(said.ts)
    assert (pinned.actor, pinned.text) == ("U0ONCALL2", said.text)
    assert pinned.link and said.ts.replace(".", "") in pinned.link

    other = fake_slack.post(channel, "Rollback to v2.3.0 started", user="U0ONCALL1")
    pushpin = {
        "type": "reaction_added",
        "user": "U0LEAD",
        "reaction": "pushpin",
        "item": {"type": "message", "channel": channel.id, "ts": other.ts},
    }
    await deliver_again(bot, pushpin, await event(bot, pushpin))
    await event(
        bot,
        {
            "type": "reaction_added",
            "user": "U0LEAD",
            "reaction": "eyes",
            "item": {"type": "message", "channel": channel.id, "ts": said.ts},
        },
    )
    await event(
        bot,
        {
            "type": "message",
            "subtype": "message_changed",
            "channel": channel.id,
            "message": {
                "type": "message",
                "user": "U0ONCALL2",
                "ts": said.ts,
                "text": "Pool exhausted at 14:38, timeout 3s (was 30s)",
                "edited": {"user": "U0ONCALL2", "ts": said.ts},
            },
            "previous_message": {"ts": said.ts, "text": said.text},
        },
    )
    await event(
        bot,
        {
            "type": "message",
            "subtype": "message_deleted",
            "channel": channel.id,
            "deleted_ts": other.ts,
        },
    )

    async def captured() -> dict[str, TimelineEvent] | None:
        rows = {e.details.get("ts"): e for e in await events_of(bot, incident, "pinned_message")}
        done = len(rows) == 2 and "removed_by" in rows[other.ts].details
        return rows if done and rows[said.ts].details.get("edits") else None

    rows = await eventually(captured, what="the reaction, the edit and the deletion")
    assert rows[said.ts].text == "Pool exhausted at 14:38, timeout 3s (was 30s)"
    assert rows[said.ts].details["edits"][0]["previous"] == said.text
    assert rows[other.ts].occurred_at == ts_time(other.ts)
    assert rows[other.ts].details["removed_by"] == "deleted"


async def test_declare_shortcut_and_modal(bot: BotRuntime, fake_slack: FakeSlack) -> None:
    general = fake_slack.add_channel("general")
    message = fake_slack.post(general, "checkout returns 502 for everyone", user="U0ONCALL2")
    shortcut = {
        "type": "message_action",
        "callback_id": "declare_incident",
        "trigger_id": "9.9.9",
        "team": {"id": "T0TEST"},
        "user": {"id": "U0ONCALL2"},
        "channel": {"id": general.id},
        "message": {"text": message.text, "ts": message.ts},
        "token": "x",
    }
    status, _ = await post_signed(
        bot, interaction_body(shortcut), "application/x-www-form-urlencoded"
    )
    assert status == 200
    (opened,) = await fake_slack.wait_for_call("views.open")
    view = opened.args["view"]
    assert view["blocks"][0]["element"]["initial_value"] == message.text
    submission = {
        "type": "view_submission",
        "team": {"id": "T0TEST"},
        "user": {"id": "U0ONCALL2"},
        "view": {
            "id": "V1",
            "type": "modal",
            "callback_id": "declare_incident_modal",
            "state": {
                "values": {
                    "title": {"title": {"type": "plain_text_input", "value": "Checkout 502s"}},
                    "severity": {
                        "severity": {"type": "static_select", "selected_option": {"value": "sev1"}}
                    },
                    "service": {"service": {"type": "plain_text_input", "value": "payments"}},
                }
            },
        },
        "token": "x",
        "api_app_id": "A0TEST",
    }
    status, _ = await post_signed(
        bot, interaction_body(submission), "application/x-www-form-urlencoded"
    )
    assert status == 200
    (incident,) = await eventually(lambda: bot.store.incidents(), what="the declared incident")
    assert (incident.title, incident.severity, incident.reporter) == (
        "Checkout 502s",
        "sev1",
        "U0ONCALL2",
    )


async def test_reminders_fire_once_wait_when_snoozed_and_survive_a_restart(
    database_url: str, fake_slack: FakeSlack
) -> None:
    clock = Clock()
    async with make_bot(database_url, fake_slack, clock=clock) as first:
        incident, channel = await declare(first, fake_slack, "Payments down --sev 1")
        clock.now += timedelta(minutes=9)
        assert await first.reminders.run_due() == 0
        clock.now += timedelta(minutes=2)
        assert await first.reminders.run_due() == 1  # no commander after 10 min
        assert await first.reminders.run_due() == 0
        await eventually(lambda: settled(first), what="the nudge")
    nudges = [m for m in channel.messages if "no commander" in m.text]
    assert len(nudges) == 1

    async with make_bot(database_url, fake_slack, clock=clock) as second:
        assert await second.reminders.run_due() == 0  # already sent, the restart changes nothing
        clock.now += timedelta(minutes=20)  # 31 min without a status update (sev1: 30)
        assert await second.reminders.run_due() == 1
        await eventually(lambda: settled(second), what="the status nudge")
        (nudge,) = [m for m in channel.messages if "no status update" in m.text]
        snooze = next(b for b in nudge.blocks or [] if b["type"] == "actions")["elements"][0]
        await click(second, snooze["action_id"], snooze["value"], channel=channel.id, user="U0LEAD")
        await eventually(lambda: _snoozed(second, incident.id or 0), what="the snooze")
        clock.now += timedelta(minutes=14)
        assert await second.reminders.run_due() == 0  # snoozed for 15 min
        clock.now += timedelta(minutes=2)
        assert await second.reminders.run_due() == 1


async def _snoozed(bot: BotRuntime, incident_id: int) -> bool:
    found = await bot.store.incident(incident_id)
    return bool(found and (found.reminder_state or {}).get("snoozed_until"))


async def test_an_event_acknowledged_before_a_crash_is_applied_after_the_restart(
    database_url: str, fake_slack: FakeSlack
) -> None:
    clock = Clock()
    async with make_bot(database_url, fake_slack, clock=clock) as first:
        incident, channel = await declare(first, fake_slack, "Latency")
        said = fake_slack.post(channel, "DB failover started", user="U0ONCALL2")
        # The bot stored the event and answered Slack, then died before applying it.
        message = {"type": "message", "user": "U0ONCALL2", "text": said.text, "ts": said.ts}
        pin = {
            "type": "pin_added",
            "user": "U0ONCALL1",
            "channel_id": channel.id,
            "item": {"type": "message", "channel": channel.id, "message": message},
        }
        assert await first.capture.first_delivery("EvCRASH1", pin)

    async with make_bot(database_url, fake_slack, clock=clock) as second:
        (pinned,) = await eventually(
            lambda: events_of(second, incident, "pinned_message"), what="the resumed event"
        )
        assert pinned.text == "DB failover started"
        await event(second, pin, event_id="EvCRASH1")  # Slack's retry changes nothing
        assert len(await events_of(second, incident, "pinned_message")) == 1


async def test_extra_roles_and_reminder_minutes_come_from_the_catalog(
    database_url: str, fake_slack: FakeSlack
) -> None:
    clock = Clock()
    catalog = {
        **CATALOG,
        "incident": {
            **CATALOG["incident"],
            "roles": ["liaison"],
            "status_update_minutes": {"sev3": 5},
        },
    }
    async with make_bot(database_url, fake_slack, catalog=catalog, clock=clock) as runtime:
        _, channel = await declare(runtime, fake_slack, "Latency --sev 3")
        await slash(runtime, "/incident", "lead <@U0LEAD>", channel=channel.id)
        assert "liaison" in await slash(
            runtime, "/incident", "role liaison <@U0ONCALL2>", channel=channel.id
        )
        assert "liaison" in await slash(runtime, "/incident", "help", channel=channel.id)
        clock.now += timedelta(minutes=4)
        assert await runtime.reminders.run_due() == 0
        clock.now += timedelta(minutes=2)
        assert await runtime.reminders.run_due() == 1
