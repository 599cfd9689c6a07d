"""Shared by the incident-page tests: a bot with the pages on, and reading them over HTTP."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from html import unescape

import aiohttp
from pydantic import SecretStr

from bot.runtime import BotRuntime
from bot.storage.models import Incident
from standins.fake_slack import FakeSlack
from tests.support.alerts import alert, notification, send, wait_settled
from tests.support.bots import Clock, make_bot

WEB_SECRET = "web-secret-for-tests-0123456789abcdef"
PUBLIC_URL = "https://incidents.example.com"
USER_HEADER = "X-Auth-Request-Email"
PERSON = {USER_HEADER: "ana@example.com"}
BUTTONS = re.compile(r'<a class="button" href="([^"]+)">([^<]+)</a>')
EVIL = '<script>alert("x")</script> & <img src=x onerror=alert(1)>'


@asynccontextmanager
async def web_bot(
    database_url: str,
    fake_slack: FakeSlack,
    *,
    proxies: str = "127.0.0.1/32",
    secret: str | None = WEB_SECRET,
    clock: Clock | None = None,
    prometheus_url: str = "http://127.0.0.1:9",
) -> AsyncIterator[BotRuntime]:
    """`make_bot` with the incident pages on, behind a trusted proxy that names the person."""
    async with make_bot(
        database_url,
        fake_slack,
        clock=clock or Clock(),
        public_url=PUBLIC_URL,
        web_secret=SecretStr(secret) if secret is not None else None,
        web_auth_user_header=USER_HEADER,
        web_trusted_proxies=proxies,
        prometheus_url=prometheus_url,
    ) as runtime:
        yield runtime


async def get(
    bot: BotRuntime, path: str, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], str]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(bot.url + path, headers=headers or {}, allow_redirects=False) as r,
    ):
        return r.status, dict(r.headers), await r.text()


def local(url: str) -> str:
    """A link as posted in Slack, made relative so the test opens it on the test bot."""
    assert url.startswith(PUBLIC_URL + "/incidents/"), url
    return url.removeprefix(PUBLIC_URL)


async def open_incident(bot: BotRuntime) -> Incident:
    assert await send(bot, notification(alert("a1"))) == 200
    await wait_settled(bot)
    incident = await bot.store.incident("INC-1")
    assert incident is not None
    return incident


def visible_text(html: str) -> str:
    return unescape(re.sub(r"<[^>]+>", " ", html))
