"""The bot as the tests build it: settings, tuning, catalogs, a clock the test moves, and
`make_bot`, the one factory of a running bot. The fixtures over them are in tests/conftest.py."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from bot.clock import system_clock
from bot.runtime import BotRuntime, Tuning
from bot.settings import Catalog, Settings
from standins.fake_slack import FakeSlack

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


class Clock:
    """A clock the test moves; starts at the real time so Slack signatures stay fresh."""

    def __init__(self, now: datetime | None = None) -> None:
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


def mode_of(request: pytest.FixtureRequest) -> str:
    """`@pytest.mark.parametrize("bot", SLACK_MODES, indirect=True)` runs a test in both modes."""
    return str(getattr(request, "param", "http"))


CLUSTER_CATALOG = {
    **CATALOG,
    "rollback": {
        "allowed_users": ["U0ONCALL1"],
        "allowed_groups": ["S0PAYONCALL"],
        "namespaces": ["production"],
    },
}


@asynccontextmanager
async def make_bot(
    database_url: str,
    fake_slack: FakeSlack,
    *,
    catalog: dict[str, Any] = CATALOG,
    clock: Callable[[], datetime] = system_clock,
    tuning: Tuning = FAST,
    mode: str = "http",
    port: int = 0,
    **settings: Any,
) -> AsyncIterator[BotRuntime]:
    """The one way the tests build a bot: started on the fake Slack (HTTP mode, or Socket
    Mode with `mode="socket"`), stopped on the way out. `settings` sets `Settings` fields
    beyond `bot_settings`'s, e.g. `api_token=SecretStr(...)`."""
    app_token = fake_slack.socket.app_token if mode == "socket" else None
    config = bot_settings(database_url, fake_slack.url, app_token=app_token)
    for name, value in settings.items():
        assert name in Settings.model_fields, f"no setting {name!r}"
        setattr(config, name, value)
    runtime = BotRuntime(
        config, catalog=Catalog.model_validate(catalog), clock=clock, tuning=tuning
    )
    await runtime.start(host="127.0.0.1", port=port)
    try:
        if mode == "socket":
            await fake_slack.wait_for_socket()
        yield runtime
    finally:
        await runtime.stop()


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
    """`make_bot` for the cluster features: the rollback catalog, a clock the test moves, and
    Prometheus on a closed port unless given."""
    async with make_bot(
        database_url,
        fake_slack,
        catalog=CLUSTER_CATALOG if catalog is None else catalog,
        clock=clock or Clock(),
        tuning=tuning,
        mode=mode,
        kubeconfig=kubeconfig,
        prometheus_url=prometheus_url,
    ) as runtime:
        yield runtime
