"""Alertmanager silences made from an incident channel: check, create, list, expire (the
expiring itself, on request and on resolve, is `bot.services.silence_expiry`).

Order of work, so nothing is left half-done: every check (configuration, the
alert group, the duration, permission) runs before Alertmanager is called; the
silence is created in Alertmanager, then its row and timeline event are written
in one transaction, and if that write fails the silence is expired again.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog

from bot.clock import Clock
from bot.core.alerts import format_timestamp
from bot.core.escaping import mrkdwn
from bot.core.lifecycle import format_duration
from bot.core.silences import (
    Matcher,
    SilenceRefused,
    SilenceView,
    check_duration,
    format_matchers,
    group_matchers,
    may_silence,
    silence_comment,
    silence_window,
    state,
)
from bot.ports import ChatPort
from bot.services.group_directory import GroupDirectory
from bot.services.silence_expiry import SilenceExpiry, view
from bot.settings import Catalog
from bot.storage.models import Incident, Silence, TimelineEvent
from bot.storage.store import IncidentStore
from commands.silence import silence_message
from integrations.alertmanager import (
    AlertmanagerAPI,
    AlertmanagerError,
    AlertmanagerRejected,
    parse_time,
)
from integrations.slack import SlackError

log = structlog.get_logger(__name__)
audit = structlog.get_logger("incident_bot.audit")
NO_ALERTMANAGER = (
    "Alertmanager is not configured for this bot: set ALERTMANAGER_URL (its API address, "
    "like http://alertmanager:9093) to silence from Slack. Nothing was silenced."
)


@dataclass(frozen=True)
class SilencePlan:
    """A silence that passed every check and may be created."""

    incident: Incident
    user: str
    user_name: str
    matchers: tuple[Matcher, ...]
    duration: timedelta
    reason: str | None
    keep: bool
    channel: str


class SilenceService:
    def __init__(
        self,
        store: IncidentStore,
        chat: ChatPort,
        alertmanager: AlertmanagerAPI | None,
        catalog: Catalog,
        clock: Clock,
    ) -> None:
        self.store, self.chat, self.alertmanager = store, chat, alertmanager
        self.catalog, self.clock = catalog, clock
        self.groups = GroupDirectory(chat, clock)
        self.expiry = SilenceExpiry(store, chat, alertmanager, clock)

    async def expire_on_resolve(self, incident: Incident, actor: str) -> None:
        """Expire the incident's silences not made with --keep, and say so on the timeline."""
        await self.expiry.expire_on_resolve(incident, actor)

    # -- create -------------------------------------------------------------------------

    async def plan(
        self,
        incident: Incident,
        user: str,
        user_name: str,
        duration: timedelta,
        reason: str | None,
        keep: bool,
        channel: str,
    ) -> SilencePlan | str:
        """Every check before Alertmanager is called; a string is the answer for the user."""
        if self.alertmanager is None:
            return NO_ALERTMANAGER
        try:
            matchers = group_matchers(incident.group_labels or {})
            check_duration(duration, self.catalog.incident.max_silence_hours)
        except SilenceRefused as e:
            return f"{e}. Nothing was silenced."
        refusal = await self._refusal(incident, user, channel)
        if refusal is not None:
            return refusal
        return SilencePlan(incident, user, user_name, matchers, duration, reason, keep, channel)

    async def _refusal(self, incident: Incident, user: str, channel: str) -> str | None:
        policy = self.catalog.silence
        members: list[str] | None = None
        if not (policy.allowed_users or policy.allowed_groups):
            try:
                members = await self.chat.channel_members(incident.channel_id or channel)
            except SlackError as e:
                log.warning("could not read channel members", channel=channel, error=e.error)
        groups = await self.groups.groups_of(user, policy.allowed_groups)
        permission = may_silence(
            user,
            user_groups=groups,
            channel_members=members,
            allowed_users=policy.allowed_users,
            allowed_groups=policy.allowed_groups,
        )
        if permission.allowed:
            return None
        audit.warning("silence refused", user=user, incident=incident.ref, reason=permission.reason)
        await self.expiry.note(
            incident,
            "silence_refused",
            f"Silence by <@{user}> refused: {permission.reason}",
            user,
            key=f"silence-refused:{incident.id}:{user}:{self.clock().isoformat()}",
        )
        return f"Not silencing: {permission.reason}. Nothing was silenced."

    async def create(self, plan: SilencePlan) -> None:
        """Create the silence, record it, announce it; tell the user privately if it fails."""
        assert self.alertmanager is not None
        incident = plan.incident
        assert incident.id is not None
        starts, ends = silence_window(self.clock(), plan.duration)
        link = await self._channel_link(incident, plan.channel)
        comment = silence_comment(incident.ref, link, plan.reason)
        api_matchers = [m.to_api() for m in plan.matchers]
        try:
            silence_id = await self.alertmanager.create_silence(
                api_matchers,
                starts_at=starts,
                ends_at=ends,
                created_by=plan.user_name,
                comment=comment,
            )
        except AlertmanagerRejected as e:
            await self._tell(
                plan, f"Alertmanager refused the silence ({e.message}). Nothing was silenced."
            )
            return
        except AlertmanagerError as e:
            # A request that timed out may still have made the silence: undo it if so.
            undone = await self._undo_unanswered(plan, comment, starts)
            await self._tell(
                plan,
                f"Alertmanager did not answer ({e}). {undone}Nothing was "
                "silenced; try again in a moment.",
            )
            return
        row = Silence(
            incident_id=incident.id,
            silence_id=silence_id,
            matchers=api_matchers,
            created_by=plan.user,
            created_by_name=plan.user_name,
            reason=plan.reason,
            comment=comment,
            keep=plan.keep,
            starts_at=starts,
            ends_at=ends,
            channel_id=incident.channel_id or plan.channel,
        )
        try:
            await self._record_created(row, plan)
        except Exception:
            log.exception("could not record a silence; expiring it again", silence=silence_id)
            with contextlib.suppress(AlertmanagerError):
                await self.alertmanager.expire_silence(silence_id)
            await self._tell(
                plan,
                "Could not record the silence, so it was expired again. "
                "Nothing was silenced; try again.",
            )
            return
        audit.info(
            "silence created",
            user=plan.user,
            incident=incident.ref,
            silence=silence_id,
            matchers=format_matchers(plan.matchers),
            until=format_timestamp(ends),
        )
        await self._announce(row)

    async def _undo_unanswered(self, plan: SilencePlan, comment: str, since: datetime) -> str:
        """Expire a silence Alertmanager made for this very request though its answer never
        came (same matchers, createdBy and comment, updated since the request, not one of
        ours on record); says what was done, for the user."""
        assert self.alertmanager is not None
        labels = {m.name: m.value for m in plan.matchers}
        try:
            found = await self.alertmanager.silences(labels)
            known = {
                r.silence_id for r in await self.store.incident_silences(plan.incident.id or 0)
            }
            strays = [
                str(x["id"])
                for x in found
                if x.get("createdBy") == plan.user_name
                and x.get("comment") == comment
                and (x.get("status") or {}).get("state") in ("active", "pending")
                and str(x.get("id")) not in known
                and (parse_time(x.get("updatedAt")) or since) >= since - timedelta(seconds=5)
            ]
            for stray in strays:
                await self.alertmanager.expire_silence(stray)
        except AlertmanagerError:
            return "It may have made the silence anyway: check `/incident silences` and /status. "
        return (
            f"The silence it made anyway ({', '.join(strays)}) was expired again. "
            if strays
            else ""
        )

    async def _record_created(self, row: Silence, plan: SilencePlan) -> None:
        incident = plan.incident
        assert incident.id is not None
        keep = " (kept after resolve)" if plan.keep else ""
        what = mrkdwn(format_matchers(plan.matchers))
        text = (
            f"<@{plan.user}> silenced {what} in Alertmanager until "
            f"{format_timestamp(row.ends_at)} ({format_duration(plan.duration)}){keep}"
        )
        async with self.store.unit() as unit:
            await unit.add(row)
            await unit.add_event(
                TimelineEvent.record(
                    incident.id,
                    "silence_created",
                    text,
                    actor=plan.user,
                    now=self.clock(),
                    key=f"silence:{row.silence_id}:created",
                    occurred_at=row.starts_at,
                    details={
                        "silence_id": row.silence_id,
                        "matchers": row.matchers,
                        "ends_at": format_timestamp(row.ends_at),
                        "keep": row.keep,
                        "reason": row.reason,
                        "created_by": row.created_by_name,
                    },
                )
            )

    async def _announce(self, row: Silence) -> None:
        assert row.id is not None
        assert row.channel_id is not None
        text, blocks = silence_message(view(row), self.clock())
        try:
            posted = await self.chat.post_message(row.channel_id, text, blocks)
        except SlackError as e:  # the silence stands; /incident silences lists it
            log.error("could not announce a silence", silence=row.silence_id, error=e.error)
            return
        await self.store.update_row(Silence, row.id, message_ts=posted.ts)

    # -- list and expire ----------------------------------------------------------------

    async def of_incident(self, incident: Incident) -> list[SilenceView]:
        return await self.expiry.of_incident(incident)

    async def unsilence(self, incident: Incident, user: str, channel: str) -> str:
        """Expire every active silence of the incident; the answer for the user."""
        if self.alertmanager is None:
            return NO_ALERTMANAGER.replace("Nothing was silenced.", "")
        refusal = await self._refusal(incident, user, channel)
        if refusal is not None:
            return refusal.replace("Not silencing", "Not unsilencing").replace(
                "Nothing was silenced.", "The silences stay."
            )
        now = self.clock()
        active = [s for s in await self.of_incident(incident) if state(s, now) == "active"]
        if not active:
            return "No active silence of this incident to expire."
        failed = [s for s in active if not await self.expiry.expire(incident, s, user, "expired")]
        if failed:
            ids = ", ".join(s.silence_id for s in failed)
            return f"Alertmanager did not expire {ids}; they are still active. Try again."
        return f"Expired {len(active)} silence(s)."

    async def unsilence_one(self, row_id: int, user: str, channel: str) -> str:
        """The Unsilence button of one silence message."""
        row = await self.store.get(Silence, row_id)
        incident = await self.store.incident(row.incident_id) if row else None
        if row is None or incident is None:
            return "That silence is not known to this bot."
        if self.alertmanager is None:
            return NO_ALERTMANAGER.replace("Nothing was silenced.", "")
        refusal = await self._refusal(incident, user, channel)
        if refusal is not None:
            return refusal.replace("Not silencing", "Not unsilencing")
        silence = view(row)
        if state(silence, self.clock()) != "active":
            return f"Silence {row.silence_id} is not active any more."
        if not await self.expiry.expire(incident, silence, user, "expired"):
            return f"Alertmanager did not expire {row.silence_id}; it is still active. Try again."
        return f"Expired silence {row.silence_id}."

    # -- helpers ------------------------------------------------------------------------

    async def _channel_link(self, incident: Incident, channel: str) -> str | None:
        where = incident.channel_id or channel
        if incident.alert_message_ts:
            with contextlib.suppress(SlackError):
                link = await self.chat.permalink(where, incident.alert_message_ts)
                if link:
                    return link
        return f"https://slack.com/app_redirect?channel={where}"

    async def _tell(self, plan: SilencePlan, text: str) -> None:
        with contextlib.suppress(SlackError):
            await self.chat.post_ephemeral(plan.channel, plan.user, text)
