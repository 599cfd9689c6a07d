"""Alertmanager notifications as the tests send them, and waiting for the bot to settle."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp

from bot.runtime import BotRuntime
from bot.storage.models import Incident, TimelineEvent
from tests.support.bots import WEBHOOK_TOKEN
from tests.support.polling import eventually

GROUP = '{}:{alertname="HighErrorRate", service="payments"}'


T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=3)


def alert(
    fp: str, status: str = "firing", starts: datetime = T0, ends: datetime | None = None
) -> dict[str, Any]:
    return {
        "status": status,
        "labels": {
            "alertname": "HighErrorRate",
            "service": "payments",
            "severity": "critical",
            "pod": fp,
        },
        "annotations": {"summary": "Error rate above 5%", "description": "payments 5xx at 45%"},
        "startsAt": starts.isoformat().replace("+00:00", "Z"),
        "endsAt": ends.isoformat().replace("+00:00", "Z") if ends else "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus:9090/graph?g0.expr=errors",
        "fingerprint": fp,
    }


def notification(*alerts: dict[str, Any], group: str = GROUP, truncated: int = 0) -> dict[str, Any]:
    firing = any(a["status"] == "firing" for a in alerts)
    return {
        "receiver": "incident-bot",
        "status": "firing" if firing else "resolved",
        "alerts": list(alerts),
        "groupLabels": {"alertname": "HighErrorRate", "service": "payments"},
        "commonLabels": {
            "alertname": "HighErrorRate",
            "service": "payments",
            "severity": "critical",
        },
        "commonAnnotations": {"summary": "Error rate above 5%"},
        "externalURL": "http://alertmanager:9093",
        "version": "4",
        "groupKey": group,
        "truncatedAlerts": truncated,
    }


async def send(bot: BotRuntime, payload: dict[str, Any]) -> int:
    headers = {"Authorization": f"Bearer {WEBHOOK_TOKEN}", "Content-Type": "application/json"}
    async with aiohttp.ClientSession() as session:
        body = io.BytesIO(json.dumps(payload).encode())
        async with session.post(
            bot.url + "/webhooks/alertmanager", data=body, headers=headers
        ) as r:
            return r.status


async def incidents(bot: BotRuntime) -> list[Incident]:
    return list(reversed(await bot.store.incidents()))


async def timeline(bot: BotRuntime, incident_id: int) -> list[TimelineEvent]:
    return list(await bot.store.timeline(incident_id))


async def settled(bot: BotRuntime) -> bool:
    """Every delivery processed and every Slack job done."""
    return not await bot.store.pending_delivery_ids() and not await bot.store.open_jobs()


async def wait_settled(bot: BotRuntime) -> None:
    await eventually(lambda: settled(bot), what="deliveries and Slack jobs to finish")
