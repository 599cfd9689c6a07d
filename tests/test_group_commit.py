"""Group commit: every 200 means committed, many bodies per transaction; and `kill -9` in a
burst loses no acknowledged notification and duplicates nothing. SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import re
import signal
from typing import Any

import aiohttp
import asyncpg
import pytest
from sqlmodel import select

from bot.core.alerts import Notification, parse_notification
from bot.runtime import BotRuntime
from bot.storage import group_commit
from bot.storage.db import make_engine
from bot.storage.models import Incident, WebhookDelivery
from bot.storage.store import IncidentStore
from bot.workers import intake
from standins.fake_slack import FakeSlack
from tests.support.alerts import alert, notification
from tests.support.bot_process import BotProcess
from tests.support.bots import WEBHOOK_TOKEN, running_bot
from tests.support.polling import eventually
from tests.support.realparts import POSTGRES_DSN, postgres_url_or_skip

AUTH = {"Authorization": f"Bearer {WEBHOOK_TOKEN}", "Content-Type": "application/json"}


def body(group: int, fp: int) -> bytes:
    return json.dumps(notification(alert(f"fp{fp}"), group=f"group-{group}")).encode()


async def post(session: aiohttp.ClientSession, url: str, data: bytes) -> tuple[int, Any]:
    async with session.post(url + "/webhooks/alertmanager", data=data, headers=AUTH) as r:
        return r.status, await r.json(content_type=None)


async def stored(store: IncidentStore) -> dict[int, str]:
    async with store.unit() as unit:
        rows = (await unit.session.exec(select(WebhookDelivery))).all()
    return {r.id: r.body for r in rows if r.id is not None}


async def test_200_concurrent_requests_each_answered_after_its_commit(bot: BotRuntime) -> None:
    await bot.background.stop()  # what we read was stored by the requests themselves
    bodies = [body(i % 7, i) for i in range(200)] + [body(99, 0)] * 20  # 20 identical
    async with aiohttp.ClientSession() as session:
        answers = await asyncio.gather(*(post(session, bot.url, b) for b in bodies))
        async with session.get(bot.url + "/metrics") as response:
            metrics = await response.text()
    commits = re.search(r"^incident_bot_webhook_commits_total (\S+)$", metrics, re.M)
    assert commits is not None, metrics
    assert [status for status, _ in answers] == [200] * 220
    rows = await stored(bot.store)
    for data, (_, answer) in zip(bodies, answers, strict=True):
        assert rows[answer["delivery"]] == data.decode()  # the 200 named a committed row
    assert len({answer["delivery"] for _, answer in answers[:200]}) == 200
    assert 200 < len(rows) <= 220
    assert 0 < float(commits.group(1)) < 200  # bodies that arrived together shared a commit


async def test_kill_9_in_a_burst_loses_no_acknowledged_notification(
    bot_process: BotProcess, fake_slack: FakeSlack, database_url: str
) -> None:
    await bot_process.start()
    acknowledged: dict[int, bytes] = {}
    bodies = [body(i % 20, i) for i in range(400)]
    gate = asyncio.Semaphore(32)

    async def one(session: aiohttp.ClientSession, data: bytes) -> None:
        async with gate:
            try:
                status, answer = await post(session, bot_process.url, data)
            except aiohttp.ClientError:
                return  # the bot died with this one in flight: not acknowledged
            if status == 200:
                acknowledged[answer["delivery"]] = data
                if len(acknowledged) == 150:
                    bot_process.kill()

    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(one(session, b) for b in bodies))
    assert await bot_process.exited() == -signal.SIGKILL
    assert 150 <= len(acknowledged) < 400

    await bot_process.start()
    engine = make_engine(database_url)
    try:
        store = IncidentStore(engine)
        rows = await stored(store)
        lost = [i for i, data in acknowledged.items() if rows.get(i) != data.decode()]
        assert lost == []
        await eventually(
            lambda: _all_done(store), timeout=120, what="every stored delivery processed"
        )
        found: list[Incident] = list(await store.incidents())
        groups = {json.loads(b)["groupKey"] for b in rows.values()}
        assert sorted(i.group_key or "" for i in found) == sorted(groups)  # one each
        names = [c.name for c in fake_slack.channels.values() if c.name.startswith("inc-")]
        assert len(names) == len(set(names)) == len(found)
        assert all(i.channel_id for i in found)
    finally:
        await engine.dispose()


async def _all_done(store: IncidentStore) -> bool:
    if await store.pending_delivery_ids() or await store.open_jobs():
        return False
    return all(i.channel_id for i in await store.incidents())


async def test_a_kept_connection_dropped_by_the_server_costs_no_request(
    fake_slack: FakeSlack,
) -> None:
    """PostgreSQL only: a SQLite file has no server to end the connection."""
    url = postgres_url_or_skip()
    admin = await asyncpg.connect(POSTGRES_DSN)
    try:
        await admin.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
    finally:
        await admin.close()
    async with running_bot(url, fake_slack) as bot, aiohttp.ClientSession() as session:
        await bot.background.stop()
        assert (await post(session, bot.url, body(1, 1)))[0] == 200
        admin = await asyncpg.connect(POSTGRES_DSN)
        try:
            ended = await admin.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        finally:
            await admin.close()
        assert ended >= 1
        status, answer = await post(session, bot.url, body(1, 2))
        assert status == 200, answer
        assert answer["delivery"] in await stored(bot.store)


async def test_a_repeated_body_waiting_to_be_processed_is_not_stored_again(
    bot: BotRuntime,
) -> None:
    await bot.background.stop()  # processing runs when the test says
    async with aiohttp.ClientSession() as session:
        first = await post(session, bot.url, body(1, 1))
        again = [await post(session, bot.url, body(1, 1)) for _ in range(3)]
        assert first[0] == 200
        assert again == [first] * 3  # the same stored delivery, named in the answer
        assert len(await stored(bot.store)) == 1

        newer = await post(session, bot.url, body(1, 2))  # the group moved on
        back = await post(session, bot.url, body(1, 1))  # then back: stored, in its order
        assert newer[1]["delivery"] < back[1]["delivery"]
        assert first[1]["delivery"] != back[1]["delivery"]

        bot.background.start()
        await eventually(lambda: _none_pending(bot.store), what="every delivery processed")
        after = await post(session, bot.url, body(1, 1))  # processed: a repeat counts again
        assert after[0] == 200
        assert after[1]["delivery"] not in (first[1]["delivery"], back[1]["delivery"])
    assert len(await stored(bot.store)) == 4


async def _none_pending(store: IncidentStore) -> bool:
    return not await store.pending_delivery_ids()


async def test_what_the_route_parsed_is_processed_without_parsing_the_body_again(
    bot: BotRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    await bot.background.stop()
    parsed_again: list[str] = []
    real = intake.parsed_or_none

    def counting(delivery_id: int, text: str) -> Notification | None:
        parsed_again.append(text)
        return real(delivery_id, text)

    monkeypatch.setattr(intake, "parsed_or_none", counting)
    bodies = [body(g, fp) for fp in range(3) for g in range(4)]  # each a new state
    async with aiohttp.ClientSession() as session:
        answers = [await post(session, bot.url, b) for b in bodies]
    assert {status for status, _ in answers} == {200}
    bot.background.start()
    await eventually(lambda: _none_pending(bot.store), what="every delivery processed")
    assert parsed_again == []
    async with bot.store.unit() as unit:
        incidents = (await unit.session.exec(select(Incident))).all()
    assert sorted(i.group_key for i in incidents) == [f"group-{g}" for g in range(4)]
    # Taken once: nothing is kept for a delivery once it has been processed.
    assert all(bot.group_commit.take_parsed(a["delivery"]) is None for _, a in answers)


async def test_parsed_notifications_are_kept_within_their_bound(
    bot: BotRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    await bot.background.stop()
    bodies = [body(1, fp) for fp in range(3)]
    monkeypatch.setattr(group_commit, "MAX_PARSED_CHARS", len(bodies[0]) * 2)
    async with aiohttp.ClientSession() as session:
        ids = [(await post(session, bot.url, b))[1]["delivery"] for b in bodies]
    kept = [bot.group_commit.take_parsed(i) for i in ids]
    assert kept[0] is None  # the oldest went first; processing parses its body again
    assert kept[1:] == [parse_notification(b) for b in bodies[1:]]
    assert [bot.group_commit.take_parsed(i) for i in ids] == [None] * 3  # taken once


async def test_a_large_body_is_parsed_again_rather_than_kept(
    bot: BotRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    await bot.background.stop()
    small, large = body(1, 1), body(2, 1)
    monkeypatch.setattr(group_commit, "MAX_PARSED_BODY", len(small))
    large = large.replace(b'"receiver"', b'"padding": "' + b"x" * len(small) + b'", "receiver"')
    async with aiohttp.ClientSession() as session:
        ids = [(await post(session, bot.url, b))[1]["delivery"] for b in (small, large)]
    assert bot.group_commit.take_parsed(ids[0]) == parse_notification(small)
    assert bot.group_commit.take_parsed(ids[1]) is None
