"""Slack user group membership, for permission checks."""

from __future__ import annotations

from datetime import datetime, timedelta

import structlog

from bot.clock import Clock
from bot.ports import ChatPort
from integrations.slack import SlackError

log = structlog.get_logger(__name__)


class GroupDirectory:
    """Slack user group members, cached briefly (membership changes are rare, clicks are not)."""

    def __init__(self, chat: ChatPort, clock: Clock, ttl: timedelta = timedelta(minutes=1)) -> None:
        self.chat, self.clock, self.ttl = chat, clock, ttl
        self._cache: dict[str, tuple[datetime, set[str]]] = {}

    async def groups_of(self, user: str, groups: list[str]) -> list[str]:
        found = []
        for group in groups:
            cached = self._cache.get(group)
            if cached is None or self.clock() - cached[0] > self.ttl:
                try:
                    members = set(await self.chat.usergroup_members(group))
                except SlackError as e:
                    log.warning("could not read user group", group=group, error=e.error)
                    continue
                cached = (self.clock(), members)
                self._cache[group] = cached
            if user in cached[1]:
                found.append(group)
        return found
