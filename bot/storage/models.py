"""Database tables (SQLModel on SQLAlchemy). Every time column is timezone-aware UTC."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlmodel import Field, SQLModel


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """Aware UTC in and out, also on SQLite, which stores no offset."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _time(*, nullable: bool = True, index: bool = False) -> Any:
    return Field(default=None, sa_column=sa.Column(UTCDateTime(), nullable=nullable, index=index))


def _json() -> Any:
    return Field(default_factory=dict, sa_column=sa.Column(sa.JSON(), nullable=False))


class Incident(SQLModel, table=True):
    __tablename__ = "incidents"
    # "Seen before?" looks up past incidents of a service over a window.
    __table_args__ = (sa.Index("ix_incidents_service_started", "service", "started_at"),)

    id: int | None = Field(default=None, primary_key=True)
    group_key: str | None = Field(default=None, index=True)
    # The alert group's `groupLabels` and alertname: what a silence matches, and the
    # shape "seen before?" compares (empty for a declared incident).
    group_labels: dict[str, str] = _json()
    alertname: str | None = Field(default=None, index=True)
    title: str
    status: str = "investigating"
    severity: str = "sev3"
    service: str | None = None
    started_at: datetime = _time(nullable=False)
    detected_at: datetime = _time(nullable=False)
    identified_at: datetime | None = _time()
    mitigated_at: datetime | None = _time()
    resolved_at: datetime | None = _time()
    channel_id: str | None = None
    channel_name: str | None = None
    # The channel name this incident holds: it alone asks Slack for it, or adopts it.
    channel_reserved: str | None = Field(default=None, index=True, unique=True)
    alert_message_ts: str | None = None
    digest_channel_id: str | None = None
    digest_ts: str | None = None
    source: str = "alertmanager"  # or "slack" for a declared incident
    reporter: str | None = None
    commander: str | None = None
    roles: dict[str, str] = _json()  # role -> Slack user id
    acknowledged_at: datetime | None = _time()
    closed_at: datetime | None = _time()
    resolution_summary: str | None = None
    last_status_update_at: datetime | None = _time()
    reminder_state: dict[str, Any] = (
        _json()
    )  # {"snoozed_until": {kind: iso}, "last_nudged_at": {...}}

    @property
    def ref(self) -> str:
        return f"INC-{self.id}"


class IncidentAlert(SQLModel, table=True):
    """The last known state of each alert of an incident's group, to diff against."""

    __tablename__ = "incident_alerts"
    __table_args__ = (sa.UniqueConstraint("incident_id", "fingerprint"),)

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incidents.id", index=True)
    fingerprint: str
    status: str
    starts_at: datetime = _time(nullable=False)
    ends_at: datetime | None = _time()
    labels: dict[str, str] = _json()
    annotations: dict[str, str] = _json()
    generator_url: str = ""


class TimelineEvent(SQLModel, table=True):
    __tablename__ = "timeline_events"
    # Timeline order within an incident: pages of the exports and the incident page start
    # from the last row seen instead of sorting the incident's events again (migration 0014).
    __table_args__ = (
        sa.Index("ix_timeline_events_incident_time", "incident_id", "occurred_at", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incidents.id")
    occurred_at: datetime = _time(nullable=False, index=True)
    recorded_at: datetime = _time(nullable=False)
    kind: str
    actor: str | None = None
    text: str
    details: dict[str, Any] = _json()
    link: str | None = None
    # A retried delivery carries the same key and so adds nothing.
    source_key: str = Field(sa_column=sa.Column(sa.String(), nullable=False, unique=True))

    @classmethod
    def record(
        cls,
        incident_id: int,
        kind: str,
        text: str,
        *,
        actor: str | None,
        now: datetime,
        key: str,
        occurred_at: datetime | None = None,
        details: dict[str, Any] | None = None,
        link: str | None = None,
    ) -> TimelineEvent:
        """The one way to make an event: recorded `now`, having happened at `occurred_at`
        (`now` unless given); `key` is its `source_key`, so a retry adds nothing."""
        return cls(
            **cls.row(
                incident_id,
                kind,
                text,
                actor=actor,
                now=now,
                key=key,
                occurred_at=occurred_at,
                details=details,
                link=link,
            )
        )

    @staticmethod
    def row(
        incident_id: int,
        kind: str,
        text: str,
        *,
        actor: str | None,
        now: datetime,
        key: str,
        occurred_at: datetime | None = None,
        details: dict[str, Any] | None = None,
        link: str | None = None,
    ) -> dict[str, Any]:
        """`record`'s event as the values of its row, for `Unit.add_event_rows`: a storm's
        twenty thousand alert changes are inserted without an ORM object each (making one
        cost more than inserting it)."""
        return {
            "incident_id": incident_id,
            "kind": kind,
            "text": text,
            "actor": actor,
            "occurred_at": occurred_at or now,
            "recorded_at": now,
            "details": details or {},
            "source_key": key,
            "link": link,
        }


class WebhookDelivery(SQLModel, table=True):
    """Each body Alertmanager sent, kept before we answer it, processed after.

    A delivery whose processing fails is tried again after `next_attempt_at`; after
    the last attempt it is parked (`failed_at`, `last_error`) until an operator
    replays it, and the other groups' deliveries go on meanwhile.
    """

    __tablename__ = "webhook_deliveries"

    id: int | None = Field(default=None, primary_key=True)
    received_at: datetime = _time(nullable=False)
    group_key: str  # bot.core.untrusted_text.storable_key of Alertmanager's groupKey
    body: str = Field(sa_column=sa.Column(sa.Text(), nullable=False))
    processed_at: datetime | None = _time(index=True)
    outcome: str | None = None
    attempts: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    next_attempt_at: datetime | None = _time()
    failed_at: datetime | None = _time()
    last_error: str | None = Field(default=None, sa_column=sa.Column(sa.Text(), nullable=True))


class SlackJob(SQLModel, table=True):
    """Outbox of Slack work: survives restarts and outages, done in order per incident."""

    __tablename__ = "slack_jobs"

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incidents.id", index=True)
    kind: str
    payload: dict[str, Any] = _json()
    created_at: datetime = _time(nullable=False)
    due_at: datetime = _time(nullable=False)
    lease_until: datetime | None = _time()
    attempts: int = 0
    last_error: str | None = None
    failing_since: datetime | None = _time()  # first failure of the current Slack outage
    claimed_by: str | None = None  # the replica holding the lease (its host name)
    done_at: datetime | None = _time(index=True)
    failed_at: datetime | None = _time()


class Rollback(SQLModel, table=True):
    """Every /rollback asked for, from preview to outcome: the audit trail."""

    __tablename__ = "rollbacks"

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int | None = Field(default=None, foreign_key="incidents.id", index=True)
    channel_id: str
    message_ts: str | None = None
    requested_by: str
    namespace: str
    deployment: str
    resource_version: str
    from_revision: int | None = None
    to_revision: int
    from_images: list[str] = Field(
        default_factory=list, sa_column=sa.Column(sa.JSON(), nullable=False)
    )
    to_images: list[str] = Field(
        default_factory=list, sa_column=sa.Column(sa.JSON(), nullable=False)
    )
    patch: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=sa.Column(sa.JSON(), nullable=False)
    )
    force: bool = False
    status: str = "pending"
    detail: str | None = None
    created_at: datetime = _time(nullable=False)
    confirmed_by: str | None = None
    confirmed_at: datetime | None = _time()
    finished_at: datetime | None = _time()


class SlackEventSeen(SQLModel, table=True):
    """Each Slack event as received: stored before we answer, applied after.

    Slack retries an event it thinks we missed; its id makes the second delivery a no-op.
    """

    __tablename__ = "slack_events_seen"

    event_id: str = Field(primary_key=True)
    received_at: datetime = _time(nullable=False)
    event: dict[str, Any] = _json()
    processed_at: datetime | None = _time()


class SlackEnvelope(SQLModel, table=True):
    """A Socket Mode envelope claimed by the replica handling it, and the ack it decided.

    Slack re-sends an envelope it saw no ack for, maybe to another replica; the claim
    keeps the work single (bot/core/envelopes.py decides).
    """

    __tablename__ = "slack_envelopes"

    envelope_id: str = Field(primary_key=True)
    claimed_at: datetime = _time(nullable=False)
    acked_at: datetime | None = _time()
    ack: dict[str, Any] | None = Field(default=None, sa_column=sa.Column(sa.JSON(), nullable=True))


class ReminderSent(SQLModel, table=True):
    """A nudge posted once: the unique key lets only one replica post it."""

    __tablename__ = "reminders_sent"

    key: str = Field(primary_key=True)
    incident_id: int = Field(foreign_key="incidents.id", index=True)
    kind: str
    due_at: datetime = _time(nullable=False)
    posted_at: datetime | None = _time()
    message_ts: str | None = None


class Silence(SQLModel, table=True):
    """An Alertmanager silence the bot made for an incident: who, what, until when."""

    __tablename__ = "silences"

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incidents.id", index=True)
    silence_id: str = Field(sa_column=sa.Column(sa.String(), nullable=False, unique=True))
    matchers: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=sa.Column(sa.JSON(), nullable=False)
    )
    created_by: str  # Slack user id
    created_by_name: str  # what Alertmanager shows as createdBy
    reason: str | None = None
    comment: str = ""
    keep: bool = False  # made with --keep: not expired when the incident resolves
    starts_at: datetime = _time(nullable=False)
    ends_at: datetime = _time(nullable=False)
    channel_id: str | None = None
    message_ts: str | None = None
    expired_at: datetime | None = _time()
    expired_by: str | None = None


class ActionItem(SQLModel, table=True):
    __tablename__ = "action_items"

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incidents.id", index=True)
    text: str
    owner: str | None = None
    due: str | None = None  # YYYY-MM-DD
    source: str = "command"  # "command" or "note"
    created_by: str | None = None
    created_at: datetime = _time(nullable=False)


class SlackUser(SQLModel, table=True):
    """A person's name as Slack shows it (`users.info`), cached for documents read outside
    Slack: exports and post-mortems say `@dana`, not `@U0DANA`."""

    __tablename__ = "slack_users"

    user_id: str = Field(primary_key=True)
    name: str
    fetched_at: datetime = _time(nullable=False)


class EventCuration(SQLModel, table=True):
    """Reviewers' curation of one timeline event (bot.core.curation); the event row itself
    is never changed. The history of each change is a `curation` timeline event."""

    __tablename__ = "event_curations"

    event_id: int = Field(foreign_key="timeline_events.id", primary_key=True)
    incident_id: int = Field(foreign_key="incidents.id", index=True)
    key_moment: bool = False
    hidden: bool = False
    comment: str | None = Field(default=None, sa_column=sa.Column(sa.Text(), nullable=True))
    corrected_text: str | None = Field(default=None, sa_column=sa.Column(sa.Text(), nullable=True))
    corrected_at: datetime | None = _time()
    updated_by: str | None = None
    updated_at: datetime = _time(nullable=False)


class MaintenanceRun(SQLModel, table=True):
    """A periodic job claimed by one replica for one period (the key names both)."""

    __tablename__ = "maintenance_runs"

    key: str = Field(primary_key=True)
    ran_at: datetime = _time(nullable=False)


class PinnedImage(SQLModel, table=True):
    """A copy of an image of a pinned message (bot.core.pinned_images bounds them)."""

    __tablename__ = "pinned_images"
    __table_args__ = (sa.UniqueConstraint("event_id", "file_id"),)

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incidents.id", index=True)
    event_id: int = Field(foreign_key="timeline_events.id", index=True)
    file_id: str
    content_type: str
    data: bytes = Field(sa_column=sa.Column(sa.LargeBinary(), nullable=False))
    created_at: datetime = _time(nullable=False)
