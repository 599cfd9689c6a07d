"""SilenceExpiry: a silence ended in Alertmanager, by `/incident unsilence`, its button, or
the incident's resolve (except those made with --keep); the timeline and the silence's
message say so, and a silence that would not end is said loudly in the channel."""

from __future__ import annotations

import contextlib

import structlog

from bot.clock import Clock
from bot.core.alerts import format_timestamp
from bot.core.escaping import mrkdwn
from bot.core.silences import SilenceView, format_matchers, state, to_expire_on_resolve
from bot.ports import ChatPort
from bot.storage.models import Incident, Silence, TimelineEvent
from bot.storage.store import IncidentStore
from commands.silence import silence_message
from integrations.alertmanager import AlertmanagerAPI, AlertmanagerError
from integrations.slack import SlackError

log = structlog.get_logger(__name__)


def view(row: Silence) -> SilenceView:
    assert row.id is not None
    return SilenceView(
        row_id=row.id,
        silence_id=row.silence_id,
        matchers=tuple(row.matchers),
        created_by=row.created_by,
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        reason=row.reason,
        keep=row.keep,
        expired_at=row.expired_at,
        expired_by=row.expired_by,
    )


class SilenceExpiry:
    def __init__(
        self,
        store: IncidentStore,
        chat: ChatPort,
        alertmanager: AlertmanagerAPI | None,
        clock: Clock,
    ) -> None:
        self.store, self.chat, self.alertmanager, self.clock = store, chat, alertmanager, clock

    async def of_incident(self, incident: Incident) -> list[SilenceView]:
        assert incident.id is not None
        return [view(r) for r in await self.store.incident_silences(incident.id)]

    async def expire_on_resolve(self, incident: Incident, actor: str) -> None:
        """Expire the incident's silences not made with --keep, and say so on the timeline."""
        if self.alertmanager is None or incident.id is None:
            return
        now = self.clock()
        silences = await self.of_incident(incident)
        failed = [
            s.silence_id
            for s in to_expire_on_resolve(silences, now)
            if not await self.expire(incident, s, actor, "expired: the incident was resolved")
        ]
        if failed and incident.channel_id:
            # The room must know the page is still muted: nobody reads the timeline first.
            text = (
                f":warning: Could not expire silence {', '.join(failed)} in Alertmanager on "
                "resolve; it still mutes this alert group. Run `/incident unsilence`."
            )
            with contextlib.suppress(SlackError):
                await self.chat.post_message(incident.channel_id, text)
        for silence in silences:
            if silence.keep and state(silence, now) == "active":
                await self.note(
                    incident,
                    "silence_kept",
                    f"Silence {silence.silence_id} kept after resolve (--keep), until "
                    f"{format_timestamp(silence.ends_at)}",
                    actor,
                    key=f"silence:{silence.silence_id}:kept",
                )

    async def expire(self, incident: Incident, s: SilenceView, user: str, why: str) -> bool:
        assert self.alertmanager is not None
        assert incident.id is not None
        try:
            await self.alertmanager.expire_silence(s.silence_id)
        except AlertmanagerError as e:
            log.warning("could not expire a silence", silence=s.silence_id, error=str(e))
            await self.note(
                incident,
                "silence_expire_failed",
                f"Could not expire silence {s.silence_id} ({e}); run /incident unsilence",
                user,
                key=f"silence:{s.silence_id}:expire-failed:{self.clock().isoformat()}",
            )
            return False
        now = self.clock()
        row = await self.store.update_row(Silence, s.row_id, expired_at=now, expired_by=user)
        who = f"<@{user}>" if user[:1] in ("U", "W") else user
        await self.note(
            incident,
            "silence_expired",
            f"Silence {s.silence_id} ({mrkdwn(format_matchers(s.matchers))}) {why} by {who}",
            user,
            key=f"silence:{s.silence_id}:expired",
        )
        if row is not None and row.message_ts and row.channel_id:
            text, blocks = silence_message(view(row), now)
            with contextlib.suppress(SlackError):  # the message is a view; the record is kept
                await self.chat.update_message(row.channel_id, row.message_ts, text, blocks)
        return True

    async def note(self, incident: Incident, kind: str, text: str, actor: str, *, key: str) -> None:
        """A line on the incident's timeline about its silences (the service's refusals too)."""
        assert incident.id is not None
        now = self.clock()
        await self.store.add_event(
            TimelineEvent.record(incident.id, kind, text, actor=actor, now=now, key=key)
        )
