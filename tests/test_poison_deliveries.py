"""Deliveries that used to stop all intake: each is followed by valid ones, which must open
their incidents; content is cleaned, never a reason to lose an alert; a delivery that keeps
failing is parked, shown, and replayable. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import copy
import dataclasses
from datetime import datetime
from typing import Any

import aiohttp
import pytest
from click.testing import CliRunner

from bot.cli import main
from bot.clock import system_clock
from bot.runtime import BotRuntime
from bot.storage.models import Incident
from bot.storage.store import Unit
from standins.fake_slack import FakeSlack
from tests.support.alerts import alert, incidents, notification, send, settled, wait_settled
from tests.support.bots import CATALOG, FAST, Clock, running_bot
from tests.support.polling import eventually

VALID_GROUPS = ("search", "checkout")


def for_service(service: str, fp: str) -> dict[str, Any]:
    one = alert(fp)
    one["labels"] = {**one["labels"], "service": service}
    payload = notification(one, group=f'{{}}:{{service="{service}"}}')
    payload["commonLabels"] = {**payload["commonLabels"], "service": service}
    return payload


def with_label(name: str, value: str) -> dict[str, Any]:
    one = alert("p1")
    one["labels"] = {**one["labels"], name: value}
    payload = notification(one, group="poison-group")
    payload["commonLabels"] = {**payload["commonLabels"], name: value}
    return payload


def with_group_key(key: str) -> dict[str, Any]:
    return notification(alert("p1"), group=key)


POISONS: dict[str, dict[str, Any]] = {
    "same-fingerprint-twice": notification(alert("p1"), alert("p1"), group="poison-group"),
    "lone-surrogate-in-service": with_label("service", "pay\ud800ments"),
    "nul-in-a-label": with_label("pod", "web\x00-1"),
    "escape-sequence-in-a-label": with_label("pod", "\x1b[31mred\x1b[0m"),
    "nul-in-group-key": with_group_key('{}:{service="a\x00b"}'),
    "lone-surrogate-in-group-key": with_group_key('{}:{service="\udc80"}'),
}


@pytest.mark.parametrize("poison", POISONS.values(), ids=POISONS.keys())
async def test_poison_content_is_cleaned_and_the_deliveries_after_it_open_incidents(
    bot: BotRuntime, fake_slack: FakeSlack, poison: dict[str, Any]
) -> None:
    assert await send(bot, poison) == 200
    for i, service in enumerate(VALID_GROUPS):
        assert await send(bot, for_service(service, f"v{i}")) == 200
    await wait_settled(bot)

    found = await incidents(bot)
    assert len(found) == 3
    assert all(i.channel_id is not None for i in found)
    assert {i.service for i in found[1:]} == set(VALID_GROUPS)
    poisoned = found[0]
    for text in (poisoned.title, poisoned.service or ""):
        assert "\x00" not in text
        assert "\x1b" not in text
        text.encode()  # no lone surrogate left: UTF-8 can encode it
    assert await bot.intake.queue.listing(failed_only=True) == []

    # The group key round-trips: the same group's next notification joins the same incident.
    again = copy.deepcopy(poison)
    again["alerts"].append(alert("p2"))
    assert await send(bot, again) == 200
    await wait_settled(bot)
    assert len(await incidents(bot)) == 3
    channel = fake_slack.channels[poisoned.channel_id or ""]
    assert any("New alert HighErrorRate firing" in m.text for m in channel.messages)


async def test_lone_surrogate_becomes_a_replacement_character(bot: BotRuntime) -> None:
    await send(bot, POISONS["lone-surrogate-in-service"])
    await wait_settled(bot)
    (incident,) = await incidents(bot)
    assert incident.service == "pay\ufffdments"


async def test_a_delivery_that_keeps_failing_is_parked_shown_and_replayable(
    database_url: str, fake_slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    tuning = dataclasses.replace(FAST, delivery_attempts=3)
    clock = RealClock()  # retries become due as real time passes
    async with running_bot(
        database_url, fake_slack, catalog=CATALOG, tuning=tuning, clock=clock
    ) as bot:
        latest = Unit.latest_incident  # the first read of applying an alert group

        async def buggy(unit: Unit, group_key: str) -> Incident | None:
            if group_key == "poison-group":
                raise RuntimeError("a bug meets this payload")
            return await latest(unit, group_key)

        monkeypatch.setattr(Unit, "latest_incident", buggy)
        assert await send(bot, notification(alert("p1"), group="poison-group")) == 200
        assert await send(bot, for_service("search", "v1")) == 200

        # The valid group does not wait for the failing one.
        (valid,) = await eventually(lambda: incidents(bot), what="the valid group's incident")
        assert valid.service == "search"
        (parked,) = await eventually(
            lambda: bot.intake.queue.listing(failed_only=True), what="the poison parked"
        )
        assert parked.attempts == 3
        assert parked.last_error == "RuntimeError: a bug meets this payload"
        await eventually(lambda: settled(bot), what="everything else done")

        async def queue_gauges_observed() -> str | None:
            # The gauges follow the queue at the end of a processing pass, a moment after
            # the failure is committed: the page is read until it shows the parked one.
            text = await scrape(bot)
            shown = "incident_bot_deliveries_parked 1.0" in text
            return text if shown and "incident_bot_deliveries_pending 0.0" in text else None

        metrics = await eventually(queue_gauges_observed, what="the parked delivery in /metrics")
        assert "incident_bot_deliveries_failed_total 1.0" in metrics

        env = {"DATABASE_URL": database_url}
        listed = await cli(env, "deliveries", "--failed")
        assert listed.exit_code == 0, listed.output
        header, row = listed.output.splitlines()
        assert header.split("\t")[:4] == ["ID", "RECEIVED", "STATE", "ATTEMPTS"]
        assert row.split("\t")[0] == str(parked.id)
        assert row.split("\t")[2:5] == ["failed", "3", "poison-group"]
        assert row.endswith("RuntimeError: a bug meets this payload")

        monkeypatch.setattr(Unit, "latest_incident", latest)  # the fix is deployed
        replayed = await cli(env, "deliveries", "--retry", str(parked.id))
        assert replayed.exit_code == 0, replayed.output
        assert f"delivery {parked.id} is queued again" in replayed.output
        found = await eventually(
            lambda: _two(bot), what="the replayed delivery to open its incident"
        )
        assert {i.group_key for i in found} == {"poison-group", '{}:{service="search"}'}
        assert (await cli(env, "deliveries", "--failed")).output == "no failed deliveries\n"
        again = await cli(env, "deliveries", "--retry", str(parked.id))
        assert again.exit_code == 1
        assert "is not parked as failed" in again.output


class RealClock(Clock):
    def __call__(self) -> datetime:
        return system_clock()


async def _two(bot: BotRuntime) -> list[Any]:
    found = await incidents(bot)
    return found if len(found) == 2 and all(i.channel_id for i in found) else []


async def scrape(bot: BotRuntime) -> str:
    async with aiohttp.ClientSession() as session, session.get(bot.url + "/metrics") as r:
        return await r.text()


async def cli(env: dict[str, str], *args: str) -> Any:
    return await asyncio.to_thread(CliRunner().invoke, main, list(args), env=env)
