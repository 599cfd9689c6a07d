"""What people mark in an incident channel goes on the timeline, at the message's own time.

Pinned messages and messages given :pushpin: are recorded once (keyed by channel
and ts), edits update the text and keep the history, deletions and unpins mark
the entry removed. Each event is stored on arrival, before Slack is answered, and applied after:
a retry of a stored event is a no-op, and one the bot died before applying is
applied when it starts again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any

import structlog
from slack_bolt.async_app import AsyncApp
from slack_bolt.response import BoltResponse
from sqlmodel import col, select

from bot.clock import Clock
from bot.ports import ChatPort
from bot.services.pinned_images import ImageKeeper
from bot.storage.models import SlackEventSeen, TimelineEvent
from bot.storage.store import IncidentStore
from bot.workers.tasks import TaskSet

log = structlog.get_logger(__name__)
PIN_REACTION = "pushpin"


def ts_time(ts: str) -> datetime:
    """A Slack message ts ("1732631520.000200") is its posting time in epoch seconds."""
    return datetime.fromtimestamp(float(ts), UTC)


def message_key(channel: str, ts: str) -> str:
    return f"message:{channel}:{ts}"


class Capture:
    def __init__(
        self,
        store: IncidentStore,
        chat: ChatPort,
        clock: Clock,
        *,
        images: ImageKeeper | None = None,
    ) -> None:
        self.store, self.chat, self.clock = store, chat, clock
        self._order = asyncio.Lock()  # FIFO: an edit or a deletion never overtakes its pin
        self.images = images  # keeps pinned messages' images (incident page)

    async def in_order(self, work: Coroutine[Any, Any, None]) -> None:
        async with self._order:
            await work

    async def first_delivery(self, event_id: str, event: dict[str, Any]) -> bool:
        """Store the event; False when it was stored before (a Slack retry)."""
        async with self.store.unit() as unit:
            if await unit.session.get(SlackEventSeen, event_id) is not None:
                return False
            await unit.add(SlackEventSeen(event_id=event_id, received_at=self.clock(), event=event))
        return True

    async def process(self, event_id: str) -> None:
        """Apply one stored event to the timeline, then mark it done."""
        async with self.store.unit() as unit:
            row = await unit.session.get(SlackEventSeen, event_id)
            if row is None or row.processed_at is not None:
                return
            event = dict(row.event)
        await self._dispatch(event)
        async with self.store.unit() as unit:
            row = await unit.session.get(SlackEventSeen, event_id)
            if row is not None:
                row.processed_at = self.clock()
                unit.session.add(row)

    async def resume(self) -> int:
        """After a restart: the events acknowledged but not yet applied, in arrival order."""
        query = (
            select(SlackEventSeen.event_id)
            .where(col(SlackEventSeen.processed_at).is_(None))
            .order_by(col(SlackEventSeen.received_at))
        )
        async with self.store.unit() as unit:
            pending = list((await unit.session.exec(query)).all())
        for event_id in pending:
            await self.in_order(self.process(event_id))
        return len(pending)

    async def _dispatch(self, event: dict[str, Any]) -> None:
        kind, item = event.get("type"), event.get("item") or {}
        message = item.get("message") or {}
        pin = event.get("reaction") == PIN_REACTION and item.get("type") == "message"
        if kind == "pin_added" and item.get("type") == "message":
            await self.pinned(event["channel_id"], message, by=event.get("user"))
        elif kind == "pin_removed" and message.get("ts"):
            await self.removed(event["channel_id"], message["ts"], how="unpinned")
        elif kind == "reaction_added" and pin:
            await self.reacted(item["channel"], item["ts"], by=event.get("user"))
        elif kind == "reaction_removed" and pin:
            await self.removed(item["channel"], item["ts"], how="pushpin removed")
        elif kind == "message" and event.get("subtype") == "message_changed":
            await self.edited(event["channel"], event.get("message") or {})
        elif kind == "message" and event.get("subtype") == "message_deleted":
            await self.removed(event["channel"], str(event.get("deleted_ts", "")), how="deleted")

    async def pinned(self, channel: str, message: dict[str, Any], *, by: str | None) -> None:
        incident = await self.store.incident_by_channel(channel)
        ts = str(message.get("ts", ""))
        if incident is None or incident.id is None or not ts:
            return
        link = await self.chat.permalink(channel, ts)
        now = self.clock()
        author = message.get("user") or message.get("bot_id")
        added = await self.store.add_event(
            TimelineEvent.record(
                incident.id,
                "pinned_message",
                str(message.get("text", "")),
                actor=author,
                now=now,
                key=message_key(channel, ts),
                occurred_at=ts_time(ts),
                details={"pinned_by": by, "author": author, "ts": ts},
                link=link,
            )
        )
        if not added:  # pinned again after an unpin: the entry is back
            await self._update_event(channel, ts, _restore)
        if self.images is not None:
            await self.images.keep(message_key(channel, ts), message)

    async def reacted(self, channel: str, ts: str, *, by: str | None) -> None:
        if await self.store.incident_by_channel(channel) is None:
            return
        message = await self.chat.message(channel, ts)
        if message is not None:
            await self.pinned(channel, message, by=by)

    async def edited(self, channel: str, message: dict[str, Any]) -> None:
        ts, text = str(message.get("ts", "")), str(message.get("text", ""))
        edited_at = (message.get("edited") or {}).get("ts")
        at = (ts_time(edited_at) if edited_at else self.clock()).isoformat()

        def change(event: TimelineEvent) -> None:
            if event.text == text:
                return
            history = list(event.details.get("edits", []))
            history.append({"at": at, "previous": event.text})
            event.details = {**event.details, "edits": history}
            event.text = text

        await self._update_event(channel, ts, change)

    async def removed(self, channel: str, ts: str, *, how: str) -> None:
        at = self.clock().isoformat()

        def change(event: TimelineEvent) -> None:
            event.details = {**event.details, "removed_at": at, "removed_by": how}

        await self._update_event(channel, ts, change)

    async def _update_event(
        self, channel: str, ts: str, change: Callable[[TimelineEvent], None]
    ) -> None:
        query = select(TimelineEvent).where(TimelineEvent.source_key == message_key(channel, ts))
        async with self.store.unit() as unit:
            event = (await unit.session.exec(query.with_for_update())).first()
            if event is None:
                return
            change(event)
            unit.session.add(event)


def _restore(event: TimelineEvent) -> None:
    details = dict(event.details)
    details.pop("removed_at", None)
    details.pop("removed_by", None)
    event.details = details


def register_capture(app: AsyncApp, capture: Capture, tasks: TaskSet) -> None:
    @app.middleware
    async def once(body: dict[str, Any], next: Any) -> BoltResponse | None:
        """Stored before Slack is answered; a retry of a stored event is answered and dropped."""
        event_id = body.get("event_id") if body.get("type") == "event_callback" else None
        if not event_id:
            return await next()  # type: ignore[no-any-return]
        if await capture.first_delivery(str(event_id), body.get("event") or {}):
            tasks.spawn(capture.in_order(capture.process(str(event_id))), name="slack event")
        return BoltResponse(status=200, body="")
