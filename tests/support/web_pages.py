"""Shared by the incident-page tests: a bot with the pages on, and reading them over HTTP."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from html import unescape

import aiohttp
from pydantic import SecretStr

from bot.runtime import BotRuntime
from bot.settings import Catalog
from bot.storage.models import Incident
from standins.fake_slack import FakeSlack
from tests.support.alerts import alert, notification, send, wait_settled
from tests.support.bots import CATALOG, FAST, Clock, bot_settings

WEB_SECRET = "web-secret-for-tests-0123456789abcdef"
PUBLIC_URL = "https://incidents.example.com"
USER_HEADER = "X-Auth-Request-Email"
PERSON = {USER_HEADER: "ana@example.com"}
BUTTONS = re.compile(r'<a class="button" href="([^"]+)">([^<]+)</a>')
EVIL = '<script>alert("x")</script> & <img src=x onerror=alert(1)>'


@asynccontextmanager
async def web_bot(
    database_url: str, fake_slack: FakeSlack, *, proxies: str = "127.0.0.1/32",
    secret: str | None = WEB_SECRET, clock: Clock | None = None,
    prometheus_url: str = "http://127.0.0.1:9",
) -> AsyncIterator[BotRuntime]:  # fmt: skip
    settings = bot_settings(database_url, fake_slack.url)
    settings.public_url = PUBLIC_URL
    settings.web_secret = SecretStr(secret) if secret is not None else None
    settings.web_auth_user_header = USER_HEADER
    settings.web_trusted_proxies = proxies
    settings.prometheus_url = prometheus_url
    runtime = BotRuntime(
        settings, catalog=Catalog.model_validate(CATALOG), tuning=FAST, clock=clock or Clock()
    )
    await runtime.start(host="127.0.0.1", port=0)
    try:
        yield runtime
    finally:
        await runtime.stop()


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
