"""incident lifecycle

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 11:09:33.205147
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import bot.storage.models

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "slack_events_seen",
        sa.Column("event_id", sa.String(), nullable=False),
        sa.Column("received_at", bot.storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("event_id"),
    )
    op.create_table(
        "action_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("text", sa.String(), nullable=False),
        sa.Column("owner", sa.String(), nullable=True),
        sa.Column("due", sa.String(), nullable=True),
        sa.Column("source", sa.String(), nullable=False, server_default="alertmanager"),
        sa.Column("created_by", sa.String(), nullable=True),
        sa.Column("created_at", bot.storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("action_items", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_action_items_incident_id"), ["incident_id"], unique=False
        )

    op.create_table(
        "reminders_sent",
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("due_at", bot.storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("posted_at", bot.storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("message_ts", sa.String(), nullable=True),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
        ),
        sa.PrimaryKeyConstraint("key"),
    )
    with op.batch_alter_table("reminders_sent", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_reminders_sent_incident_id"), ["incident_id"], unique=False
        )

    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("source", sa.String(), nullable=False, server_default="alertmanager")
        )
        batch_op.add_column(sa.Column("reporter", sa.String(), nullable=True))
        batch_op.add_column(sa.Column("commander", sa.String(), nullable=True))
        batch_op.add_column(
            sa.Column("roles", sa.JSON(), nullable=False, server_default=sa.text("'{}'"))
        )
        batch_op.add_column(
            sa.Column(
                "acknowledged_at", bot.storage.models.UTCDateTime(timezone=True), nullable=True
            )
        )
        batch_op.add_column(
            sa.Column("closed_at", bot.storage.models.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("resolution_summary", sa.String(), nullable=True))
        batch_op.add_column(
            sa.Column(
                "last_status_update_at",
                bot.storage.models.UTCDateTime(timezone=True),
                nullable=True,
            )
        )
        batch_op.add_column(
            sa.Column("reminder_state", sa.JSON(), nullable=False, server_default=sa.text("'{}'"))
        )


def downgrade() -> None:
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.drop_column("reminder_state")
        batch_op.drop_column("last_status_update_at")
        batch_op.drop_column("resolution_summary")
        batch_op.drop_column("closed_at")
        batch_op.drop_column("acknowledged_at")
        batch_op.drop_column("roles")
        batch_op.drop_column("commander")
        batch_op.drop_column("reporter")
        batch_op.drop_column("source")

    with op.batch_alter_table("reminders_sent", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reminders_sent_incident_id"))

    op.drop_table("reminders_sent")
    with op.batch_alter_table("action_items", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_action_items_incident_id"))

    op.drop_table("action_items")
    op.drop_table("slack_events_seen")
