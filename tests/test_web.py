"""The HTTP surface: what Alertmanager, Slack, probes and scrapers get back."""

from __future__ import annotations

import io
import json
import time

import aiohttp
import pytest

from bot.runtime import BotRuntime
from standins.slack_requests import signed_headers
from tests.support.bots import SIGNING_SECRET, WEBHOOK_TOKEN
from tests.support.fixture_files import FIXTURES
from tests.support.stored_deliveries import deliveries

FIRING = (FIXTURES / "v4-firing-prometheus-2.42-am-0.25.json").read_bytes()
AUTH = {"Authorization": f"Bearer {WEBHOOK_TOKEN}", "Content-Type": "application/json"}


def _firing_with(**changes: object) -> bytes:
    payload = json.loads(FIRING)
    for path, value in changes.items():
        *parents, last = path.split("__")
        target = payload
        for key in parents:
            target = target[int(key)] if key.isdigit() else target[key]
        target[last] = value
    return json.dumps(payload).encode()


def _nested(depth: int) -> dict[str, object]:
    inner: dict[str, object] = {}
    for _ in range(depth):
        inner = {"x": inner}
    return inner


# Bodies that json.loads or the model used to accept and then crash on: each is a 400 now.
MALFORMED = {
    "nested-100000-deep": b"[" * 100_000 + b"]" * 100_000,
    "nested-40-deep-in-a-label": _firing_with(commonAnnotations=_nested(40)),
    "utf-16": FIRING.decode().encode("utf-16"),
    "utf-32": FIRING.decode().encode("utf-32"),
    "integer-over-4300-digits": FIRING[: FIRING.rindex(b"0")] + b"9" * 5000 + b"}",
    "date-past-year-9999-in-utc": _firing_with(alerts__0__startsAt="9999-12-31T23:59:59-12:00"),
    "not-utf-8": b'{"version": "4", "groupKey": "' + bytes([0xFF]) + b'"}',
}


async def post(
    bot: BotRuntime, path: str, body: bytes | str, headers: dict[str, str]
) -> tuple[int, dict]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            bot.url + path,
            data=io.BytesIO(body.encode() if isinstance(body, str) else body),
            headers=headers,
        ) as response,
    ):
        return response.status, await response.json(content_type=None)


@pytest.mark.parametrize(
    ("headers", "body", "status", "error"),
    [
        ({}, FIRING, 401, "unauthorized"),
        ({"Authorization": "Bearer wrong"}, FIRING, 401, "unauthorized"),
        ({"Authorization": f"Basic {WEBHOOK_TOKEN}"}, FIRING, 401, "unauthorized"),
        (AUTH, b"{nope", 400, "bad_payload"),
        (AUTH, b'{"version": "4", "status": "firing"}', 400, "bad_payload"),
        (AUTH, b"x" * (1024 * 1024 + 1), 413, "too_large"),
    ],
    ids=["no-token", "wrong-token", "basic-auth", "not-json", "no-group-key", "over-1MiB"],
)
async def test_webhook_refuses_bad_requests_and_stores_nothing(
    bot: BotRuntime, headers: dict[str, str], body: bytes, status: int, error: str
) -> None:
    code, answer = await post(bot, "/webhooks/alertmanager", body, headers)
    assert (code, answer["error"]) == (status, error)
    assert answer["detail"]
    assert await deliveries(bot) == []


@pytest.mark.parametrize("body", MALFORMED.values(), ids=MALFORMED.keys())
async def test_malformed_bodies_are_400_never_500_and_store_nothing(
    bot: BotRuntime, body: bytes
) -> None:
    code, answer = await post(bot, "/webhooks/alertmanager", body, AUTH)
    assert (code, answer["error"]) == (400, "bad_payload"), answer
    assert answer["detail"]
    assert await deliveries(bot) == []


async def test_a_utf8_byte_order_mark_is_accepted(bot: BotRuntime) -> None:
    await bot.background.stop()
    code, _ = await post(bot, "/webhooks/alertmanager", b"\xef\xbb\xbf" + FIRING, AUTH)
    assert code == 200
    (row,) = await deliveries(bot)
    assert json.loads(row.body) == json.loads(FIRING)


async def test_webhook_stores_the_body_before_answering(bot: BotRuntime) -> None:
    await bot.background.stop()  # nothing processes it: what we see was stored by the handler
    code, answer = await post(bot, "/webhooks/alertmanager", FIRING, AUTH)
    assert code == 200
    assert answer["status"] == "accepted"
    (row,) = await deliveries(bot)
    assert row.id == answer["delivery"]
    assert json.loads(row.body) == json.loads(FIRING)
    assert row.processed_at is None


async def test_probes_and_metrics(bot: BotRuntime) -> None:
    await post(bot, "/webhooks/alertmanager", FIRING, AUTH)
    await post(bot, "/webhooks/alertmanager", FIRING, {})
    async with aiohttp.ClientSession() as session:
        async with session.get(bot.url + "/healthz") as r:
            assert (r.status, await r.json()) == (200, {"status": "ok"})
        async with session.get(bot.url + "/readyz") as r:
            assert (r.status, await r.json()) == (200, {"status": "ready"})
        async with session.get(bot.url + "/metrics") as r:
            text = await r.text()
    assert "incident_bot_webhooks_received_total 1.0" in text
    assert 'incident_bot_webhooks_rejected_total{reason="unauthorized"} 1.0' in text


async def test_unknown_route_is_json_404(bot: BotRuntime) -> None:
    async with aiohttp.ClientSession() as session, session.get(bot.url + "/nope") as r:
        assert r.status == 404
        assert (await r.json())["error"] == "not_found"


async def test_slack_url_verification_needs_a_valid_fresh_signature(bot: BotRuntime) -> None:
    body = json.dumps({"type": "url_verification", "challenge": "c-123", "token": "x"})
    code, answer = await post(bot, "/slack/events", body, signed_headers(SIGNING_SECRET, body))
    assert (code, answer) == (200, {"challenge": "c-123"})

    forged = signed_headers("not-the-secret", body)
    async with aiohttp.ClientSession() as session:
        async with session.post(bot.url + "/slack/events", data=body, headers=forged) as r:
            assert r.status == 401
        stale = signed_headers(SIGNING_SECRET, body, timestamp=int(time.time()) - 301)
        async with session.post(bot.url + "/slack/events", data=body, headers=stale) as r:
            assert r.status == 401
