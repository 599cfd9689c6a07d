"""Shared fixtures: databases (SQLite and PostgreSQL), the fake Slack, a running bot."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from bot.core.status_report import DEFAULT_QUERIES
from bot.runtime import BotRuntime
from bot.storage.db import make_engine, migrate
from bot.storage.store import IncidentStore
from standins.fake_kubernetes import FakeKubernetes
from standins.fake_slack import FakeSlack
from tests.support.bot_process import BotProcess
from tests.support.bots import BOT_TOKEN, FAKES, SLACK_MODES, Clock, make_bot, mode_of
from tests.support.metrics_exporter import TrafficExporter
from tests.support.prometheus_process import PrometheusProcess, find_prometheus
from tests.support.realparts import (
    POSTGRES_DSN,
    drop_postgres_session_database,
    postgres_url_or_skip,
    require_binary,
)
from tests.support.web_pages import web_bot


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


@pytest.fixture(params=SLACK_MODES)
def slack_mode(request: pytest.FixtureRequest) -> str:
    """How Slack reaches the bot: signed HTTP requests, or envelopes over Socket Mode."""
    return str(request.param)


@pytest.fixture
def clock() -> Clock:
    """A clock the test moves, starting at the real time."""
    return Clock()


@pytest.fixture
async def bot(
    request: pytest.FixtureRequest, database_url: str, fake_slack: FakeSlack
) -> AsyncIterator[BotRuntime]:
    """The bot on the real clock; `indirect=True` with SLACK_MODES runs it in both modes."""
    async with make_bot(database_url, fake_slack, mode=mode_of(request)) as runtime:
        yield runtime


@pytest.fixture
async def page_bot(database_url: str, fake_slack: FakeSlack) -> AsyncIterator[BotRuntime]:
    """The bot with its incident pages on (tests/support/web_pages.py)."""
    async with web_bot(database_url, fake_slack) as runtime:
        yield runtime


@pytest.fixture
async def bot_process(
    database_url: str, fake_slack: FakeSlack, tmp_path: Path
) -> AsyncIterator[BotProcess]:
    """`incident-bot serve` as a process the test starts, kills and restarts."""
    process = BotProcess(database_url, fake_slack.url, tmp_path)
    yield process
    await process.stop()


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


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[IncidentStore]:
    """The store on a migrated database (SQLite and PostgreSQL, by `database_url`)."""
    engine = make_engine(database_url)
    await migrate(engine)
    try:
        yield IncidentStore(engine)
    finally:
        await engine.dispose()
