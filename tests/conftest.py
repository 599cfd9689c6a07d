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

from bot.core.status_report import DEFAULT_QUERIES
from bot.runtime import BotRuntime, Tuning
from bot.settings import Catalog, Settings
from standins.fake_kubernetes import FakeKubernetes
from standins.fake_slack import FakeSlack
from tests.support.metrics_exporter import TrafficExporter
from tests.support.prometheus_process import PrometheusProcess, find_prometheus
from tests.support.realparts import (
    POSTGRES_DSN,
    drop_postgres_session_database,
    postgres_url_or_skip,
    require_binary,
)

SIGNING_SECRET = "test-signing-secret"
WEBHOOK_TOKEN = "am-webhook-token"
BOT_TOKEN = "xoxb-test-token"

FAKES: dict[str, FakeSlack] = {}  # by URL: tests find the fake a bot talks to

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
    FAKES[slack.url] = slack
    yield slack
    FAKES.pop(slack.url, None)
    await slack.stop()


class Clock:
    """A clock the test moves; starts at the real time so Slack signatures stay fresh."""

    def __init__(self, now: datetime | None = None) -> None:
        from bot.clock import system_clock

        self.now = now or system_clock()

    def __call__(self) -> datetime:
        return self.now


def bot_settings(database_url: str, slack_url: str, *, app_token: str | None = None) -> Settings:
    """HTTP mode (a signing secret), or Socket Mode when an app-level token is given."""
    return Settings(
        slack_bot_token=SecretStr(BOT_TOKEN),
        slack_signing_secret=None if app_token else SecretStr(SIGNING_SECRET),
        slack_app_token=SecretStr(app_token) if app_token else None,
        slack_api_url=slack_url,
        alertmanager_webhook_token=SecretStr(WEBHOOK_TOKEN),
        database_url=database_url,
    )


FAST = Tuning(
    poll_interval=0.1,
    backoff_base=0.2,
    backoff_cap=1.0,
    reminder_poll=3600,
    rollout_poll=0.2,
    socket_ping=1.0,
)
SLACK_MODES = ["http", "socket"]


@pytest.fixture(params=SLACK_MODES)
def slack_mode(request: pytest.FixtureRequest) -> str:
    """How Slack reaches the bot: signed HTTP requests, or envelopes over Socket Mode."""
    return str(request.param)


def mode_of(request: pytest.FixtureRequest) -> str:
    """`@pytest.mark.parametrize("bot", SLACK_MODES, indirect=True)` runs a test in both modes."""
    return str(getattr(request, "param", "http"))


@pytest.fixture
async def bot(
    request: pytest.FixtureRequest, database_url: str, fake_slack: FakeSlack
) -> AsyncIterator[BotRuntime]:
    mode = mode_of(request)
    app_token = fake_slack.socket.app_token if mode == "socket" else None
    runtime = BotRuntime(
        bot_settings(database_url, fake_slack.url, app_token=app_token),
        catalog=Catalog.model_validate(CATALOG),
        tuning=FAST,
    )
    await runtime.start(host="127.0.0.1", port=0)
    if mode == "socket":
        await fake_slack.wait_for_socket()
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


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'bot.db'}"


@pytest.fixture
async def prometheus(tmp_path: Path) -> AsyncIterator[PrometheusProcess]:
    """The real Prometheus, scraping a traffic exporter at the brief's 45% error rate."""
    require_binary(find_prometheus)
    exporter = TrafficExporter(services=("payments",))
    exporter.set_traffic("payments", rps=200, error_ratio=0.45, latency_s=1.2)
    await exporter.start()
    process = PrometheusProcess(workdir=tmp_path / "prom", scrape_targets=[exporter.target])
    await process.start()
    try:
        query = DEFAULT_QUERIES["error_rate"].replace("{service}", "payments")
        await process.wait_for_value(query, lambda v: abs(v - 0.45) < 0.03, timeout=40)
        yield process
    finally:
        await process.stop()
        await exporter.stop()


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
    mode: str = "http",
) -> AsyncIterator[BotRuntime]:
    app_token = fake_slack.socket.app_token if mode == "socket" else None
    settings = bot_settings(database_url, fake_slack.url, app_token=app_token)
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
        if mode == "socket":
            await fake_slack.wait_for_socket()
        yield runtime
    finally:
        await runtime.stop()
