"""Keeping the images of pinned messages, and handing them to the incident page.

When a message is pinned (or given the :pushpin: reaction) in an incident channel,
`ImageKeeper.keep` fetches its images with the bot's token, bounded as
`bot.core.pinned_images` says, checks each really is the image type it claims
(magic numbers), stores the copy (`pinned_images`) and lists the page's URLs for
them in the event's `kept_images` detail. A failed fetch costs the picture,
never the timeline entry.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import structlog
from sqlmodel import col, select

from bot.clock import Clock
from bot.core.incident_page import KEPT_IMAGES
from bot.core.pinned_images import MAX_BYTES, images_to_keep, sniffed_type
from bot.ports import ChatPort
from bot.storage.models import PinnedImage, TimelineEvent
from bot.storage.store import IncidentStore

log = structlog.get_logger(__name__)


def image_url(incident_id: int, image_id: int) -> str:
    return f"/incidents/{incident_id}/images/{image_id}"


class ImageKeeper:
    def __init__(self, store: IncidentStore, chat: ChatPort, api_url: str, clock: Clock) -> None:
        self.store, self.chat, self.api_url, self.clock = store, chat, api_url, clock

    async def keep(self, event_key: str, message: Mapping[str, Any]) -> int:
        """Fetch and keep the message's images for the event `event_key`; how many."""
        files = message.get("files")
        if not isinstance(files, list):
            return 0
        wanted = images_to_keep((f for f in files if isinstance(f, dict)), self.api_url)
        if not wanted:
            return 0
        async with self.store.unit() as unit:
            query = select(TimelineEvent).where(TimelineEvent.source_key == event_key)
            event = (await unit.session.exec(query)).first()
        if event is None or event.id is None:
            return 0
        urls = []
        for image in wanted:
            data = await self.chat.download(image.url, MAX_BYTES)
            kind = sniffed_type(data) if data else None
            if data is None or kind is None:
                log.info("pinned image not kept", file=image.file_id, reason="fetch or type")
                continue
            row = PinnedImage(
                incident_id=event.incident_id,
                event_id=event.id,
                file_id=image.file_id,
                content_type=kind,
                data=data,
                created_at=self.clock(),
            )
            stored = await self._save(row)
            urls.append(image_url(event.incident_id, stored))
        if urls:
            async with self.store.unit() as unit:
                fresh = await unit.session.get(TimelineEvent, event.id)
                if fresh is not None:
                    fresh.details = {**fresh.details, KEPT_IMAGES: urls}
                    unit.session.add(fresh)
        return len(urls)

    async def _save(self, row: PinnedImage) -> int:
        """Insert, or find the copy a repeated pin already kept."""
        async with self.store.unit() as unit:
            query = select(PinnedImage.id).where(
                PinnedImage.event_id == row.event_id, PinnedImage.file_id == row.file_id
            )
            found = (await unit.session.exec(query)).first()
            if found is not None:
                return found
            await unit.add(row)
            assert row.id is not None
            return row.id

    async def image(self, incident_id: int, image_id: int) -> PinnedImage | None:
        async with self.store.unit() as unit:
            query = select(PinnedImage).where(
                col(PinnedImage.id) == image_id, PinnedImage.incident_id == incident_id
            )
            return (await unit.session.exec(query)).first()
