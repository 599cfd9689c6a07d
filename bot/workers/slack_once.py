"""Slack side effects that happen once, even when the bot dies between the call and
the database write that records it.

A retried job (`attempts` > 0 before this run) may have reached Slack last time
without the answer being saved. So on a retry, before posting, the channel's recent
history is searched for a message of ours whose metadata names this step; before
creating a channel whose name is taken, the taken channel is adopted when the bot
created it and no other incident owns it. A first attempt skips both lookups.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable
from typing import Any, TypeVar

import structlog

from bot.ports import ChatPort
from bot.storage.models import Incident
from bot.storage.store import IncidentStore
from integrations.slack import PostedMessage, SlackPermanentError

log = structlog.get_logger(__name__)
T = TypeVar("T")

STEP_EVENT = "incident_bot_step"  # Slack message metadata event_type
_CHANNEL_ID = re.compile(r"[CG][A-Z0-9]{6,}")


def step_metadata(step: str) -> dict[str, Any]:
    return {"event_type": STEP_EVENT, "event_payload": {"step": step}}


class SlackOnce:
    def __init__(self, store: IncidentStore, chat: ChatPort) -> None:
        self.store = store
        self.chat = chat
        self._bot_user: str | None = None

    async def bot_user(self) -> str:
        if self._bot_user is None:
            self._bot_user = await self.chat.bot_user_id()
        return self._bot_user

    async def post(
        self,
        channel: str,
        text: str,
        blocks: list[dict[str, Any]] | None,
        *,
        step: str,
        retried: bool,
    ) -> PostedMessage:
        """Post, unless a retry finds this step's message already in the channel."""
        if retried:
            channel_id = await self.channel_id(channel)
            if channel_id is not None:
                ts = await self._lookup(self.chat.find_posted(channel_id, STEP_EVENT, step))
                if ts is not None:
                    return PostedMessage(channel_id, ts)
        return await self.chat.post_message(channel, text, blocks, metadata=step_metadata(step))

    async def channel_id(self, channel: str) -> str | None:
        """An id as it is; a name (the digest channel) through conversations.list."""
        name = channel.removeprefix("#")
        if _CHANNEL_ID.fullmatch(name):
            return name
        found = await self._lookup(self.chat.find_channel(name))
        return str(found["id"]) if found else None

    async def _lookup(self, call: Awaitable[T]) -> T | None:
        """A lookup Slack refuses (a token installed before `channels:read` was asked for)
        must not fail the step: without it the step does what it did before, and
        `incident-bot check` names the missing scope."""
        try:
            return await call
        except SlackPermanentError as e:
            log.warning("slack lookup refused; going on without it", error=e.error, method=e.method)
            return None

    async def adoptable(self, incident: Incident, name: str) -> tuple[str, str] | None:
        """The taken channel `name` when it is this incident's, lost to a crash."""
        found = await self._lookup(self.chat.find_channel(name))
        if found is None or found.get("creator") != await self.bot_user():
            return None
        purpose = str((found.get("purpose") or {}).get("value") or "")
        if purpose and f"{incident.ref}:" not in purpose:
            return None  # another incident's channel
        owner = await self.store.incident_by_channel(str(found["id"]))
        if owner is not None and owner.id != incident.id:
            return None
        return str(found["id"]), str(found["name"])
