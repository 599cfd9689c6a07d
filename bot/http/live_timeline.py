"""The live incident page: new timeline events pushed to open pages as server-sent events.

**Knowing that something changed.** On PostgreSQL a trigger (migration 0006)
NOTIFYs `incident_timeline` with the incident id on every insert; one LISTEN
connection per bot process wakes the pages of that incident at once, whichever
replica inserted the row. Should that connection drop, pages fall back to
polling until it is back. On SQLite (one process) each open page polls the
newest event id every `poll` seconds (0.5 s: new events show within a second).

**What is sent.** `GET /incidents/{ref}/live?after=<event id>` (same access
rules as the page) streams `text/event-stream`: one `timeline` event per new
timeline row, `id:` the row's id (so a reconnecting browser resumes from
`Last-Event-ID`), data a JSON object with the row's phase, filter and its HTML
(`_event.html.j2`, autoescaped, the same markup as the page). A comment every
15 s keeps proxies from closing an idle stream. Streams end when the bot stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable, Sequence
from typing import Any

import asyncpg
import structlog
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.core.exports import phase_of
from bot.core.incident_page import EventView, event_view, kind_filter
from bot.services.report_rows import event_record, incident_record
from bot.storage.models import Incident, TimelineEvent
from bot.storage.store import IncidentStore

log = structlog.get_logger(__name__)

CHANNEL = "incident_timeline"
HEARTBEAT = 15.0
_LISTEN_FALLBACK = 5.0  # even when LISTENing, look now and then (a NOTIFY can be missed)

RenderEvent = Callable[[EventView], str]


class LiveTimeline:
    """Wakes the open pages of an incident when its timeline grows."""

    def __init__(self, store: IncidentStore, *, poll: float = 0.5) -> None:
        self.store = store
        self.poll = poll
        self._waiters: dict[int, set[asyncio.Event]] = {}
        self._closing = asyncio.Event()
        self._listener: asyncpg.Connection | None = None

    @property
    def listening(self) -> bool:
        return self._listener is not None and not self._listener.is_closed()

    async def start(self) -> None:
        if self.store.dialect != "postgresql":
            return
        try:
            self._listener = await asyncpg.connect(_plain_dsn(self.store.engine))
            await self._listener.add_listener(CHANNEL, self._notified)
        except (OSError, asyncpg.PostgresError) as e:
            # The pages still work, by polling; say so once.
            log.warning("timeline LISTEN unavailable; live pages poll", error=str(e))
            self._listener = None

    async def stop(self) -> None:
        self._closing.set()
        for waiters in self._waiters.values():
            for waiter in waiters:
                waiter.set()
        if self._listener is not None:
            with contextlib.suppress(Exception):
                await self._listener.close(timeout=2)
            self._listener = None

    @property
    def closing(self) -> bool:
        return self._closing.is_set()

    def _notified(self, _connection: Any, _pid: int, _channel: str, payload: str) -> None:
        if payload.isdigit():
            for waiter in self._waiters.get(int(payload), ()):
                waiter.set()

    async def wait(self, incident_id: int, timeout: float) -> None:
        """Return when the incident may have new events, at `timeout`, or when stopping."""
        if self.closing:
            return
        timeout = min(timeout, _LISTEN_FALLBACK if self.listening else self.poll)
        waiter = asyncio.Event()
        self._waiters.setdefault(incident_id, set()).add(waiter)
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(waiter.wait(), timeout)
        finally:
            waiters = self._waiters.get(incident_id)
            if waiters is not None:
                waiters.discard(waiter)
                if not waiters:
                    del self._waiters[incident_id]

    async def stream(
        self,
        request: web.Request,
        incident: Incident,
        after: int,
        render: RenderEvent,
        *,
        filters: Sequence[str] = (),
        text: str | None = None,
    ) -> web.StreamResponse:
        """The server-sent event stream of `incident`'s events after id `after`."""
        assert incident.id is not None
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream; charset=utf-8",
                "Cache-Control": "no-store",
                "X-Accel-Buffering": "no",  # nginx: pass each event on at once
            }
        )
        await response.prepare(request)
        record = incident_record(incident)
        loop = asyncio.get_running_loop()
        quiet_since = loop.time()
        try:
            await response.write(b"retry: 1000\n\n")
            while not self.closing:
                rows = await self.store.events_after(incident.id, after)
                for row in rows:
                    assert row.id is not None
                    after = row.id
                    if _shown(row, filters, text):
                        await response.write(_frame(row, record, render))
                        quiet_since = loop.time()
                if rows:
                    continue
                if loop.time() - quiet_since >= HEARTBEAT:
                    await response.write(b": still here\n\n")
                    quiet_since = loop.time()
                await self.wait(incident.id, HEARTBEAT)
        except (ConnectionResetError, asyncio.CancelledError):
            return response
        return response


def _shown(row: TimelineEvent, filters: Sequence[str], text: str | None) -> bool:
    """The page's own filters, so a filtered page only gains what it would show."""
    if filters and kind_filter(row.kind) not in filters:
        return False
    if text:
        needle = text.lower()
        return needle in row.text.lower() or needle in (row.actor or "").lower()
    return True


def _frame(row: TimelineEvent, record: Any, render: RenderEvent) -> bytes:
    event = event_record(row)
    view = event_view(event, row.id)
    data = {
        "id": row.id,
        "phase": phase_of(event, record).value,
        "filter": kind_filter(row.kind),
        "html": render(view),
    }
    return f"id: {row.id}\nevent: timeline\ndata: {json.dumps(data)}\n\n".encode()


def _plain_dsn(engine: AsyncEngine) -> str:
    return engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
