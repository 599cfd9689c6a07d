"""The real Alertmanager binary, driven by `AlertmanagerProcess`, notifying a local webhook."""

from __future__ import annotations

import asyncio
import pathlib
import re
import stat
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml
from aiohttp import web

from tests.support.alertmanager_process import (
    INSTALL_HINT,
    AlertmanagerProcess,
    BinaryMissing,
    find_alertmanager,
    rfc3339,
)
from tests.support.realparts import require_binary

TOKEN = "test-token-123"
LABELS = {"alertname": "PaymentsDown", "service": "payments", "severity": "critical"}
ANNOTATIONS = {"summary": "Payments service is down"}
GROUP_KEY = '{}:{alertname="PaymentsDown", service="payments"}'
GO_ZERO_TIME = "0001-01-01T00:00:00Z"
DELIVERY_DEADLINE = 15.0  # seconds; deliveries take 1-2 s with group_wait/interval 1s


def parse_time(value: str) -> datetime:
    """Go's RFC 3339 (up to nanoseconds) as an aware datetime, truncated to microseconds."""
    match = re.fullmatch(r"(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)", value)
    assert match is not None, value
    frac = (match[2] or "")[:6].ljust(6, "0")
    return datetime.fromisoformat(f"{match[1]}.{frac}{match[3].replace('Z', '+00:00')}")


def ms(value: datetime) -> datetime:
    """``value`` at the millisecond precision that `rfc3339` sends."""
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


@dataclass
class Delivery:
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class WebhookSink:
    """Records every webhook POST; `next` waits for the following one with a deadline."""

    url: str = ""
    queue: asyncio.Queue[Delivery] = field(default_factory=asyncio.Queue)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        await self.queue.put(Delivery(dict(request.headers), body))
        return web.Response(text="ok")

    async def next(self, timeout: float = DELIVERY_DEADLINE) -> Delivery:
        return await asyncio.wait_for(self.queue.get(), timeout)


@pytest.fixture
async def webhook() -> AsyncIterator[WebhookSink]:
    sink = WebhookSink()
    app = web.Application()
    app.router.add_post("/hook", sink.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    sink.url = f"http://{host}:{port}/hook"
    try:
        yield sink
    finally:
        await runner.cleanup()


@pytest.fixture
async def alertmanager(
    webhook: WebhookSink, tmp_path: pathlib.Path
) -> AsyncIterator[AlertmanagerProcess]:
    require_binary(find_alertmanager)
    am = AlertmanagerProcess(webhook_url=webhook.url, bearer_token=TOKEN, workdir=tmp_path / "am")
    await am.start()
    try:
        yield am
    finally:
        await am.stop()


def only_alert(delivery: Delivery) -> dict[str, Any]:
    alerts = delivery.body["alerts"]
    assert len(alerts) == 1, delivery.body
    alert: dict[str, Any] = alerts[0]
    return alert


@pytest.mark.alertmanager
async def test_fire_then_resolve_delivers_v4_payloads(
    alertmanager: AlertmanagerProcess, webhook: WebhookSink
) -> None:
    starts_at = datetime.now(UTC) - timedelta(seconds=30)
    await alertmanager.fire(LABELS, ANNOTATIONS, starts_at=starts_at)

    active = await alertmanager.alerts()
    assert [a["labels"] for a in active] == [LABELS]

    firing = await webhook.next()
    assert firing.headers["Authorization"] == f"Bearer {TOKEN}"
    assert firing.headers["Content-Type"].startswith("application/json")
    body = firing.body
    assert body["version"] == "4"
    assert body["status"] == "firing"
    assert body["receiver"] == "bot"
    assert body["groupKey"] == GROUP_KEY
    assert body["groupLabels"] == {"alertname": "PaymentsDown", "service": "payments"}
    assert body["commonLabels"] == LABELS
    assert body["externalURL"] == alertmanager.url
    alert = only_alert(firing)
    assert alert["status"] == "firing"
    assert alert["labels"] == LABELS
    assert alert["annotations"] == ANNOTATIONS
    assert re.fullmatch(r"[0-9a-f]{16}", alert["fingerprint"])
    assert parse_time(alert["startsAt"]) == ms(starts_at)
    assert alert["endsAt"] == GO_ZERO_TIME  # posted without endsAt
    assert alert["generatorURL"] == "http://127.0.0.1:9090/graph"

    ends_at = datetime.now(UTC) - timedelta(seconds=1)
    await alertmanager.resolve(LABELS, ANNOTATIONS, starts_at=starts_at, ends_at=ends_at)
    assert await alertmanager.alerts() == []  # resolved at once; notified on the next tick

    resolved = await webhook.next()
    assert resolved.headers["Authorization"] == f"Bearer {TOKEN}"
    assert resolved.body["status"] == "resolved"
    assert resolved.body["groupKey"] == GROUP_KEY
    done = only_alert(resolved)
    assert done["status"] == "resolved"
    assert done["fingerprint"] == alert["fingerprint"]
    assert done["endsAt"] != GO_ZERO_TIME
    assert parse_time(done["endsAt"]) == ms(ends_at)
    assert parse_time(done["startsAt"]) == ms(starts_at)


@pytest.mark.alertmanager
async def test_refiring_after_resolution_sends_a_new_firing_notification(
    alertmanager: AlertmanagerProcess, webhook: WebhookSink
) -> None:
    first_start = datetime.now(UTC) - timedelta(seconds=10)
    await alertmanager.fire(LABELS, starts_at=first_start)
    first = only_alert(await webhook.next())
    await alertmanager.resolve(LABELS, starts_at=first_start)  # endsAt = now - 1 s
    resolved = await webhook.next()
    assert resolved.body["status"] == "resolved"
    assert parse_time(only_alert(resolved)["endsAt"]) > first_start

    second_start = datetime.now(UTC)
    await alertmanager.fire(LABELS, starts_at=second_start)
    again = await webhook.next()
    assert again.body["status"] == "firing"
    assert again.body["groupKey"] == GROUP_KEY
    second = only_alert(again)
    assert second["fingerprint"] == first["fingerprint"]  # same labels, same fingerprint
    assert parse_time(second["startsAt"]) == ms(second_start)  # but a new startsAt


@pytest.mark.alertmanager
async def test_alert_resolved_before_group_wait_only_rides_along(
    alertmanager: AlertmanagerProcess, webhook: WebhookSink
) -> None:
    """Resolved before the group's first flush: never notified on its own.

    Here a second, firing alert of the same group (same alertname and service)
    is posted too, so the one flush carries both: a payload whose status is
    "firing" that holds a resolved alert.
    """
    starts_at = datetime.now(UTC)
    await alertmanager.fire(LABELS, starts_at=starts_at)
    await alertmanager.resolve(LABELS, starts_at=starts_at)  # now - 1 s < startsAt: clamped
    canary = {**LABELS, "instance": "canary"}
    await alertmanager.fire(canary)

    delivery = await webhook.next()
    assert delivery.body["status"] == "firing"
    by_status = {a["status"]: a["labels"] for a in delivery.body["alerts"]}
    assert by_status == {"resolved": LABELS, "firing": canary}
    resolved = next(a for a in delivery.body["alerts"] if a["status"] == "resolved")
    assert parse_time(resolved["endsAt"]) == ms(starts_at)


@pytest.mark.alertmanager
async def test_post_alerts_raises_with_the_response_body(
    alertmanager: AlertmanagerProcess,
) -> None:
    now = datetime.now(UTC)
    bad = {
        "labels": LABELS,
        "startsAt": rfc3339(now),
        "endsAt": rfc3339(now - timedelta(minutes=1)),
    }
    with pytest.raises(RuntimeError, match=r"HTTP 400: .*start") as info:
        await alertmanager.post_alerts([bad])
    assert "/api/v2/alerts" in str(info.value)


def test_config_routes_everything_to_the_bearer_webhook(tmp_path: pathlib.Path) -> None:
    am = AlertmanagerProcess(
        webhook_url="http://127.0.0.1:1/hook", bearer_token=TOKEN, workdir=tmp_path
    )
    config = yaml.safe_load(yaml.safe_dump(am.config()))
    assert config["route"] == {
        "receiver": "bot",
        "group_by": ["alertname", "service"],
        "group_wait": "1s",
        "group_interval": "1s",
        "repeat_interval": "1h",
    }
    assert config["receivers"] == [
        {
            "name": "bot",
            "webhook_configs": [
                {
                    "url": "http://127.0.0.1:1/hook",
                    "send_resolved": True,
                    "http_config": {"authorization": {"type": "Bearer", "credentials": TOKEN}},
                }
            ],
        }
    ]


def test_rfc3339_is_utc_with_z_and_refuses_naive_datetimes() -> None:
    aware = datetime(2026, 11, 26, 11, 0, 0, 123456, tzinfo=UTC)
    assert rfc3339(aware) == "2026-11-26T11:00:00.123Z"
    with pytest.raises(ValueError, match="naive"):
        rfc3339(datetime(2026, 11, 26, 11, 0, 0))


async def test_missing_binary_raises_with_the_install_hint(
    monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path
) -> None:
    monkeypatch.setenv("ALERTMANAGER_BIN", str(tmp_path / "no-such-alertmanager"))
    with pytest.raises(BinaryMissing, match=re.escape(INSTALL_HINT)):
        find_alertmanager()
    am = AlertmanagerProcess(
        webhook_url="http://127.0.0.1:1/hook", bearer_token=TOKEN, workdir=tmp_path / "am"
    )
    with pytest.raises(BinaryMissing, match=re.escape(INSTALL_HINT)):
        await am.start()
    with pytest.raises(RuntimeError, match="not been started"):
        _ = am.url


@pytest.mark.parametrize(
    ("ci", "outcome"),
    [
        ("true", pytest.fail.Exception),
        ("1", pytest.fail.Exception),
        ("", pytest.skip.Exception),
        ("false", pytest.skip.Exception),
        ("0", pytest.skip.Exception),
        (None, pytest.skip.Exception),
    ],
)
def test_require_binary_fails_in_ci_and_skips_elsewhere(
    monkeypatch: pytest.MonkeyPatch, ci: str | None, outcome: type[BaseException]
) -> None:
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)

    def missing() -> str:
        raise BinaryMissing(f"no binary; install it with: {INSTALL_HINT}")

    with pytest.raises(outcome, match=re.escape(INSTALL_HINT)):
        require_binary(missing)
    assert require_binary(lambda: "/bin/true") == "/bin/true"


def fake_binary(tmp_path: pathlib.Path, script: str) -> str:
    path = tmp_path / "fake-alertmanager"
    path.write_text(f"#!/bin/sh\n{script}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


async def test_early_exit_raises_with_the_log_tail(
    monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path
) -> None:
    monkeypatch.setenv("ALERTMANAGER_BIN", fake_binary(tmp_path, 'echo "boom: $1" >&2; exit 3'))
    am = AlertmanagerProcess(
        webhook_url="http://127.0.0.1:1/hook", bearer_token=TOKEN, workdir=tmp_path / "am"
    )
    with pytest.raises(RuntimeError, match=r"code 3(.|\n)*boom: --config.file="):
        await am.start()
    assert "boom" in am.log_tail()


async def test_not_ready_by_the_deadline_raises_and_stops_the_process(
    monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path
) -> None:
    monkeypatch.setenv("ALERTMANAGER_BIN", fake_binary(tmp_path, "echo hanging; exec sleep 60"))
    am = AlertmanagerProcess(
        webhook_url="http://127.0.0.1:1/hook", bearer_token=TOKEN, workdir=tmp_path / "am"
    )
    with pytest.raises(RuntimeError, match=r"not ready(.|\n)*hanging"):
        await am.start(timeout=0.5)
    await am.stop()  # already stopped by start(); a second stop is harmless
