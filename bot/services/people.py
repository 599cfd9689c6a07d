"""Slack names for user ids, cached in the database (`slack_users`).

Exports and post-mortem drafts are read outside Slack, where `@U0DANA` means nothing. A
name is asked of Slack (`users.info`) once and kept for `MAX_AGE`; without a Slack client
(the CLI with no token) the cache alone answers, and an id nobody has named stays an id.
A lookup that fails only leaves that id unnamed: a document is never held up by Slack,
and the id is not asked again for `RETRY_FAILED` (while Slack is down, each document
would otherwise wait `LOOKUP_TIMEOUT` for names that will not come).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col, select

from bot.clock import Clock
from bot.core.people import USER_ID, mentioned_ids
from bot.ports import ChatPort
from bot.storage.models import Incident, SlackUser, TimelineEvent
from bot.storage.store import IncidentStore

MAX_AGE = timedelta(days=7)  # people change their display names; not often
LOOKUP_TIMEOUT = 3.0  # seconds for all the lookups of one document
CONCURRENCY = 4
RETRY_FAILED = timedelta(minutes=5)
MAX_FAILED = 10_000  # ids remembered as failed: a bound, not a cache of everyone
MENTION_SCAN = 2000  # events read for mentions: a document's names, not a full scan
log = logging.getLogger(__name__)


class PeopleDirectory:
    def __init__(self, store: IncidentStore, chat: ChatPort | None, clock: Clock) -> None:
        self.store, self.chat, self.clock = store, chat, clock
        self._failed_until: dict[str, datetime] = {}  # id -> when it may be asked again

    async def names(self, user_ids: Iterable[str]) -> dict[str, str]:
        """Names for the ids that are Slack users and have one; the rest are left out."""
        wanted = {u for u in user_ids if u and USER_ID.match(u)}
        if not wanted:
            return {}
        cached = await self._cached(wanted)
        now = self.clock()
        names = {user: name for user, (name, _) in cached.items()}
        stale = sorted(
            u
            for u in wanted
            if (u not in cached or now - cached[u][1] > MAX_AGE)
            and self._failed_until.get(u, now) <= now
        )
        if stale and self.chat is not None:
            found = await self._ask_slack(stale)
            if found:
                await self._save(found)
                names.update(found)
            self._remember_failed([u for u in stale if u not in found], now)
        return names

    def _remember_failed(self, user_ids: list[str], now: datetime) -> None:
        if len(self._failed_until) + len(user_ids) > MAX_FAILED:
            self._failed_until.clear()
        for user in user_ids:
            self._failed_until[user] = now + RETRY_FAILED

    async def of_incident(self, incident: Incident) -> dict[str, str]:
        """Names for everyone an incident's documents mention: actors, role holders, the
        reporter, and people mentioned in the first `MENTION_SCAN` events that mention one."""
        assert incident.id is not None
        ids = set(await self.store.timeline_actors(incident.id))
        ids.update(u for u in (incident.roles or {}).values() if isinstance(u, str))
        ids.update(u for u in (incident.commander, incident.reporter) if u)
        query = (
            select(TimelineEvent.text)
            .where(TimelineEvent.incident_id == incident.id, col(TimelineEvent.text).contains("<@"))
            .order_by(col(TimelineEvent.id))
            .limit(MENTION_SCAN)
        )
        async with self.store.unit() as unit:
            ids.update(mentioned_ids((await unit.session.exec(query)).all()))
        return await self.names(ids)

    async def _ask_slack(self, user_ids: list[str]) -> dict[str, str]:
        chat = self.chat
        assert chat is not None
        gate = asyncio.Semaphore(CONCURRENCY)
        found: dict[str, str] = {}

        async def one(user: str) -> None:
            async with gate:
                try:
                    name = await chat.user_name(user)
                except Exception as e:  # a document is never held up by a name
                    log.debug("users.info %s failed: %s", user, e)
                    return
            if name:
                found[user] = name

        try:
            async with asyncio.timeout(LOOKUP_TIMEOUT):
                await asyncio.gather(*(one(u) for u in user_ids))
        except TimeoutError:
            log.info("Slack names: %d of %d found before the timeout", len(found), len(user_ids))
        return found

    async def _cached(self, user_ids: set[str]) -> dict[str, tuple[str, datetime]]:
        query = select(SlackUser).where(col(SlackUser.user_id).in_(sorted(user_ids)))
        async with self.store.unit() as unit:
            rows = (await unit.session.exec(query)).all()
        return {row.user_id: (row.name, row.fetched_at) for row in rows}

    async def _save(self, names: dict[str, str]) -> None:
        insert = postgresql.insert if self.store.dialect == "postgresql" else sqlite.insert
        now = self.clock()
        rows = [{"user_id": u, "name": n, "fetched_at": now} for u, n in names.items()]
        statement = insert(SlackUser).values(rows)
        statement = statement.on_conflict_do_update(
            index_elements=[col(SlackUser.user_id)],
            set_={"name": statement.excluded.name, "fetched_at": statement.excluded.fetched_at},
        )
        async with self.store.unit() as unit:
            await unit.session.exec(statement)
