"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-26 10:45:12.456492
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import bot.storage.models

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "incidents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("group_key", sa.String(), nullable=True),
        sa.Column("title", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("severity", sa.String(), nullable=False),
        sa.Column("service", sa.String(), nullable=True),
        sa.Column("started_at", bot.storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("detected_at", bot.storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("identified_at", bot.storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("mitigated_at", bot.storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("resolved_at", bot.storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("channel_id", sa.String(), nullable=True),
        sa.Column("channel_name", sa.String(), nullable=True),
        sa.Column("alert_message_ts", sa.String(), nullable=True),
        sa.Column("digest_channel_id", sa.String(), nullable=True),
        sa.Column("digest_ts", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_incidents_group_key"), ["group_key"], unique=False)

    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("received_at", bot.storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("group_key", sa.String(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("processed_at", bot.storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_webhook_deliveries_processed_at"), ["processed_at"], unique=False
        )

    op.create_table(
        "incident_alerts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("fingerprint", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("starts_at", bot.storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ends_at", bot.storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("annotations", sa.JSON(), nullable=False),
        sa.Column("generator_url", sa.String(), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("incident_id", "fingerprint"),
    )
    with op.batch_alter_table("incident_alerts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_incident_alerts_incident_id"), ["incident_id"], unique=False
        )

    op.create_table(
        "slack_jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", bot.storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("due_at", bot.storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("lease_until", bot.storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(), nullable=True),
        sa.Column("done_at", bot.storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("failed_at", bot.storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("slack_jobs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_slack_jobs_done_at"), ["done_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_slack_jobs_incident_id"), ["incident_id"], unique=False
        )

    op.create_table(
        "timeline_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("occurred_at", bot.storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", bot.storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("actor", sa.String(), nullable=True),
        sa.Column("text", sa.String(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("link", sa.String(), nullable=True),
        sa.Column("source_key", sa.String(), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("source_key"),
    )
    with op.batch_alter_table("timeline_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_timeline_events_incident_id"), ["incident_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_timeline_events_occurred_at"), ["occurred_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("timeline_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_timeline_events_occurred_at"))
        batch_op.drop_index(batch_op.f("ix_timeline_events_incident_id"))

    op.drop_table("timeline_events")
    with op.batch_alter_table("slack_jobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_slack_jobs_incident_id"))
        batch_op.drop_index(batch_op.f("ix_slack_jobs_done_at"))

    op.drop_table("slack_jobs")
    with op.batch_alter_table("incident_alerts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_incident_alerts_incident_id"))

    op.drop_table("incident_alerts")
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_webhook_deliveries_processed_at"))

    op.drop_table("webhook_deliveries")
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_incidents_group_key"))

    op.drop_table("incidents")
