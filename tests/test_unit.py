"""The unit of work: refreshes of an incident's Slack view fold into one not yet started."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.storage.models import Incident, TimelineEvent
from bot.storage.outbox import JobKind
from bot.storage.store import IncidentStore

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


async def test_a_sync_waiting_to_start_takes_the_next_change_with_it(
    store: IncidentStore,
) -> None:
    incident = await store.save(Incident(title="t", severity="sev2", started_at=T0, detected_at=T0))
    assert incident.id is not None
    for minute in range(3):  # three changes before a worker looks: one refresh
        async with store.unit() as unit:
            await unit.enqueue(incident.id, JobKind.SYNC_INCIDENT, T0 + timedelta(minutes=minute))
    async with store.unit() as unit:
        await unit.enqueue(incident.id, JobKind.POST_MESSAGE, T0, {"text": "a message"})
    jobs = await store.open_jobs()
    assert [j.kind for j in jobs] == ["sync_incident", "post_message"]

    # Once a worker has claimed it, it may have read the incident already: a change after
    # that needs a refresh of its own.
    sync = jobs[0]
    assert sync.id is not None
    assert await store.claim_job(sync.id, now=T0, lease=timedelta(minutes=2))
    async with store.unit() as unit:
        await unit.enqueue(incident.id, JobKind.SYNC_INCIDENT, T0)
    kinds = [j.kind for j in await store.open_jobs()]
    assert kinds == ["sync_incident", "post_message", "sync_incident"]


async def test_events_given_as_rows_are_stored_as_recorded_events_and_once(
    store: IncidentStore,
) -> None:
    incident = await store.save(Incident(title="t", severity="sev2", started_at=T0, detected_at=T0))
    assert incident.id is not None
    made = {
        "actor": "alertmanager",
        "now": T0 + timedelta(seconds=5),
        "key": "alert:1",
        "occurred_at": T0,
        "details": {"fingerprint": "f1"},
    }
    row = TimelineEvent.row(incident.id, "alert_firing", "HighErrorRate firing", **made)
    recorded = TimelineEvent.record(incident.id, "alert_firing", "HighErrorRate firing", **made)
    assert row == recorded.model_dump(exclude={"id"})  # one definition of an event
    async with store.unit() as unit:
        assert await unit.add_event_rows([row]) == {"alert:1"}
    async with store.unit() as unit:
        assert await unit.add_event_rows([row]) == set()  # a retry adds nothing
    events = await store.timeline(incident.id)
    assert [(e.kind, e.occurred_at, e.recorded_at) for e in events] == [
        ("alert_firing", T0, T0 + timedelta(seconds=5))
    ]
