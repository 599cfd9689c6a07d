"""Processed bodies are purged after their retention, once per period across replicas."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from bot.core.retention import RetentionPolicy, purge_key
from bot.settings import Settings
from bot.storage.models import SlackEventSeen, WebhookDelivery
from bot.storage.store import IncidentStore
from bot.workers.retention import RetentionWorker

NOW = datetime(2026, 11, 30, 11, 20, tzinfo=UTC)


def days_ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        (NOW, NOW + timedelta(minutes=30), True),
        (NOW.replace(minute=0), NOW.replace(minute=59, second=59), True),
        (NOW, NOW + timedelta(hours=1), False),
    ],
)
def test_one_purge_per_hour(a: datetime, b: datetime, same: bool) -> None:
    assert (purge_key(a) == purge_key(b)) is same


def test_defaults_are_30_and_7_days() -> None:
    settings = Settings()
    assert (settings.retention_webhook_days, settings.retention_slack_event_days) == (30, 7)
    policy = RetentionPolicy()
    assert policy.webhook_cutoff(NOW) == days_ago(30)
    assert policy.slack_event_cutoff(NOW) == days_ago(7)


def delivery(
    key: str, received: float, processed: float | None, **extra: object
) -> WebhookDelivery:
    return WebhookDelivery(
        received_at=days_ago(received),
        group_key=key,
        body='{"secret": "body"}',
        processed_at=days_ago(processed) if processed is not None else None,
        **extra,
    )


def event(event_id: str, processed: float | None) -> SlackEventSeen:
    return SlackEventSeen(
        event_id=event_id,
        received_at=days_ago(processed or 40),
        event={"text": "hi"},
        processed_at=days_ago(processed) if processed is not None else None,
    )


async def test_two_replicas_purge_old_processed_bodies_once(store: IncidentStore) -> None:
    async with store.unit() as unit:
        for row in (
            delivery("old-done", 40, 40),
            delivery("recent-done", 2, 2),
            delivery("old-never-processed", 40, None),
            delivery("old-parked", 40, None, failed_at=days_ago(39), last_error="boom"),
            event("EvOld", 8),
            event("EvRecent", 1),
            event("EvUnapplied", None),
        ):
            unit.session.add(row)

    replicas = [RetentionWorker(store, lambda: NOW, RetentionPolicy()) for _ in range(2)]
    deleted = await asyncio.gather(*(r.run_due() for r in replicas))
    assert sorted(deleted) == [0, 2]  # one replica purged both old bodies; the other nothing
    assert await replicas[0].run_due() == 0  # the same hour again: already done

    async with store.unit() as unit:
        kept = {d.group_key for d in (await unit.session.exec(select(WebhookDelivery))).all()}
        events = {e.event_id for e in (await unit.session.exec(select(SlackEventSeen))).all()}
    assert kept == {"recent-done", "old-never-processed", "old-parked"}
    assert events == {"EvRecent", "EvUnapplied"}

    later = RetentionWorker(store, lambda: NOW + timedelta(days=29), RetentionPolicy())
    assert await later.run_due() == 2  # a new hour: recent-done and EvRecent are old now
