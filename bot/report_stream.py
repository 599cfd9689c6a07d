"""Timeline exports streamed from the database in pages, with flat memory.

The exports (`bot.core.exports`) are sync generators over an iterable of events;
the database is async. `export_chunks` runs the export in a worker thread
(`asyncio.to_thread`, one batch of about 64 KiB per call) and feeds it an
iterator whose `__next__` fetches the next page of events from the event loop
(`asyncio.run_coroutine_threadsafe` on `IncidentStore.stream_timeline`, keyset
pagination). Memory holds one page of events and one batch of output whatever
the timeline's size; the event loop stays free while the thread formats rows.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Callable,
    Generator,
    Iterable,
    Iterator,
    Mapping,
)
from concurrent.futures import Future
from dataclasses import dataclass, replace

from bot.core.exports import (
    EventRecord,
    IncidentRecord,
    timeline_csv,
    timeline_json,
    timeline_markdown,
)
from bot.curations import CurationView
from bot.models import Incident, TimelineEvent
from bot.report_rows import event_record, incident_record
from bot.store import IncidentStore

PAGE_SIZE = 1000  # events per database page while streaming an export
BATCH_BYTES = 64 * 1024  # output handed from the export thread to the event loop at a time
_PAGE_WAIT = 60.0  # seconds the export thread waits for a page before giving up


@dataclass(frozen=True)
class ExportFormat:
    name: str
    content_type: str  # without the charset; the body is always UTF-8
    render: Callable[[IncidentRecord, Iterable[EventRecord]], Iterator[str]]

    def filename(self, ref: str) -> str:
        return f"{ref}-timeline.{self.name}"


EXPORT_FORMATS: dict[str, ExportFormat] = {
    "json": ExportFormat("json", "application/json", timeline_json),
    "csv": ExportFormat("csv", "text/csv", timeline_csv),
    "md": ExportFormat("md", "text/markdown", timeline_markdown),
}


class _PagedEvents:
    """The iterator the export thread reads: each empty buffer fetches a page on the loop."""

    def __init__(
        self,
        pages: AsyncIterator[TimelineEvent],
        loop: asyncio.AbstractEventLoop,
        size: int,
        names: Mapping[str, str],
    ) -> None:
        self._pages, self._loop, self._size, self._names = pages, loop, size, names
        self._buffer: Iterator[TimelineEvent] = iter(())
        self._done = False
        self.stopped = False  # set by the loop side when nobody wants the rest

    def __iter__(self) -> _PagedEvents:
        return self

    def __next__(self) -> tuple[int | None, EventRecord]:
        while True:
            row = next(self._buffer, None)
            if row is not None:
                return row.id, event_record(row, self._names)
            if self._done or self.stopped:
                raise StopIteration
            future: Future[list[TimelineEvent]] = asyncio.run_coroutine_threadsafe(
                self._take(), self._loop
            )
            page = future.result(timeout=_PAGE_WAIT)
            self._done = len(page) < self._size
            self._buffer = iter(page)

    async def _take(self) -> list[TimelineEvent]:
        page: list[TimelineEvent] = []
        async for row in self._pages:
            page.append(row)
            if len(page) == self._size:
                break
        return page


async def export_chunks(
    store: IncidentStore,
    incident: Incident,
    fmt: str,
    *,
    page_size: int = PAGE_SIZE,
    names: Mapping[str, str] | None = None,
    curations: CurationView | None = None,
) -> AsyncGenerator[bytes, None]:
    """The export in UTF-8 batches of about `BATCH_BYTES`, read `page_size` events at a time,
    with reviewers' `curations` applied (flags, comments, corrections in time order).

    Use it under `contextlib.aclosing` so a reader that stops early (a client
    gone) ends the export at once.
    """
    assert incident.id is not None
    export = EXPORT_FORMATS[fmt]
    pages = store.stream_timeline(incident.id, page=page_size)
    events = _PagedEvents(pages, asyncio.get_running_loop(), page_size, names or {})
    record = incident_record(incident)
    if incident.commander and names:
        record = replace(record, commander_name=names.get(incident.commander))
    records = curations.apply(events) if curations is not None else (e for _, e in events)
    chunks = export.render(record, records)
    busy = threading.Lock()  # held by the thread while it works on `chunks`

    def next_batch() -> bytes:
        parts: list[bytes] = []
        size = 0
        with busy:
            for chunk in chunks:
                data = chunk.encode("utf-8")
                parts.append(data)
                size += len(data)
                if size >= BATCH_BYTES:
                    break
        return b"".join(parts)

    try:
        while batch := await asyncio.to_thread(next_batch):
            yield batch
    finally:
        events.stopped = True
        # Cancelled while the thread works: it stops at the next page and the
        # generators go with the garbage; otherwise close them now.
        if busy.acquire(blocking=False):
            try:
                if isinstance(chunks, Generator):
                    chunks.close()
                if isinstance(pages, AsyncGenerator):
                    await pages.aclose()
            finally:
                busy.release()
