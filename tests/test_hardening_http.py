"""What an attacker sends the bot's HTTP surface, and what comes out: status and log lines."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import io
import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest
import structlog

from bot.logs import configure_logging
from bot.runtime import BotRuntime
from standins.fake_slack import FakeSlack
from standins.slack_requests import signed_headers
from tests.support.alerts import alert, notification, send
from tests.support.bots import SIGNING_SECRET
from tests.support.polling import eventually

FORGED = (
    '\n{"event": "rollback confirmed", "logger": "incident_bot.audit", "user": "U0BOSS"}\n'
    + "filler" * 2000
)


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    levels = {n: logging.getLogger(n).level for n in ("slack_bolt", "slack_sdk", "alembic")}
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, old in levels.items():
        logging.getLogger(name).setLevel(old)
    structlog.reset_defaults()


def test_every_line_is_json_whoever_logs_it(
    capsys: pytest.CaptureFixture[str], restore_logging: None
) -> None:
    configure_logging("info", "json")
    structlog.get_logger("bot").info("incident opened", incident="INC-1")
    logging.getLogger("alembic.runtime.migration").info("Context impl SQLiteImpl.")
    logging.getLogger("alembic.runtime.migration").warning("a migration warning")
    logging.getLogger("slack_bolt.App").info("Received request body: " + FORGED)
    logging.getLogger("slack_sdk.http_retry").info("A retry handler found: ...")
    logging.getLogger("aiohttp.server").error("line one\n%s", FORGED)
    lines = capsys.readouterr().err.splitlines()
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    events = [r["event"] for r in records]
    assert events[0] == "incident opened" and records[0]["incident"] == "INC-1"
    assert "a migration warning" in events
    assert not any("Context impl" in e or "Received request body" in e for e in events)
    assert not any("retry handler" in e for e in events)  # slack-sdk's attempts: debug only
    forged = next(r for r in records if r["event"].startswith("line one"))
    assert forged["logger"] == "aiohttp.server" and forged["level"] == "error"
    assert all(r["level"] in ("info", "warning", "error") for r in records)


def test_debug_level_shows_the_libraries_again(
    capsys: pytest.CaptureFixture[str], restore_logging: None
) -> None:
    configure_logging("debug", "json")
    logging.getLogger("slack_sdk.http_retry").debug("A retry handler found: ...")
    (record,) = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert record["level"] == "debug" and record["logger"] == "slack_sdk.http_retry"


async def _post(bot: BotRuntime, body: bytes, headers: dict[str, str]) -> tuple[int, dict]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(bot.url + "/slack/events", data=io.BytesIO(body), headers=headers) as response,
    ):
        return response.status, await response.json(content_type=None)


def _signed(body: bytes, *, secret: str = SIGNING_SECRET, age: int = 0) -> dict[str, str]:
    ts = str(int(time.time()) - age)
    digest = hmac.new(secret.encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256)
    return {
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": f"v0={digest.hexdigest()}",
        "Content-Type": "application/json",
    }


UNSIGNED = {
    "no signature": {"Content-Type": "application/json"},
    "wrong secret": _signed(b"{}", secret="not-the-secret"),
    "timestamp not a number": {"X-Slack-Request-Timestamp": "soon", "X-Slack-Signature": "v0=1"},
    "non-ascii signature": {"X-Slack-Request-Timestamp": "1", "X-Slack-Signature": "v0=é"},
}


@pytest.mark.parametrize("headers", UNSIGNED.values(), ids=UNSIGNED.keys())
@pytest.mark.parametrize(
    "body",
    [FORGED.encode(), b"[" * 100_000 + b"]" * 100_000, b"\xff\xfe payload=\x00"],
    ids=["forged-log-line", "nested-100000-deep", "not-utf-8"],
)
async def test_unsigned_requests_are_401_before_parsing_and_never_logged(
    bot: BotRuntime,
    headers: dict[str, str],
    body: bytes,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    status, answer = await _post(bot, body, headers)
    assert (status, answer["error"]) == (401, "invalid_signature")
    logged = caplog.text + capsys.readouterr().err
    assert "filler" not in logged and "rollback confirmed" not in logged


async def test_a_stale_signature_is_refused(bot: BotRuntime) -> None:
    status, answer = await _post(bot, b"{}", _signed(b"{}", age=6 * 60))
    assert (status, answer["error"]) == (401, "invalid_signature")


@pytest.mark.parametrize(
    "body",
    [b"[" * 100_000 + b"]" * 100_000, b'{"type": "event_callback", "x": "\xff"}'],
    ids=["nested-100000-deep", "not-utf-8"],
)
async def test_signed_garbage_is_400_not_500(bot: BotRuntime, body: bytes) -> None:
    status, answer = await _post(bot, body, _signed(body))
    # slack-sdk's verifier reads the body as UTF-8, so bytes that are not count as unsigned.
    expected = (401, "invalid_signature") if b"\xff" in body else (400, "bad_payload")
    assert (status, answer["error"]) == expected, answer
    assert answer["detail"]


async def _raw_request(url: str, request: bytes) -> bytes:
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    writer.write(request)
    await writer.drain()
    answer = await reader.read(65536)
    writer.close()
    await writer.wait_closed()
    return answer


@pytest.mark.parametrize("path", ["/webhooks/alertmanager", "/api/v1/incidents", "/slack/events"])
async def test_a_non_utf8_authorization_header_is_refused_not_a_500(
    bot: BotRuntime, path: str
) -> None:
    body = b"{}"
    method = b"GET" if path.startswith("/api") else b"POST"
    request = (
        method + b" " + path.encode() + b" HTTP/1.1\r\nHost: bot\r\n"
        b"Authorization: Bearer \xff\xfe\xc3(\r\n"
        b"X-Slack-Signature: v0=\xff\xfe\r\nX-Slack-Request-Timestamp: 1\r\n"
        b"Content-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n" + body
    )
    answer = await _raw_request(bot.url, request)
    status_line = answer.split(b"\r\n", 1)[0]
    assert status_line.split(b" ")[1] in (b"400", b"401", b"404"), status_line
    assert b'"error"' in answer


async def test_a_signed_request_still_works(bot: BotRuntime) -> None:
    body = json.dumps({"type": "url_verification", "challenge": "abc"})
    status, answer = await _post(bot, body.encode(), signed_headers(SIGNING_SECRET, body))
    assert status == 200 and answer == {"challenge": "abc"}


async def test_a_slack_job_log_line_names_its_incident_and_a_readable_error(
    bot: BotRuntime,
    fake_slack: FakeSlack,
    capsys: pytest.CaptureFixture[str],
    restore_logging: None,
) -> None:
    configure_logging("info", "json")
    fake_slack.set_outage(True, status=503)
    assert await send(bot, notification(alert("a1"))) == 200

    def delayed() -> list[dict[str, Any]]:
        lines = capsys.readouterr().err.splitlines()
        seen.extend(json.loads(line) for line in lines if line.startswith("{"))
        return [r for r in seen if r["event"] == "slack job delayed"]

    seen: list[dict[str, Any]] = []
    (first, *_) = await eventually(_async(delayed), what="a delayed Slack job in the log")
    fake_slack.set_outage(False)
    assert first["incident"] == "INC-1"
    assert first["level"] == "warning" and "<" not in first["error"]


def _async(probe: Callable[[], Any]) -> Callable[[], Awaitable[Any]]:
    async def run() -> Any:
        return probe()

    return run
