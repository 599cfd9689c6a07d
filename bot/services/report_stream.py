"""Timeline exports streamed from the database in pages, with flat memory.

The page writers (`bot.core.export_pages`) render a list of events at a time; the
database is async. `export_chunks` runs the writer in a worker thread, one batch of
about `BATCH_BYTES` of output per hand-off, and feeds it an iterator whose `__next__`
fetches the next page of events from the event loop (`asyncio.run_coroutine_threadsafe`
on `IncidentStore.timeline_rows_after`, keyset pagination, plain rows rather than ORM
objects, the next page read while the thread formats this one). The next batch is
rendered while the event loop writes this one out. Memory holds two pages of events
and two batches of output whatever the timeline's size; the event loop stays free
while the thread formats rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import (
    AsyncGenerator,
    Callable,
    Generator,
    Iterator,
    Mapping,
    Sequence,
)
from concurrent.futures import Future
from dataclasses import dataclass, replace
from itertools import islice
from typing import Any

from bot.core.export_pages import PAGE_WRITERS, PageWriter
from bot.core.exports import EventRecord, IncidentRecord
from bot.core.people import label_mentions
from bot.services.curations import CurationView
from bot.services.report_rows import incident_record
from bot.storage.models import Incident
from bot.storage.store import IncidentStore

PAGE_SIZE = 5000  # events per database page while streaming an export
BATCH_BYTES = 512 * 1024  # output handed from the export thread to the event loop at a time
_GROUP = 1000  # events rendered in one go while a batch fills
_PAGE_WAIT = 60.0  # seconds the export thread waits for a page before giving up


@dataclass(frozen=True)
class ExportFormat:
    name: str
    content_type: str  # without the charset; the body is always UTF-8
    pages: Callable[[IncidentRecord], PageWriter]
    details: bool = True  # whether the document shows events' details (read them or not)

    def filename(self, ref: str) -> str:
        return f"{ref}-timeline.{self.name}"


EXPORT_FORMATS: dict[str, ExportFormat] = {
    "json": ExportFormat("json", "application/json", PAGE_WRITERS["json"]),
    "csv": ExportFormat("csv", "text/csv", PAGE_WRITERS["csv"]),
    "md": ExportFormat("md", "text/markdown", PAGE_WRITERS["md"], details=False),
}


class _Pages:
    """The pages of plain rows the export thread reads, one list at a time.

    While the thread formats one page, the next is already being read on the event
    loop (one page ahead, no more), so the database and the formatting overlap.
    """

    def __init__(
        self,
        store: IncidentStore,
        incident_id: int,
        loop: asyncio.AbstractEventLoop,
        size: int,
        details: bool,
    ) -> None:
        self._store, self._incident_id = store, incident_id
        self._loop, self._size, self._details = loop, size, details
        self._ahead: Future[Sequence[Any]] | None = None
        self._done = False
        self.stopped = False  # set by the loop side when nobody wants the rest

    def __iter__(self) -> _Pages:
        return self

    def __next__(self) -> Sequence[Any]:
        if self._done or self.stopped:
            raise StopIteration
        if self._ahead is None:
            self._ahead = self._fetch(None)
        page = self._ahead.result(timeout=_PAGE_WAIT)
        self._ahead = None
        self._done = len(page) < self._size
        if not self._done:
            last = page[-1]
            self._ahead = self._fetch((last[1], last[0]))
        if not page:
            raise StopIteration
        return page

    def _fetch(self, after: tuple[Any, int] | None) -> Future[Sequence[Any]]:
        return asyncio.run_coroutine_threadsafe(
            self._store.timeline_rows_after(
                self._incident_id, after, self._size, details=self._details
            ),
            self._loop,
        )

    @property
    def ahead(self) -> Future[Sequence[Any]] | None:
        """The page being read ahead, if any."""
        return self._ahead


def _groups(records: Iterator[EventRecord], size: int) -> Iterator[list[EventRecord]]:
    while group := list(islice(records, size)):
        yield group


def record_of(row: Any, names: Mapping[str, str]) -> EventRecord:
    """A plain row of `IncidentStore.timeline_rows_after` as the export core reads it."""
    _id, occurred_at, recorded_at, kind, actor, text, details, link = row
    return EventRecord(
        occurred_at=occurred_at,
        recorded_at=recorded_at,
        kind=kind,
        actor=actor,
        text=label_mentions(text, names) if "<@" in text else text,
        details=details or {},
        link=link,
        actor_name=names.get(actor) if actor and names else None,
    )


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
    loop = asyncio.get_running_loop()
    export = EXPORT_FORMATS[fmt]
    pages = _Pages(store, incident.id, loop, page_size, export.details)
    record = incident_record(incident)
    if incident.commander and names:
        record = replace(record, commander_name=names.get(incident.commander))
    writer = export.pages(record)
    known = names or {}
    # Lists of `_GROUP` records, each rendered in one go; with curations to apply (moved
    # events merged in by time), lists of `_GROUP` of the curated stream.
    groups: Iterator[list[EventRecord]] = (
        [record_of(row, known) for row in page[i : i + _GROUP]]
        for page in pages
        for i in range(0, len(page), _GROUP)
    )
    if curations is not None and (curations.curations or curations.moved):
        pairs = ((row[0], record_of(row, known)) for page in pages for row in page)
        groups = _groups(curations.apply(pairs), _GROUP)
    busy = threading.Lock()  # held by the thread while it works on `groups`
    started, finished = threading.Event(), threading.Event()

    def next_batch() -> bytes:
        # Whole lists of events, each rendered in one go, until the batch is big enough;
        # characters, not bytes, are counted (non-ASCII text makes a batch a little larger).
        with busy:
            if finished.is_set():
                return b""
            parts = [] if started.is_set() else [writer.head()]
            started.set()
            size = 0
            for group in groups:
                parts.append(writer.rows(group))
                size += len(parts[-1])
                if size >= BATCH_BYTES:
                    break
            else:
                parts.append(writer.tail())
                finished.set()
        return "".join(parts).encode("utf-8")

    rendering: asyncio.Future[bytes] | None = loop.run_in_executor(None, next_batch)
    try:
        while rendering is not None and (batch := await rendering):
            # The next batch is rendered while the reader takes this one.
            rendering = loop.run_in_executor(None, next_batch) if not finished.is_set() else None
            yield batch
    finally:
        pages.stopped = True
        if rendering is not None and not rendering.done():
            # A reader gone while the next batch renders: the thread stops at the end of
            # the page it is on; let it finish rather than leave it running.
            with contextlib.suppress(Exception):
                await rendering
        # Cancelled while the thread works: it stops at the next page and the generators
        # go with the garbage; otherwise close them now.
        if busy.acquire(blocking=False):
            try:
                if isinstance(groups, Generator):
                    groups.close()
                ahead = pages.ahead
            finally:
                busy.release()
            if ahead is not None:
                # Let the page being read ahead finish: cancelling a query half-way leaves
                # the database driver's thread answering a future nobody awaits.
                with contextlib.suppress(Exception):
                    await asyncio.wrap_future(ahead)
