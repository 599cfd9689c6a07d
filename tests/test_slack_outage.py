"""A Slack outage longer than a minute: one timeline row when it starts to matter, one when
the messages went out, not one per retry. The decisions as a table; then end to end on the
fake Slack (SQLite and PostgreSQL) with a clock the test moves."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from bot.core.slack_outage import delivered_note, unreachable_note
from bot.runtime import BotRuntime
from standins.fake_slack import FakeSlack
from tests.support.alerts import alert, notification, send, timeline, wait_settled
from tests.support.bots import CATALOG, Clock, running_bot
from tests.support.polling import eventually

SINCE = datetime(2026, 11, 26, 9, 0, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    ("after", "text"),
    [
        (timedelta(seconds=59), None),
        (timedelta(seconds=60), "Slack unreachable since 2026-11-26T09:00:05Z, 3 messages waiting"),
        (timedelta(hours=2), "Slack unreachable since 2026-11-26T09:00:05Z, 3 messages waiting"),
    ],
)
def test_unreachable_note(after: timedelta, text: str | None) -> None:
    note = unreachable_note(7, SINCE, SINCE + after, 3)
    assert (note.text if note else None) == text
    if note is not None:  # the same outage always has the same key: one row
        assert note.source_key == unreachable_note(7, SINCE, SINCE + 2 * after, 1).source_key


@pytest.mark.parametrize(
    ("after", "text"),
    [
        (timedelta(seconds=5), None),
        (
            timedelta(minutes=3, seconds=12),
            "Slack reachable again: messages delivered after 3m 12s "
            "(unreachable since 2026-11-26T09:00:05Z)",
        ),
    ],
)
def test_delivered_note(after: timedelta, text: str | None) -> None:
    note = delivered_note(7, SINCE, SINCE + after)
    assert (note.text if note else None) == text


async def failed_calls(fake_slack: FakeSlack, count: int) -> bool:
    return sum(1 for c in fake_slack.calls if c.status >= 500) >= count


async def attempt_recorded(bot: BotRuntime) -> bool:
    """The bot has recorded its last failed attempt: the job is free again, due later."""
    jobs = await bot.store.open_jobs()
    return bool(jobs) and all(j.lease_until is None and j.last_error for j in jobs)


async def kinds(bot: BotRuntime) -> list[str]:
    return [e.kind for e in await timeline(bot, 1)]


async def test_an_outage_over_a_minute_is_one_row_and_its_end_another(
    database_url: str, fake_slack: FakeSlack
) -> None:
    clock = Clock()
    async with running_bot(database_url, fake_slack, catalog=CATALOG, clock=clock) as bot:
        fake_slack.set_outage(True, status=503)
        started = clock.now
        assert await send(bot, notification(alert("a1"))) == 200
        await eventually(lambda: failed_calls(fake_slack, 3), what="a first failed attempt")
        for minutes in (0.5, 1.5, 3, 4):  # retries, each due once the clock moves past it
            # The clock moves only once the bot has recorded the failed attempt: recorded
            # after the move, its retry would be due after the new time, which stands still.
            await eventually(lambda: attempt_recorded(bot), what="the attempt recorded")
            seen = len(fake_slack.calls)
            clock.now = started + timedelta(minutes=minutes)
            await eventually(lambda s=seen: failed_calls(fake_slack, s + 1), what="a retry")
        await eventually(lambda: _has(bot, "slack_unreachable"), what="the unreachable row")
        fake_slack.set_outage(False)
        clock.now = started + timedelta(minutes=6)
        await wait_settled(bot)

        found = await kinds(bot)
        assert found.count("slack_unreachable") == 1
        assert found.count("slack_delivered") == 1
        events = {e.kind: e for e in await timeline(bot, 1)}
        stamp = started.isoformat(timespec="seconds").replace("+00:00", "Z")
        assert events["slack_unreachable"].text == (
            f"Slack unreachable since {stamp}, 1 messages waiting"
        )
        # 4 to 6 minutes: an in-place retry of the last attempt may already go through.
        assert re.match(
            r"Slack reachable again: messages delivered after [4-6]m",
            events["slack_delivered"].text,
        )


async def _has(bot: BotRuntime, kind: str) -> bool:
    return kind in await kinds(bot)
