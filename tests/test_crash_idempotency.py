"""Slack side effects once, across `kill -9` and SIGTERM between a Slack call and the database
write that records it: a hook in the fake Slack stops the real `incident-bot serve` process
as Slack carries out the call, before the bot hears the answer. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import signal
import time

import aiohttp
import pytest

from bot.runtime import BotRuntime
from bot.storage.models import Incident
from bot.storage.store import IncidentStore
from standins.fake_slack import FakeSlack
from tests.support.alerts import T0, alert, notification
from tests.support.bot_process import BotProcess
from tests.support.bots import WEBHOOK_TOKEN
from tests.support.polling import eventually

NAME = f"inc-{T0:%Y%m%d}-payments-higherrorrate"


async def send(bot: BotProcess) -> int:
    return await post_alert(bot.url)


async def post_alert(url: str) -> int:
    headers = {"Authorization": f"Bearer {WEBHOOK_TOKEN}"}
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            url + "/webhooks/alertmanager", json=notification(alert("a1")), headers=headers
        ) as response,
    ):
        return response.status


async def opened(store: IncidentStore) -> Incident | None:
    """The incident once its channel, pinned alert and digest line are all recorded."""
    found = await store.incident(1)
    if found is None or not (found.channel_id and found.alert_message_ts and found.digest_ts):
        return None
    return found if not await store.open_jobs() else None


async def assert_once(store: IncidentStore, fake_slack: FakeSlack, bot: BotProcess) -> None:
    incident = await eventually(lambda: opened(store), timeout=60, what="the incident opened")
    ours = [c for c in fake_slack.channels.values() if c.name.startswith(NAME)]
    assert [c.name for c in ours] == [NAME], bot.log()[-3000:]
    (channel,) = ours
    assert incident.channel_id == channel.id
    (message,) = channel.messages
    assert channel.pins == {message.ts}
    assert incident.alert_message_ts == message.ts
    digest = fake_slack.channel_by_name("incidents")
    assert digest is not None
    (line,) = digest.messages
    assert incident.digest_ts == line.ts
    kinds = [e.kind for e in await store.timeline(1)]
    assert kinds.count("channel_opened") == 1


CRASH_POINTS = {
    "after-conversations.create": ("conversations.create", 1),
    "after-posting-the-alert": ("chat.postMessage", 1),
    "after-posting-the-digest-line": ("chat.postMessage", 2),
}


@pytest.mark.parametrize(("method", "nth"), CRASH_POINTS.values(), ids=CRASH_POINTS.keys())
async def test_kill_9_between_a_slack_call_and_its_record_repeats_nothing(
    bot_process: BotProcess, fake_slack: FakeSlack, store: IncidentStore, method: str, nth: int
) -> None:
    await bot_process.start()
    fake_slack.after_call(method, bot_process.kill, nth=nth)
    assert await send(bot_process) == 200
    assert await bot_process.exited() == -signal.SIGKILL
    assert len(fake_slack.calls_to(method)) == nth  # Slack did it; the bot never heard

    await bot_process.start()
    await assert_once(store, fake_slack, bot_process)


async def test_sigterm_finishes_the_step_in_flight_and_leaves_nothing_waiting(
    bot_process: BotProcess, fake_slack: FakeSlack, store: IncidentStore
) -> None:
    await bot_process.start()
    fake_slack.after_call("conversations.create", lambda: bot_process.signal(signal.SIGTERM))
    assert await send(bot_process) == 200
    assert await bot_process.exited() == 0
    incident = await store.incident(1)
    assert incident is not None
    assert incident.channel_id is not None  # the answer in flight was recorded before exiting

    await bot_process.start()
    await assert_once(store, fake_slack, bot_process)


async def test_a_step_slower_than_the_grace_period_gives_its_claim_back(
    bot_process: BotProcess, fake_slack: FakeSlack, store: IncidentStore
) -> None:
    await bot_process.start()

    async def stop_then_answer_late() -> None:
        bot_process.signal(signal.SIGTERM)
        await bot_process.exited()  # Slack answers only after the bot gave up waiting

    fake_slack.after_call("conversations.create", stop_then_answer_late)
    assert await send(bot_process) == 200
    await eventually(lambda: _exited(bot_process), timeout=30, what="the bot to exit")
    (job,) = await store.open_jobs()
    assert job.lease_until is None  # released, not left for its two-minute lease

    started = time.monotonic()
    await bot_process.start()
    await assert_once(store, fake_slack, bot_process)
    assert time.monotonic() - started < 60


async def _exited(bot: BotProcess) -> bool:
    await asyncio.sleep(0)
    return bot.process is not None and bot.process.returncode is not None


async def _with_channel(bot: BotRuntime) -> list[Incident]:
    found = [i for i in await bot.store.incidents() if i.channel_id]
    return found if found and not await bot.store.open_jobs() else []


async def test_a_retry_adopts_the_bots_own_unrecorded_channel(
    bot: BotRuntime, fake_slack: FakeSlack
) -> None:
    lost = fake_slack.add_channel(NAME)  # what a crash after conversations.create leaves
    fake_slack.fail_next("conversations.create", status=503, count=3)  # so the job retries
    assert await post_alert(bot.url) == 200
    (incident,) = await eventually(lambda: _with_channel(bot), what="the channel opened")
    assert incident.channel_id == lost.id
    assert [c.name for c in fake_slack.channels.values() if c.name.startswith(NAME)] == [NAME]


async def test_a_retry_never_adopts_the_channel_another_incident_is_opening(
    bot: BotRuntime, fake_slack: FakeSlack
) -> None:
    # Another incident of the same service and alert has just created its channel: the
    # bot's own, no purpose yet, not yet recorded. A retry of ours must not take it for
    # the one it lost (after a kill -9 in a burst, three incidents once shared a room).
    other = await bot.store.save(
        Incident(
            title="Error rate above 5% on payments",
            service="payments",
            started_at=T0,
            detected_at=T0,
            channel_reserved=NAME,  # as its channel step holds it before asking Slack
        )
    )
    theirs = fake_slack.add_channel(NAME)
    fake_slack.fail_next("conversations.create", status=503, count=3)  # ours retries
    assert await post_alert(bot.url) == 200
    found = await eventually(lambda: _with_channel(bot), what="our channel opened")
    (ours,) = [i for i in found if i.id != other.id]
    assert ours.channel_id != theirs.id
    assert ours.channel_name == f"{NAME}-2"
    other_now = await bot.store.incident(other.id or 0)
    assert other_now is not None
    assert other_now.channel_id is None


async def test_a_lookup_slack_refuses_does_not_fail_the_step(
    bot: BotRuntime, fake_slack: FakeSlack
) -> None:
    fake_slack.add_channel(NAME)
    fake_slack.fail_next("conversations.create", status=503, count=3)
    fake_slack.fail_next("conversations.list", status=200, error="missing_scope")
    assert await post_alert(bot.url) == 200
    (incident,) = await eventually(lambda: _with_channel(bot), what="the channel opened")
    assert incident.channel_name == f"{NAME}-2"  # as before adoption existed
