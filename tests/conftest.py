"""Shared fixtures: databases (SQLite and PostgreSQL), the fake Slack, a running bot."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from pydantic import SecretStr

from bot.runtime import BotRuntime, Tuning
from bot.settings import Catalog, Settings
from bot.standins.fake_kubernetes import FakeKubernetes
from bot.standins.fake_slack import FakeSlack
from tests.realparts import POSTGRES_DSN, drop_postgres_session_database, postgres_url_or_skip

SIGNING_SECRET = "test-signing-secret"
WEBHOOK_TOKEN = "am-webhook-token"
BOT_TOKEN = "xoxb-test-token"

CATALOG = {
    "incident": {"channel_prefix": "inc", "digest_channel": "incidents"},
    "services": {
        "payments": {
            "namespace": "production",
            "deployment": "payment-service",
            "responders": ["S0PAYONCALL", "U0LEAD"],
            "runbook": "https://runbooks.example.com/payments",
        }
    },
}


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    drop_postgres_session_database()


@pytest.fixture(autouse=True)
async def no_leftover_tasks() -> AsyncIterator[None]:
    """Fail a test that leaves asyncio tasks running behind it."""
    before = set(asyncio.all_tasks())
    yield
    current = asyncio.current_task()
    left = [t for t in asyncio.all_tasks() - before if t is not current and not t.done()]
    for task in left:
        task.cancel()
    assert not left, f"test left tasks running: {left}"


@pytest.fixture(params=["sqlite", "postgres"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'bot.db'}"
    url = postgres_url_or_skip()
    connection = await asyncpg.connect(POSTGRES_DSN)
    try:
        await connection.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
    finally:
        await connection.close()
    return url


@pytest.fixture
async def fake_slack() -> AsyncIterator[FakeSlack]:
    slack = FakeSlack(bot_token=BOT_TOKEN)
    for user in ("U0ONCALL1", "U0ONCALL2", "U0LEAD", "U0STRANGER"):
        slack.add_user(user, name=user.lower())
    slack.usergroups["S0PAYONCALL"] = ["U0ONCALL1", "U0ONCALL2"]
    slack.add_channel("incidents")
    await slack.start()
    yield slack
    await slack.stop()


class Clock:
    """A clock the test moves; starts at the real time so Slack signatures stay fresh."""

    def __init__(self, now: datetime | None = None) -> None:
        from bot.clock import system_clock

        self.now = now or system_clock()

    def __call__(self) -> datetime:
        return self.now


def bot_settings(database_url: str, slack_url: str) -> Settings:
    return Settings(
        slack_bot_token=SecretStr(BOT_TOKEN),
        slack_signing_secret=SecretStr(SIGNING_SECRET),
        slack_api_url=slack_url,
        alertmanager_webhook_token=SecretStr(WEBHOOK_TOKEN),
        database_url=database_url,
    )


FAST = Tuning(
    poll_interval=0.1, backoff_base=0.2, backoff_cap=1.0, reminder_poll=3600, rollout_poll=0.2
)


@pytest.fixture
async def bot(database_url: str, fake_slack: FakeSlack) -> AsyncIterator[BotRuntime]:
    runtime = BotRuntime(
        bot_settings(database_url, fake_slack.url),
        catalog=Catalog.model_validate(CATALOG),
        tuning=FAST,
    )
    await runtime.start(host="127.0.0.1", port=0)
    yield runtime
    await runtime.stop()


CLUSTER_CATALOG = {
    **CATALOG,
    "rollback": {
        "allowed_users": ["U0ONCALL1"],
        "allowed_groups": ["S0PAYONCALL"],
        "namespaces": ["production"],
    },
}


@pytest.fixture
async def fake_kube() -> AsyncIterator[FakeKubernetes]:
    kube = FakeKubernetes()
    await kube.start()
    yield kube
    await kube.stop()


@asynccontextmanager
async def running_bot(
    database_url: str,
    fake_slack: FakeSlack,
    *,
    kubeconfig: Path | None = None,
    prometheus_url: str = "http://127.0.0.1:9",
    catalog: dict[str, Any] | None = None,
    clock: Clock | None = None,
    tuning: Tuning = FAST,
) -> AsyncIterator[BotRuntime]:
    settings = bot_settings(database_url, fake_slack.url)
    settings.kubeconfig = kubeconfig
    settings.prometheus_url = prometheus_url
    runtime = BotRuntime(
        settings,
        catalog=Catalog.model_validate(CLUSTER_CATALOG if catalog is None else catalog),
        clock=clock or Clock(),
        tuning=tuning,
    )
    await runtime.start(host="127.0.0.1", port=0)
    try:
        yield runtime
    finally:
        await runtime.stop()
