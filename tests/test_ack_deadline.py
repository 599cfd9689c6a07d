"""Slack's 3-second rule, as Slack experiences it, with every backend slowed to 5 s.

PostgreSQL, Prometheus and Kubernetes are each behind a proxy that holds every answer
for 5 s (standins/slow_proxy.py). Every slash command and button is then sent as
Slack sends it, in both modes, and must be acknowledged in under 3 s; a command whose
answer needs a backend gets a placeholder ack and its answer through the response_url.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import pytest

from bot.runtime import BotRuntime
from bot.slack.ack import PENDING
from bot.workers.reminders import SNOOZE
from commands.rollback import CANCEL, CONFIRM, SUGGESTED
from commands.silence import SILENCE_BUTTON, UNSILENCE_BUTTON
from standins.fake_kubernetes import FakeKubernetes
from standins.fake_prometheus import FakePrometheus
from standins.fake_slack import FakeSlack
from standins.slow_proxy import SlowProxy
from tests.support.bots import running_bot
from tests.support.polling import eventually
from tests.support.realparts import POSTGRES_DSN, postgres_url_or_skip
from tests.support.slack_client import as_slack

SLOW = 5.0
SLACK_LIMIT = 3.0

COMMANDS = [
    ("/incident", "help"),
    ("/incident", "list"),
    ("/incident", "declare Checkout slow --sev 2 --service payments"),
    ("/incident", "sev 1"),
    ("/incident", "lead <@U0ONCALL2>"),
    ("/incident", "role scribe <@U0ONCALL1>"),
    ("/incident", "note pool exhausted"),
    ("/incident", "action raise the pool size <@U0ONCALL1>"),
    ("/incident", "status identified"),
    ("/incident", "timeline md"),
    ("/incident", "postmortem"),
    ("/incident", "silence 30m deploy in progress"),
    ("/incident", "silences"),
    ("/incident", "unsilence"),
    ("/incident", "bogus"),
    ("/status", "payments"),
    ("/status", ""),
    ("/rollback", "payment-service"),
    ("/rollback", "payment-service --history"),
]
BUTTONS = [
    (CONFIRM, "1"),
    (CANCEL, "1"),
    (SUGGESTED, "production/payment-service/1"),
    (f"{SNOOZE}_15", "1:status_update:15"),
    ("postmortem_draft", "INC-1"),
    (SILENCE_BUTTON, "1:60"),
    (UNSILENCE_BUTTON, "1"),
]


@pytest.fixture
async def proxies(fake_kube: FakeKubernetes) -> AsyncIterator[dict[str, SlowProxy]]:
    postgres = urlsplit(postgres_url_or_skip())
    connection = await asyncpg.connect(POSTGRES_DSN)
    try:
        await connection.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
    finally:
        await connection.close()
    prometheus = FakePrometheus()
    await prometheus.start()
    kube = urlsplit(fake_kube.url)
    found = {
        "database": SlowProxy(postgres.hostname or "127.0.0.1", postgres.port or 5432),
        "prometheus": SlowProxy("127.0.0.1", prometheus.port),
        "kubernetes": SlowProxy(kube.hostname or "127.0.0.1", kube.port or 80),
    }
    for proxy in found.values():
        await proxy.start()
    yield found
    for proxy in found.values():
        await proxy.stop()
    await prometheus.stop()


@pytest.fixture
async def slow_bot(
    slack_mode: str,
    tmp_path: Path,
    fake_slack: FakeSlack,
    fake_kube: FakeKubernetes,
    proxies: dict[str, SlowProxy],
) -> AsyncIterator[BotRuntime]:
    fake_kube.add_deployment("production", "payment-service", image="payments:v2.3.0")
    kubeconfig = fake_kube.write_kubeconfig(tmp_path / "kubeconfig")
    proxied = f"http://127.0.0.1:{proxies['kubernetes'].port}"
    kubeconfig.write_text(kubeconfig.read_text().replace(fake_kube.url, proxied))
    postgres = urlsplit(postgres_url_or_skip())
    database = postgres._replace(netloc=f"postgres@127.0.0.1:{proxies['database'].port}")
    async with running_bot(
        database.geturl(),
        fake_slack,
        kubeconfig=kubeconfig,
        mode=slack_mode,
        prometheus_url=f"http://127.0.0.1:{proxies['prometheus'].port}",
    ) as bot:
        yield bot
        for proxy in proxies.values():
            proxy.delay = 0  # so that stopping does not wait on the slowness


async def timed(work: object) -> float:
    started = time.monotonic()
    await work  # type: ignore[misc]
    return time.monotonic() - started


async def test_every_command_and_button_is_acked_in_time_with_every_backend_slow(
    slow_bot: BotRuntime, fake_slack: FakeSlack, proxies: dict[str, SlowProxy]
) -> None:
    slack = as_slack(slow_bot)
    general = fake_slack.add_channel("general")
    general.members |= {"U0ONCALL1", "U0ONCALL2"}
    for proxy in proxies.values():
        proxy.delay = SLOW

    answers: dict[str, str] = {}

    async def command(name: str, text: str) -> float:
        started = time.monotonic()
        answers[f"{name} {text}"] = await slack.slash(
            name, text, channel=general.id, user="U0ONCALL1"
        )
        return time.monotonic() - started

    async def button(action_id: str, value: str) -> float:
        started = time.monotonic()
        await slack.click(action_id, value, channel=general.id, user="U0ONCALL1")
        return time.monotonic() - started

    took = await asyncio.gather(
        *[command(n, t) for n, t in COMMANDS], *[button(a, v) for a, v in BUTTONS]
    )
    names = [f"{n} {t}" for n, t in COMMANDS] + [a for a, _ in BUTTONS]
    late = {name: round(t, 2) for name, t in zip(names, took, strict=True) if t >= SLACK_LIMIT}
    assert late == {}, f"acknowledged after Slack's {SLACK_LIMIT} s"

    # Help needs no backend: the real answer at once. A command waiting on the database got
    # the placeholder, and its answer follows through the response_url.
    assert "/incident declare" in answers["/incident help"]
    assert answers["/incident sev 1"] == PENDING
    for proxy in proxies.values():
        proxy.delay = 0  # the database recovers: the answers still on their way arrive

    async def sev_answered() -> bool:
        return any(
            "This is not an incident channel" in m.text and m.visible_to == "U0ONCALL1"
            for m in general.ephemeral
        )

    await eventually(sev_answered, timeout=30, what="the late answer to /incident sev 1")
