"""Report test data: times, bulk timelines, a closed port, a Prometheus with history."""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from bot.settings import Catalog
from bot.storage.models import Incident, TimelineEvent
from bot.storage.store import IncidentStore
from integrations.prometheus import PrometheusSource
from tests.support.polling import eventually

CATALOG = Catalog.model_validate({"services": {"payments": {"namespace": "production"}}})


T0 = datetime(2026, 11, 26, 14, 30, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


async def bulk_events(store: IncidentStore, incident: Incident, count: int) -> None:
    """`count` note events, inserted in one statement (fast enough for 50,000)."""
    rows = [
        {
            "incident_id": incident.id,
            "occurred_at": at(i / 10),
            "recorded_at": at(i / 10 + 1),
            "kind": "note",
            "actor": "U0ONCALL1",
            "text": f'step {i}, "quoted", ünïcode',
            "details": {"i": i},
            "link": None,
            "source_key": f"bulk:{incident.id}:{i}",
        }
        for i in range(count)
    ]
    async with store.unit() as unit:
        connection = await unit.session.connection()
        await connection.execute(sa.insert(TimelineEvent), rows)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


ERROR_RATE = (
    'sum(rate(http_requests_total{service="payments",status=~"5.."}[5m]))'
    ' / sum(rate(http_requests_total{service="payments"}[5m]))'
)


async def prometheus_has_history(url: str) -> None:
    """Wait until a range query ending now has the error rate at three points (a few
    seconds of history): the instant query is right a moment earlier."""
    source = PrometheusSource(url)

    async def ready() -> bool:
        now = datetime.now(UTC)
        series = await source.range(
            ERROR_RATE, now - timedelta(seconds=30), now, timedelta(seconds=1)
        )
        return sum(abs(v - 0.45) < 0.05 for s in series for _, v in s.points) >= 3

    await eventually(ready, timeout=30, what="the error rate in a Prometheus range query")
