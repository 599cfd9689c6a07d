"""The live incident page: new events over server-sent events, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import re
import time
from html import unescape
from typing import Any

import aiohttp
import pytest

from bot.runtime import BotRuntime
from standins.fake_slack import FakeSlack
from tests.support.alerts import alert, notification, send
from tests.support.web_pages import PERSON, get, open_incident, web_bot

SECOND = 1.0  # the promise: a new event shows within a second


async def live_url(bot: BotRuntime, query: str = "") -> str:
    _, _, html = await get(bot, f"/incidents/1{query}", PERSON)
    found = re.search(r'data-live="([^"]+)"', html)
    assert found, "an open incident's page follows its timeline"
    return unescape(found.group(1))


async def next_event(
    response: aiohttp.ClientResponse, timeout: float, containing: str = ""
) -> dict[str, Any]:
    """The data of the next `timeline` server-sent event whose HTML contains `containing`."""
    async with asyncio.timeout(timeout):
        name, data = None, None
        while True:
            line = (await response.content.readline()).decode()
            assert line, "the stream ended"
            line = line.rstrip("\n")
            if line.startswith("event: "):
                name = line.removeprefix("event: ")
            elif line.startswith("data: "):
                data = line.removeprefix("data: ")
            elif line == "" and name == "timeline" and data is not None:
                parsed: dict[str, Any] = json.loads(data)
                if containing in parsed["html"]:
                    return parsed
                name, data = None, None


async def test_new_event_reaches_an_open_page_within_a_second(page_bot: BotRuntime) -> None:
    incident = await open_incident(page_bot)
    url = await live_url(page_bot)
    async with (
        aiohttp.ClientSession() as session,
        session.get(page_bot.url + url, headers=PERSON) as response,
    ):
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/event-stream")
        await response.content.readline()  # `retry:`: the stream is open
        started = time.monotonic()
        await page_bot.incidents.note(
            incident, "<b>DB pool</b> exhausted", actor="U0ONCALL1", key="n"
        )
        data = await next_event(response, timeout=5, containing="DB pool")
        took = time.monotonic() - started
    assert "&lt;b&gt;DB pool&lt;/b&gt; exhausted" in data["html"]  # escaped, as on the page
    assert 'name="csrf"' in data["html"]  # a signed-in person can curate it at once
    assert data["filter"] == "notes"
    assert data["phase"] in ("detection", "response")
    assert took < SECOND, f"the event took {took:.2f}s to reach the page"


async def test_filtered_page_only_gains_what_it_shows(page_bot: BotRuntime) -> None:
    incident = await open_incident(page_bot)
    url = await live_url(page_bot, "?kind=notes")
    async with (
        aiohttp.ClientSession() as session,
        session.get(page_bot.url + url, headers=PERSON) as response,
    ):
        await response.content.readline()
        assert await send(page_bot, notification(alert("a1"), alert("a2"))) == 200  # an alert row
        await page_bot.incidents.note(incident, "only this one", actor="U0ONCALL1", key="n1")
        data = await next_event(response, timeout=5)  # the first one sent
    assert "only this one" in data["html"]
    assert data["filter"] == "notes"


async def test_reconnect_resumes_after_the_last_event_seen(page_bot: BotRuntime) -> None:
    incident = await open_incident(page_bot)
    url = await live_url(page_bot)
    await page_bot.incidents.note(incident, "first", actor="U0ONCALL1", key="n1")
    await page_bot.incidents.note(incident, "second", actor="U0ONCALL1", key="n2")
    async with aiohttp.ClientSession() as session:
        async with session.get(page_bot.url + url, headers=PERSON) as response:
            first = await next_event(response, timeout=5, containing="first")
        headers = {**PERSON, "Last-Event-ID": str(first["id"])}
        async with session.get(page_bot.url + url, headers=headers) as response:
            second = await next_event(response, timeout=5)
    assert "second" in second["html"]


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_event_written_by_another_replica_reaches_the_page(
    database_url: str, fake_slack: FakeSlack
) -> None:
    """Two bots on one PostgreSQL database: the page on B hears of A's event by NOTIFY."""
    async with (
        web_bot(database_url, fake_slack) as replica_a,
        web_bot(database_url, fake_slack) as replica_b,
    ):
        assert replica_b.live.listening
        replica_b.live.poll = 30.0  # so only the NOTIFY can make it in time
        incident = await open_incident(replica_a)
        url = await live_url(replica_b)
        async with (
            aiohttp.ClientSession() as session,
            session.get(replica_b.url + url, headers=PERSON) as response,
        ):
            await response.content.readline()
            started = time.monotonic()
            await replica_a.incidents.note(incident, "from replica A", actor="U0LEAD", key="a")
            data = await next_event(response, timeout=5, containing="from replica A")
            took = time.monotonic() - started
    assert "from replica A" in data["html"]
    assert took < SECOND


async def test_resolved_incident_page_is_not_live(page_bot: BotRuntime) -> None:
    await open_incident(page_bot)
    await page_bot.store.update_incident(1, status="resolved")
    _, _, html = await get(page_bot, "/incidents/1", PERSON)
    assert "data-live" not in html
    status, _, text = await get(page_bot, "/incidents/1/live?after=x", PERSON)
    assert status == 400
    assert "after must be an event id" in text
