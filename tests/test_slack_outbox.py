"""The Slack outbox runs incidents side by side: a slow answer for one holds no other back."""

from __future__ import annotations

import asyncio

from bot.runtime import BotRuntime
from standins.fake_slack import FakeSlack
from tests.support.alerts import alert, incidents, notification, send, wait_settled
from tests.support.polling import eventually


async def test_a_slow_slack_answer_for_one_incident_holds_back_no_other(
    bot: BotRuntime, fake_slack: FakeSlack
) -> None:
    release = asyncio.Event()
    # The first channel Slack creates is not answered until the test says so.
    fake_slack.after_call("conversations.create", release.wait)
    assert await send(bot, notification(alert("a1"), group="group-a")) == 200
    await eventually(
        lambda: _named(fake_slack, "inc-"), what="the first incident's channel being created"
    )
    assert await send(bot, notification(alert("b1"), group="group-b")) == 200

    async def second_open() -> bool:
        opened = {i.group_key: i.channel_id for i in await incidents(bot)}
        return opened.get("group-b") is not None

    await eventually(second_open, what="the second incident's channel, while the first waits")
    first = {i.group_key: i for i in await incidents(bot)}["group-a"]
    assert first.channel_id is None  # still waiting for Slack's answer

    release.set()
    await wait_settled(bot)
    opened = await incidents(bot)
    assert len(opened) == 2
    assert all(i.channel_id for i in opened)
    assert len({i.channel_id for i in opened}) == 2  # one channel each, none twice


async def _named(fake_slack: FakeSlack, prefix: str) -> bool:
    return any(c.name.startswith(prefix) for c in fake_slack.channels.values())
