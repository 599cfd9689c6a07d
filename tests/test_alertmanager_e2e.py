"""The real Alertmanager binary notifies the running bot: fire, resolve, fire again."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.runtime import BotRuntime
from standins.fake_slack import FakeSlack
from tests.support.alertmanager_process import AlertmanagerProcess, find_alertmanager
from tests.support.bots import WEBHOOK_TOKEN
from tests.support.polling import eventually
from tests.support.realparts import require_binary

LABELS = {"alertname": "HighErrorRate", "service": "payments", "severity": "critical"}
ANNOTATIONS = {"summary": "High error rate detected", "description": "payments has error rate 45%"}


@pytest.fixture
async def alertmanager(bot: BotRuntime, tmp_path: Path) -> AsyncIterator[AlertmanagerProcess]:
    require_binary(find_alertmanager)
    process = AlertmanagerProcess(
        webhook_url=f"{bot.url}/webhooks/alertmanager", bearer_token=WEBHOOK_TOKEN, workdir=tmp_path
    )
    await process.start()
    yield process
    await process.stop()


async def test_real_alertmanager_opens_mitigates_and_reopens_an_incident(
    bot: BotRuntime, fake_slack: FakeSlack, alertmanager: AlertmanagerProcess
) -> None:
    started = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=30)
    await alertmanager.fire(LABELS, ANNOTATIONS, starts_at=started)

    async def channel_opened() -> bool:
        rows = await bot.store.incidents()
        return bool(rows) and rows[0].alert_message_ts is not None and rows[0].digest_ts is not None

    await eventually(channel_opened, what="the incident channel from Alertmanager's webhook")
    (incident,) = await bot.store.incidents()
    assert incident.group_key == '{}:{alertname="HighErrorRate", service="payments"}'
    assert incident.started_at == started
    channel = fake_slack.channels[incident.channel_id or ""]
    assert channel.name == f"inc-{started:%Y%m%d}-payments-higherrorrate"
    assert {"U0ONCALL1", "U0ONCALL2", "U0LEAD"} <= channel.members
    assert channel.pins == {channel.messages[0].ts}

    await alertmanager.resolve(LABELS, ANNOTATIONS, starts_at=started)

    async def mitigated() -> bool:
        found = await bot.store.incident(1)
        return found is not None and found.mitigated_at is not None

    await eventually(mitigated, what="the resolved notification to mitigate the incident")
    await eventually(
        lambda: _said(fake_slack, channel.id, "All alerts of this group resolved"),
        what="the channel to be told",
    )

    refired = datetime.now(UTC).replace(microsecond=0)
    await alertmanager.fire(LABELS, ANNOTATIONS, starts_at=refired)

    async def reopened() -> bool:
        found = await bot.store.incident(1)
        return found is not None and found.mitigated_at is None

    await eventually(reopened, what="the re-fired group to reopen the same incident")
    kinds = [e.kind for e in await bot.store.timeline(1)]
    assert kinds.count("alert_firing") == 1
    assert kinds.count("alert_resolved") == 1
    assert kinds.count("alert_firing_again") == 1
    assert len(await bot.store.incidents()) == 1


async def _said(fake_slack: FakeSlack, channel_id: str, text: str) -> bool:
    return any(text in m.text for m in fake_slack.channels[channel_id].messages)


async def test_real_alertmanager_group_names_each_pod_and_the_title_once(
    bot: BotRuntime, fake_slack: FakeSlack, alertmanager: AlertmanagerProcess
) -> None:
    """Alertmanager computes groupLabels/commonLabels itself: the second pod of the group
    is named by the label that differs, in the room and on the timeline."""
    started = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=30)
    pod_a = {"alertname": "KubePodNotReady", "service": "gateway", "pod": "gateway-aaa"}
    pod_b = pod_a | {"pod": "gateway-bbb"}
    await alertmanager.fire(pod_a, starts_at=started)

    async def opened() -> object:
        rows = await bot.store.incidents()
        return rows[0] if rows and rows[0].alert_message_ts else None

    incident = await eventually(opened, what="the incident for the first pod")
    assert incident.title == "KubePodNotReady on gateway"  # type: ignore[attr-defined]
    channel = fake_slack.channels[incident.channel_id or ""]  # type: ignore[attr-defined]

    await alertmanager.fire(pod_b, starts_at=started + timedelta(seconds=5))
    await eventually(
        lambda: _said(fake_slack, channel.id, "New alert KubePodNotReady firing (pod=gateway-bbb)"),
        what="the room to name the pod that joined",
    )
    await alertmanager.resolve(pod_a, starts_at=started)
    await eventually(
        lambda: _said(fake_slack, channel.id, "Alert KubePodNotReady resolved (pod=gateway-aaa)"),
        what="the room to name the pod that recovered",
    )
    texts = [e.text for e in await bot.store.timeline(1)]
    assert "New alert KubePodNotReady firing (pod=gateway-bbb)" in texts
    assert "Alert KubePodNotReady resolved (pod=gateway-aaa)" in texts
