"""Bounded fuzzing of the HTTP routes: thousands of mutated requests, no 5xx, bot still works.

The seeds are real requests (Slack slash commands, button clicks and events as Slack
signs them; the captured Alertmanager payloads; API paths); each mutation is
deterministic (a seeded `random.Random`), so a failure names a request that can be
replayed. Slack bodies are signed after mutation, half of them, so the mutations reach
the parsers and the listeners and not only the signature check.
"""

from __future__ import annotations

import asyncio
import io
import json
import random
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from pydantic import SecretStr

from bot.runtime import BotRuntime
from standins.fake_slack import FakeSlack
from standins.slack_requests import (
    button_click,
    command_body,
    event_body,
    signed_headers,
)
from tests.support.alerts import alert, notification, send
from tests.support.bots import SIGNING_SECRET, WEBHOOK_TOKEN, make_bot
from tests.support.polling import eventually

REQUESTS_PER_ROUTE = 5_000
TIME_BUDGET_S = 120.0  # per route; the run fails rather than hang a CI machine
CONCURRENCY = 8
API_TOKEN = "fuzz-api-token-0123456789abcdef"
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "alertmanager"
FORM = "application/x-www-form-urlencoded"
WEIRD = [
    "",
    "\x00",
    "\u202e",
    "💥",
    "\ud800",
    "%",
    "%zz",
    "&",
    "=",
    "+",
    "\\",
    '"',
    "'",
    "<!channel>",
    "9" * 5000,
    "-1",
    "1e309",
    "NaN",
    "null",
    "[]",
    "{}",
    "²",
    "INC-²",
    "INC-" + "9" * 5000,
    "../../etc/passwd",
    "\r\n",
    " " * 100,
    "a" * 70_000,
]


def slack_seeds() -> list[tuple[str, str]]:
    commands = [
        ("/incident", "declare Payments down --sev 1 --service payments"),
        ("/incident", "status resolved fixed by rollback"),
        ("/incident", "note <!channel> see <https://x.example|here>"),
        ("/incident", "action fix it <@U0ONCALL1> --due 2026-12-01"),
        ("/incident", "role scribe <@U0ONCALL2>"),
        ("/incident", "list"),
        ("/status", "payments -n production"),
        ("/rollback", "payment-service --history"),
    ]
    seeds = [(command_body(c, t), FORM) for c, t in commands]
    seeds += [
        (button_click(a, v, user_id="U0ONCALL1", channel_id="C0GENERAL"), FORM)
        for a, v in [("rollback_confirm", "1"), ("rollback_cancel", "1"), ("snooze_15", "1:x:15")]
    ]
    events = [
        {
            "type": "reaction_added",
            "user": "U1",
            "reaction": "pushpin",
            "item": {"type": "message", "channel": "C0GENERAL", "ts": "1.2"},
        },
        {
            "type": "pin_added",
            "user": "U1",
            "channel_id": "C0GENERAL",
            "item": {"type": "message", "message": {"ts": "1.2", "text": "hi", "user": "U1"}},
        },
        {
            "type": "message",
            "subtype": "message_changed",
            "channel": "C0GENERAL",
            "message": {"ts": "1.2", "text": "x"},
            "previous_message": {"ts": "1.2"},
        },
    ]
    seeds += [
        (event_body(e, event_id=f"EvSeed{i}"), "application/json") for i, e in enumerate(events)
    ]
    seeds.append((json.dumps({"type": "url_verification", "challenge": "c"}), "application/json"))
    return seeds


def mutate_text(rng: random.Random, text: str) -> str:
    """One of several mutations, picked by `rng`: structure-aware first, then bytes."""
    choice = rng.randrange(8)
    if choice == 0 and text:  # cut
        return text[: rng.randrange(len(text))]
    if choice == 1:  # a weird value spliced in
        at = rng.randrange(len(text) + 1)
        return text[:at] + rng.choice(WEIRD) + text[at:]
    if choice == 2 and "=" in text:  # a form field's value replaced
        fields = text.split("&")
        i = rng.randrange(len(fields))
        key = fields[i].split("=", 1)[0]
        fields[i] = f"{key}={rng.choice(WEIRD)}"
        return "&".join(fields)
    if choice == 3:  # JSON values swapped for odd types
        try:
            data = json.loads(text)
        except ValueError:
            return text + rng.choice(WEIRD)
        return json.dumps(_mutate_json(rng, data), ensure_ascii=rng.random() < 0.5)
    if choice == 4:  # duplicated chunk
        a, b = sorted(rng.randrange(len(text) + 1) for _ in range(2))
        return text[:b] + text[a:b] + text[b:]
    if choice == 5:  # deep nesting
        depth = rng.choice([10, 100, 1000, 50_000])
        return "[" * depth + text + "]" * depth
    if choice == 6 and text:  # characters flipped
        chars = list(text)
        for _ in range(rng.randint(1, 8)):
            chars[rng.randrange(len(chars))] = chr(rng.randrange(0x20, 0x2FF))
        return "".join(chars)
    return rng.choice(WEIRD)


def _mutate_json(rng: random.Random, value: Any) -> Any:
    if isinstance(value, dict) and value:
        key = rng.choice(list(value))
        copy = dict(value)
        replacement: Any = rng.choice(
            [None, 0, -1, 10**40, 1.5, True, "", [], {}, rng.choice(WEIRD), [value.get(key)]]
        )
        copy[key] = _mutate_json(rng, value[key]) if rng.random() < 0.5 else replacement
        if rng.random() < 0.2:
            del copy[key]
        return copy
    if isinstance(value, list) and value:
        i = rng.randrange(len(value))
        return [*value[:i], _mutate_json(rng, value[i]), *value[i + 1 :]]
    return rng.choice([None, 0, "", [], {}, rng.choice(WEIRD), value])


def mutate_bytes(rng: random.Random, body: bytes) -> bytes:
    if rng.random() < 0.15 and body:  # raw bytes: not even UTF-8
        data = bytearray(body)
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        return bytes(data)
    return mutate_text(rng, body.decode("utf-8", "replace")).encode("utf-8", "surrogatepass")


async def fuzz(
    bot: BotRuntime,
    count: int,
    make: Callable[[random.Random, int], tuple[str, str, bytes, dict[str, str]]],
) -> dict[int, int]:
    """Sends `count` requests made by `make`; returns how many got each status."""
    statuses: dict[int, int] = {}
    failures: list[str] = []
    deadline = time.monotonic() + TIME_BUDGET_S
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(count):
        queue.put_nowait(i)

    async def worker(session: aiohttp.ClientSession) -> None:
        while not queue.empty() and time.monotonic() < deadline:
            i = queue.get_nowait()
            method, path, body, headers = make(random.Random(i), i)
            try:
                async with session.request(
                    method,
                    bot.url + path,
                    data=io.BytesIO(body) if body else None,
                    headers=headers,
                    allow_redirects=False,
                ) as r:
                    await r.read()
                    statuses[r.status] = statuses.get(r.status, 0) + 1
                    if r.status >= 500:
                        failures.append(f"#{i} {method} {path[:80]} -> {r.status} {body[:120]!r}")
            except aiohttp.ClientError as e:  # the server dropped us: as bad as a 500
                failures.append(f"#{i} {method} {path[:80]} -> {type(e).__name__} {body[:120]!r}")

    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(worker(session) for _ in range(CONCURRENCY)))
    sent = sum(statuses.values()) + len([f for f in failures if "Error" in f])
    assert not failures, f"{len(failures)} failures, first: {failures[:5]}"
    assert sent >= count, f"only {sent} of {count} requests within {TIME_BUDGET_S:.0f} s"
    return statuses


@pytest.fixture
async def fuzz_bot(sqlite_url: str, fake_slack: FakeSlack) -> AsyncIterator[BotRuntime]:
    async with make_bot(sqlite_url, fake_slack, api_token=SecretStr(API_TOKEN)) as runtime:
        yield runtime


async def still_processes_a_valid_alert(bot: BotRuntime) -> None:
    group = '{}:{alertname="AfterFuzz"}'
    assert await send(bot, notification(alert("fp-after-fuzz"), group=group)) == 200

    async def opened() -> bool:
        return any(i.group_key == group for i in await bot.store.incidents())

    # Behind it wait the accepted mutants (hundreds of valid alert groups): a long deadline.
    await eventually(opened, timeout=180, what="an incident from a valid alert after the fuzzing")


async def test_fuzz_slack_events(fuzz_bot: BotRuntime) -> None:
    seeds = slack_seeds()

    def make(rng: random.Random, i: int) -> tuple[str, str, bytes, dict[str, str]]:
        text, content_type = rng.choice(seeds)
        body = mutate_bytes(rng, text.encode())
        headers = {"Content-Type": rng.choice([content_type, FORM, "application/json", "x/y"])}
        if rng.random() < 0.5:  # signed as Slack signs: the mutation reaches the parsers
            headers |= signed_headers(SIGNING_SECRET, "", content_type=headers["Content-Type"])
            headers |= _sign(body, headers["X-Slack-Request-Timestamp"])
        elif rng.random() < 0.5:
            headers["X-Slack-Signature"] = rng.choice(WEIRD)[:200]
            headers["X-Slack-Request-Timestamp"] = rng.choice(WEIRD)[:200]
        return "POST", "/slack/events", body, _header_safe(headers)

    statuses = await fuzz(fuzz_bot, REQUESTS_PER_ROUTE, make)
    assert statuses.get(200, 0) > 0 and statuses.get(401, 0) > 0, statuses
    await still_processes_a_valid_alert(fuzz_bot)


async def test_fuzz_webhook(fuzz_bot: BotRuntime) -> None:
    seeds = [p.read_bytes() for p in sorted(FIXTURES.glob("*.json"))]

    def make(rng: random.Random, i: int) -> tuple[str, str, bytes, dict[str, str]]:
        body = mutate_bytes(rng, rng.choice(seeds))
        auth = f"Bearer {WEBHOOK_TOKEN}" if rng.random() < 0.8 else rng.choice(WEIRD)[:200]
        headers = {"Authorization": auth, "Content-Type": "application/json"}
        return "POST", "/webhooks/alertmanager", body, _header_safe(headers)

    statuses = await fuzz(fuzz_bot, REQUESTS_PER_ROUTE, make)
    assert statuses.get(400, 0) > 0 and statuses.get(401, 0) > 0, statuses
    print("webhook fuzz statuses:", statuses)
    await still_processes_a_valid_alert(fuzz_bot)


async def test_fuzz_api(fuzz_bot: BotRuntime) -> None:
    paths = [
        "/incidents",
        "/incidents/{ref}",
        "/incidents/{ref}/timeline",
        "/incidents/{ref}/postmortem",
        "/stats",
    ]
    queries = ["", "?format=md", "?format=csv", "?format=json", "?open", "?since=30d", "?q=x"]

    def make(rng: random.Random, i: int) -> tuple[str, str, bytes, dict[str, str]]:
        ref = rng.choice(["INC-1", "1", "inc-1", *WEIRD])
        path = "/api/v1" + rng.choice(paths).replace("{ref}", _quote(ref[:3000]))
        query = rng.choice(queries)
        if rng.random() < 0.5:
            query = mutate_text(rng, query)[:3000]
        auth = f"Bearer {API_TOKEN}" if rng.random() < 0.8 else rng.choice(WEIRD)[:200]
        method = "GET" if rng.random() < 0.8 else rng.choice(["POST", "PUT", "DELETE"])
        body = mutate_bytes(rng, b'{"x": 1}') if method != "GET" else b""
        return method, path + _quote(query, keep="?=&"), body, _header_safe({"Authorization": auth})

    statuses = await fuzz(fuzz_bot, REQUESTS_PER_ROUTE, make)
    assert statuses.get(200, 0) > 0 and statuses.get(404, 0) > 0, statuses
    await still_processes_a_valid_alert(fuzz_bot)


def _sign(body: bytes, timestamp: str) -> dict[str, str]:
    import hashlib
    import hmac

    base = b"v0:" + timestamp.encode() + b":" + body
    digest = hmac.new(SIGNING_SECRET.encode(), base, hashlib.sha256).hexdigest()
    return {"X-Slack-Signature": f"v0={digest}"}


def _quote(text: str, keep: str = "") -> str:
    from urllib.parse import quote

    return quote(text.encode("utf-8", "surrogatepass"), safe="/" + keep)


def _header_safe(headers: dict[str, str]) -> dict[str, str]:
    # aiohttp refuses control characters (header injection) and non-latin-1 text in headers
    # it sends; the UTF-8 bytes go out as latin-1, so the server still sees non-ASCII bytes.
    def clean(value: str) -> str:
        raw = value.encode("utf-8", "surrogatepass").decode("latin-1")
        return "".join(c for c in raw if c >= " " and c != "\x7f")

    return {k: clean(v) for k, v in headers.items()}
