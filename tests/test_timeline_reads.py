"""TimelineReads: the export's pages of plain rows, read through the database driver itself."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from bot.storage.models import Incident, TimelineEvent
from bot.storage.store import IncidentStore

T0 = datetime(2024, 6, 15, 14, 0, tzinfo=UTC)


async def _incident_with_events(store: IncidentStore, times: list[datetime]) -> int:
    incident = await store.save(
        Incident(title="t", severity="sev2", service="payments", started_at=T0, detected_at=T0)
    )
    assert incident.id is not None
    async with store.unit() as unit:
        await unit.add_events(
            [
                TimelineEvent.record(
                    incident.id,
                    "note",
                    f"event {i}",
                    actor="U1",
                    now=at + timedelta(seconds=1),
                    occurred_at=at,
                    details={"i": i, "name": "ünïcode ✓"},
                    link=f"https://example.slack.com/p{i}",
                    key=f"test:{i}",
                )
                for i, at in enumerate(times)
            ]
        )
    return incident.id


async def _all_pages(store: IncidentStore, incident_id: int, size: int, **kw: Any) -> list[Any]:
    rows: list[Any] = []
    after = None
    while True:
        page = await store.timeline_rows_after(incident_id, after, size, **kw)
        rows += page
        if len(page) < size:
            return rows
        after = (page[-1][1], page[-1][0])


async def test_pages_hold_every_event_once_in_timeline_order(store: IncidentStore) -> None:
    # Ties on the time (three events in one microsecond) straddle page ends: the keyset
    # goes on by id. The times are not in insertion order.
    times = [T0 + timedelta(seconds=5), T0, T0, T0, T0 + timedelta(microseconds=1)]
    times += [T0 + timedelta(seconds=s, microseconds=999_999) for s in range(6)]
    incident_id = await _incident_with_events(store, times)

    rows = await _all_pages(store, incident_id, size=2)

    assert [r[1] for r in rows] == sorted(times)
    assert len({r[0] for r in rows}) == len(times)
    assert [r[0] for r in rows if r[1] == T0] == sorted(r[0] for r in rows if r[1] == T0)


async def test_rows_read_as_the_orm_reads_them(store: IncidentStore) -> None:
    incident_id = await _incident_with_events(store, [T0 + timedelta(milliseconds=250)])

    (row,) = await store.timeline_rows_after(incident_id, None, 10)
    (event,) = await store.timeline(incident_id)

    assert row[1:] == (
        event.occurred_at,
        event.recorded_at,
        event.kind,
        event.actor,
        event.text,
        event.details,
        event.link,
    )
    assert row[1].tzinfo is UTC and row[2].tzinfo is UTC
    assert row[6] == {"i": 0, "name": "ünïcode ✓"}


async def test_details_left_out_when_the_document_shows_none(store: IncidentStore) -> None:
    incident_id = await _incident_with_events(store, [T0, T0 + timedelta(seconds=1)])

    rows = await store.timeline_rows_after(incident_id, None, 10, details=False)

    assert [r[6] for r in rows] == [{}, {}]
    assert [r[5] for r in rows] == ["event 0", "event 1"]


async def test_other_incidents_events_are_not_read(store: IncidentStore) -> None:
    first = await _incident_with_events(store, [T0])
    other = await store.save(
        Incident(title="u", severity="sev3", service="web", started_at=T0, detected_at=T0)
    )
    assert other.id is not None

    assert len(await store.timeline_rows_after(first, None, 10)) == 1
    assert await store.timeline_rows_after(other.id, None, 10) == []
