"""Carries out the Slack outbox: channels, invitations, messages, pins, the digest (the
channel's creation and its responders are `bot.workers.incident_channel`).

Jobs of one incident run in order; a job that meets a Slack outage waits with
backoff and holds back the later jobs of its incident, so nothing is skipped or
reordered. Every step saves its progress, so a retried job resumes, it does
not repeat what already happened (one channel, one pinned message).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import structlog

from bot.clock import Clock
from bot.core.alerts import Notification
from bot.core.block_kit import context
from bot.core.incident_rules import IncidentStatus
from bot.core.messages import (
    IncidentCard,
    alert_message_blocks,
    alert_message_text,
    channel_purpose,
    channel_topic,
    declared_message,
    digest_blocks,
    digest_text,
    postmortem_blocks,
)
from bot.core.retry import backoff
from bot.core.slack_outage import OutageNote, delivered_note, unreachable_note
from bot.ports import ChatPort
from bot.settings import Catalog
from bot.storage.models import Incident, SlackJob, TimelineEvent
from bot.storage.outbox import JobKind
from bot.storage.store import IncidentStore
from bot.workers.incident_channel import IncidentChannel
from bot.workers.lanes import Lanes
from bot.workers.slack_once import SlackOnce
from commands.silence import silence_button
from integrations.slack import SlackError, SlackPermanentError, SlackTransientError

log = structlog.get_logger(__name__)

SuspectHook = Callable[[Incident], Awaitable[list[dict[str, Any]]]]
LEASE = timedelta(minutes=2)
# Incidents whose Slack work runs at once: one incident's jobs stay in order, but a storm's
# two hundred new channels do not wait for each other's round trips to Slack, one by one.
LANES = 8


def card(incident: Incident) -> IncidentCard:
    return IncidentCard(
        ref=incident.ref,
        title=incident.title,
        severity=incident.severity,
        status=IncidentStatus(incident.status),
        service=incident.service,
        channel_id=incident.channel_id,
        started_at=incident.started_at,
        mitigated_at=incident.mitigated_at,
    )


class SlackWorker:
    def __init__(
        self,
        store: IncidentStore,
        chat: ChatPort,
        catalog: Catalog,
        clock: Clock,
        *,
        backoff_base: float = 1.0,
        backoff_cap: float = 60.0,
        owner: str = "",
        page_link: Callable[[int, str], str | None] | None = None,
        suspect: SuspectHook | None = None,
        seen_before: SuspectHook | None = None,
        silence_button: bool = False,
    ) -> None:
        self.store = store
        self.chat = chat
        self.catalog = catalog
        self.clock = clock
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.owner = owner  # this replica, named on its claims
        self.once = SlackOnce(store, chat)
        self.channel = IncidentChannel(store, chat, catalog, clock, self.once, self._note)
        self.should_stop: Callable[[], bool] = lambda: False  # set by BackgroundWork
        self.lanes = Lanes(LANES)  # BackgroundWork makes an ended lane wake the next pass
        self.suspect = suspect  # the rollout suspected of causing it, as blocks
        # (incident id, ref) -> a Slack line with a signed link to the incident page, or None.
        self.page_link = page_link
        self.seen_before = seen_before  # "Seen 3 times in 30 days. Last: ..."
        self.silence_button = silence_button  # "Silence 1h" on alert messages (ALERTMANAGER_URL)

    async def run_due(self) -> int:
        """Start a lane for each incident with open jobs and none running; returns how many
        jobs the lanes finished since the last call."""
        jobs: dict[int, list[SlackJob]] = {}
        for job in await self.store.open_jobs():
            jobs.setdefault(job.incident_id, []).append(job)
        for incident_id, queued in jobs.items():
            if self.should_stop():
                break
            if not self.lanes.busy(incident_id):
                self.lanes.start(incident_id, functools.partial(self._run_lane, queued))
        return self.lanes.take_finished()

    async def _run_lane(self, jobs: list[SlackJob]) -> int:
        """One incident's jobs, in order, up to the first that is not due or not done."""
        finished = 0
        for job in jobs:
            if self.should_stop():
                break
            if job.due_at > self.clock() or not await self._claim(job):
                break
            if not await self._run(job):
                break
            finished += 1
        return finished

    async def _claim(self, job: SlackJob) -> bool:
        assert job.id is not None
        return await self.store.claim_job(job.id, now=self.clock(), lease=LEASE, owner=self.owner)

    async def _run(self, job: SlackJob) -> bool:
        assert job.id is not None
        # Claimed before (attempts counts claims): that run may have reached Slack unrecorded.
        retried = job.attempts > 0
        try:
            await self._dispatch(job, retried=retried)
        except asyncio.CancelledError:
            # Stopped mid-step: free the job now rather than when its lease runs out.
            await asyncio.shield(self.store.release_job(job.id))
            raise
        except SlackTransientError as e:
            now = self.clock()
            delay = backoff(job.attempts + 1, base=self.backoff_base, cap=self.backoff_cap)
            if e.retry_after is not None:
                delay = max(delay, timedelta(seconds=e.retry_after))
            since = job.failing_since or now
            await self.store.retry_job(
                job.id, error=str(e), due_at=now + delay, failing_since=since
            )
            log.warning(
                "slack job delayed",
                incident=f"INC-{job.incident_id}",
                job=job.id,
                kind=job.kind,
                error=e.error,
                retry_in_s=delay.total_seconds(),
            )
            waiting = await self.store.open_job_count(job.incident_id)
            await self._outage_note(unreachable_note(job.incident_id, since, now, waiting))
            return False
        except SlackPermanentError as e:
            await self._give_up(job, e)
            return True
        now = self.clock()
        if job.failing_since is not None:  # before the job is done: the row is never lost
            await self._outage_note(delivered_note(job.incident_id, job.failing_since, now))
        await self.store.finish_job(job.id, now=now)
        return True

    async def _outage_note(self, note: OutageNote | None) -> None:
        if note is not None:
            event = TimelineEvent.record(
                note.incident_id,
                note.kind,
                note.text,
                actor="incident-bot",
                now=note.occurred_at,  # recorded as it happened: the outage's own time
                key=note.source_key,
            )
            await self.store.add_event(event)

    async def _give_up(self, job: SlackJob, error: SlackError) -> None:
        assert job.id is not None
        now = self.clock()
        await self.store.fail_job(job.id, error=str(error), now=now)
        log.error(
            "slack job failed",
            incident=f"INC-{job.incident_id}",
            job=job.id,
            kind=job.kind,
            error=error.error,
        )
        await self._note(
            job.incident_id,
            "slack_error",
            f"Slack refused {error.method}: {error.error}",
            key=f"slack-job:{job.id}:failed",
        )

    async def _dispatch(self, job: SlackJob, *, retried: bool) -> None:
        incident = await self.store.incident(job.incident_id)
        if incident is None:
            raise SlackPermanentError(job.kind, "incident_not_found")
        if job.kind == JobKind.OPEN_CHANNEL:
            raw = job.payload.get("notification")
            notification = Notification.model_validate(raw) if raw else None
            await self._open_channel(incident, notification, retried=retried)
        elif job.kind == JobKind.POST_MESSAGE:
            await self._post(incident, job, retried=retried)
        elif job.kind == JobKind.SYNC_INCIDENT:
            await self._sync(incident, retried=retried)
        else:
            raise SlackPermanentError(job.kind, "unknown_job_kind")

    async def _open_channel(
        self, incident: Incident, notification: Notification | None, *, retried: bool
    ) -> None:
        assert incident.id is not None
        if incident.channel_id is None:
            await self.channel.create(incident, notification, retried=retried)
        assert incident.channel_id is not None
        view = card(incident)
        await self.chat.set_topic(incident.channel_id, channel_topic(view))
        await self.chat.set_purpose(incident.channel_id, channel_purpose(view))
        await self.channel.invite_responders(incident)
        if incident.alert_message_ts is None:
            runbook = self._service(incident).get("runbook")
            if notification is not None:
                text = alert_message_text(view, notification)
                blocks = alert_message_blocks(view, notification, runbook=runbook)
            else:
                text, blocks = declared_message(view, incident.reporter, runbook=runbook)
            blocks += await self._suspect_blocks(incident)
            blocks += await self._hint(self.seen_before, incident, "seen-before")
            line = self.page_link(incident.id, incident.ref) if self.page_link else None
            if line is not None:
                blocks.append(context(line))
            if self.silence_button and notification is not None and incident.group_labels:
                blocks.append({"type": "actions", "elements": [silence_button(incident.id)]})
            posted = await self.once.post(
                incident.channel_id,
                text,
                blocks,
                step=f"incident:{incident.id}:alert",
                retried=retried,
            )
            incident.alert_message_ts = posted.ts
            await self.store.update_incident(incident.id, alert_message_ts=posted.ts)
        await self.chat.pin(incident.channel_id, incident.alert_message_ts)
        await self._sync_digest(incident, retried=retried)

    async def _post(self, incident: Incident, job: SlackJob, *, retried: bool) -> None:
        payload = job.payload
        if incident.channel_id is None:
            # Jobs run in order, so the channel job before this one failed for good.
            raise SlackPermanentError("chat.postMessage", "incident_has_no_channel")
        invite = [str(u) for u in payload.get("invite") or []]
        if invite:
            await self.chat.invite(incident.channel_id, invite)
        text = str(payload["text"])
        blocks = payload.get("blocks")
        if payload.get("postmortem_button"):
            blocks = postmortem_blocks(text, incident.ref)
        await self.once.post(
            incident.channel_id, text, blocks, step=f"job:{job.id}", retried=retried
        )

    async def _sync(self, incident: Incident, *, retried: bool) -> None:
        if incident.channel_id is not None:
            await self.chat.set_topic(incident.channel_id, channel_topic(card(incident)))
        await self._sync_digest(incident, retried=retried)
        if incident.status == IncidentStatus.CLOSED.value and incident.channel_id is not None:
            try:
                await self.chat.archive(incident.channel_id)
            except SlackPermanentError as e:
                if e.error != "already_archived":
                    raise

    async def _suspect_blocks(self, incident: Incident) -> list[dict[str, Any]]:
        if self.suspect is None:
            return []
        try:
            return await self.suspect(incident)
        except Exception:  # a hint must never keep the channel from opening
            log.exception("suspected-deploy lookup failed", incident=incident.ref)
            return []

    async def _hint(
        self, hook: SuspectHook | None, incident: Incident, what: str
    ) -> list[dict[str, Any]]:
        if hook is None:
            return []
        try:
            return await hook(incident)
        except Exception:  # a hint must never keep the channel from opening
            log.exception("hint lookup failed", incident=incident.ref, hint=what)
            return []

    async def _sync_digest(self, incident: Incident, *, retried: bool) -> None:
        assert incident.id is not None
        digest = self.catalog.incident.digest_channel
        if not digest:
            return
        view = card(incident)
        if incident.digest_ts is None or incident.digest_channel_id is None:
            try:
                posted = await self.once.post(
                    digest,
                    digest_text(view),
                    digest_blocks(view),
                    step=f"incident:{incident.id}:digest",
                    retried=retried,
                )
            except SlackPermanentError as e:
                # A missing digest channel must not keep the incident channel from opening.
                await self._note(
                    incident.id,
                    "slack_error",
                    f"Could not post to digest channel {digest}: {e.error}",
                    key=f"incident:{incident.id}:digest",
                )
                return
            incident.digest_channel_id, incident.digest_ts = posted.channel_id, posted.ts
            await self.store.update_incident(
                incident.id, digest_channel_id=posted.channel_id, digest_ts=posted.ts
            )
        else:
            await self.chat.update_message(
                incident.digest_channel_id,
                incident.digest_ts,
                digest_text(view),
                digest_blocks(view),
            )

    def _service(self, incident: Incident) -> dict[str, Any]:
        service = self.catalog.services.get(incident.service or "")
        return service.model_dump() if service else {}

    async def _note(
        self,
        incident_id: int,
        kind: str,
        text: str,
        *,
        key: str,
        details: dict[str, Any] | None = None,
    ) -> None:
        now = self.clock()
        await self.store.add_event(
            TimelineEvent.record(
                incident_id, kind, text, actor="incident-bot", now=now, key=key, details=details
            )
        )
