"""Bodies read whole up to MAX_BODY_BYTES, however they arrive; a 1,500-alert group gets
one summary message and a timeline row per alert. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import aiohttp

from bot.runtime import BotRuntime
from standins.fake_slack import FakeSlack
from standins.slack_requests import signed_headers
from tests.support.alerts import T0, alert, incidents, notification, settled, timeline
from tests.support.bots import SIGNING_SECRET, WEBHOOK_TOKEN
from tests.support.polling import eventually
from tests.support.stored_deliveries import deliveries

AUTH = {"Authorization": f"Bearer {WEBHOOK_TOKEN}", "Content-Type": "application/json"}
LIMIT = 1024 * 1024
CHUNK = 4096


async def chunks(body: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(body), CHUNK):
        yield body[start : start + CHUNK]


async def post_chunked(
    bot: BotRuntime, path: str, body: bytes, headers: dict[str, str]
) -> tuple[int, dict[str, Any]]:
    """Transfer-Encoding: chunked, 4 KiB at a time: no Content-Length to trust."""
    async with (
        aiohttp.ClientSession() as session,
        session.post(bot.url + path, data=chunks(body), headers=headers) as response,
    ):
        return response.status, await response.json(content_type=None)


def padded_to(size: int) -> bytes:
    """A valid notification of exactly `size` bytes (padding in an annotation)."""
    payload = notification(alert("a1"))
    payload["commonAnnotations"]["padding"] = ""
    base = len(json.dumps(payload).encode())
    payload["commonAnnotations"]["padding"] = "p" * (size - base)
    body = json.dumps(payload).encode()
    assert len(body) == size
    return body


async def test_a_chunked_body_just_under_the_limit_is_read_whole(bot: BotRuntime) -> None:
    await bot.background.stop()
    body = padded_to(LIMIT)
    code, answer = await post_chunked(bot, "/webhooks/alertmanager", body, AUTH)
    assert (code, answer["status"]) == (200, "accepted")
    (row,) = await deliveries(bot)
    assert row.body.encode() == body


async def test_a_chunked_body_just_over_the_limit_is_413(bot: BotRuntime) -> None:
    code, answer = await post_chunked(bot, "/webhooks/alertmanager", padded_to(LIMIT + 1), AUTH)
    assert (code, answer["error"]) == (413, "too_large")
    assert await deliveries(bot) == []


async def test_slack_events_read_a_chunked_body_whole(bot: BotRuntime) -> None:
    body = json.dumps({"type": "url_verification", "challenge": "c-" + "x" * 50_000, "token": "x"})
    headers = signed_headers(SIGNING_SECRET, body)
    code, answer = await post_chunked(bot, "/slack/events", body.encode(), headers)
    assert (code, answer) == (200, {"challenge": "c-" + "x" * 50_000})
    over = body + " " * (LIMIT - len(body) + 1)
    code, answer = await post_chunked(
        bot, "/slack/events", over.encode(), signed_headers(SIGNING_SECRET, over)
    )
    assert (code, answer["error"]) == (413, "too_large")


def node_alert(i: int, status: str = "firing") -> dict[str, Any]:
    ended = T0 + timedelta(minutes=2) if status == "resolved" else None
    one = alert(f"{i:016x}", status, ends=ended)
    one["labels"] = {
        "alertname": "NodeDown",
        "service": "payments",
        "pool": "batch",
        "node": f"node-{i:04d}",
    }
    return one


def pool_group(status: str) -> bytes:
    payload = notification(*(node_alert(i, status) for i in range(1500)), group="pool-batch")
    payload["commonLabels"] = {"alertname": "NodeDown", "service": "payments", "pool": "batch"}
    return json.dumps(payload).encode()


async def test_a_1500_alert_group_gets_one_summary_and_every_timeline_row(
    bot: BotRuntime, fake_slack: FakeSlack
) -> None:
    code, _ = await post_chunked(bot, "/webhooks/alertmanager", pool_group("firing"), AUTH)
    assert code == 200
    await eventually(lambda: settled(bot), timeout=120, what="the firing group processed")
    code, _ = await post_chunked(bot, "/webhooks/alertmanager", pool_group("resolved"), AUTH)
    assert code == 200
    await eventually(lambda: settled(bot), timeout=120, what="the resolutions processed")

    (incident,) = await incidents(bot)
    assert incident.status == "monitoring"
    channel = fake_slack.channels[incident.channel_id or ""]
    _alert_message, summary = channel.messages  # accepted by a fake as strict as Slack
    assert summary.blocks is not None
    assert summary.blocks[0]["text"]["text"] == "1,500 alert changes: 1,500 resolved"
    assert "All alerts of this group resolved" in summary.text
    rendered = json.dumps(summary.blocks)
    assert "`node`, 1,500 values" in rendered
    assert "NodeDown: 1,500 resolved" in rendered
    kinds = [e.kind for e in await timeline(bot, incident.id or 0)]
    assert kinds.count("alert_firing") == 1500
    assert kinds.count("alert_resolved") == 1500
