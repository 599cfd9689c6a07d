"""RollbackRecord: what a rollback says and keeps: the row's updates, the answer to the
person who asked, the incident's timeline, the audit log, and the outcome message."""

from __future__ import annotations

import contextlib
from typing import Any

import structlog

from bot.clock import Clock
from bot.core.escaping import mrkdwn
from bot.core.rollback import RollbackStatus
from bot.ports import ChatPort
from bot.storage.models import Incident, Rollback, TimelineEvent
from bot.storage.store import IncidentStore
from integrations.slack import SlackError

log = structlog.get_logger(__name__)
audit = structlog.get_logger("incident_bot.audit")


class RollbackRecord:
    def __init__(self, store: IncidentStore, chat: ChatPort, clock: Clock) -> None:
        self.store, self.chat, self.clock = store, chat, clock

    async def finish(
        self,
        row: Rollback,
        incident: Incident | None,
        status: RollbackStatus,
        detail: str,
        *,
        update: bool = True,
    ) -> None:
        """`detail` is Slack mrkdwn (outside strings already escaped), like timeline texts."""
        row = await self.set(row, status=status.value, detail=detail, finished_at=self.clock())
        audit.info(
            "rollback finished",
            rollback=row.id,
            outcome=status.value,
            detail=detail,
            namespace=row.namespace,
            deployment=row.deployment,
            from_revision=row.from_revision,
            to_revision=row.to_revision,
        )
        icon = {
            RollbackStatus.COMPLETED: ":white_check_mark:",
            RollbackStatus.CANCELLED: ":no_entry_sign:",
        }.get(status, ":x:")
        what = mrkdwn(f"{row.namespace}/{row.deployment} to revision {row.to_revision}")
        text = f"{icon} Rollback of {what}: {status}. {detail}"
        with contextlib.suppress(SlackError):
            if update and row.message_ts:
                await self.chat.update_message(row.channel_id, row.message_ts, text, None)
            else:
                await self.chat.post_message(row.channel_id, text)
        await self.note(
            incident,
            f"rollback_{status}",
            text,
            row.confirmed_by or row.requested_by,
            key=f"rollback:{row.id}:{status}",
        )

    async def set(self, row: Rollback, **values: Any) -> Rollback:
        assert row.id is not None
        updated = await self.store.update_row(Rollback, row.id, **values)
        assert updated is not None
        return updated

    async def tell(self, channel: str, user: str, text: str) -> None:
        try:
            await self.chat.post_ephemeral(channel, user, text)
        except SlackError as e:
            log.warning("could not answer the user", channel=channel, error=e.error)

    async def note(
        self,
        incident: Incident | None,
        kind: str,
        text: str,
        actor: str,
        *,
        key: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        if incident is None or incident.id is None:
            return
        now = self.clock()
        await self.store.add_event(
            TimelineEvent.record(
                incident.id,
                kind,
                text,
                actor=actor,
                now=now,
                key=key or f"{kind}:{now.isoformat()}",
                details=details or {},
            )
        )
