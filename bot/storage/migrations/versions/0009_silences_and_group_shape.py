"""silences, and each incident's alert group shape

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 10:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import bot.storage.models
from bot.core.similar import group_labels_from_key

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("group_labels", sa.JSON(), nullable=False, server_default=sa.text("'{}'"))
        )
        batch_op.add_column(sa.Column("alertname", sa.String(), nullable=True))
        batch_op.create_index("ix_incidents_alertname", ["alertname"], unique=False)
    op.create_index("ix_incidents_service_started", "incidents", ["service", "started_at"])
    _backfill_group_shape()
    op.create_table(
        "silences",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("silence_id", sa.String(), nullable=False),
        sa.Column("matchers", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.String(), nullable=False),
        sa.Column("created_by_name", sa.String(), nullable=False),
        sa.Column("reason", sa.String(), nullable=True),
        sa.Column("comment", sa.String(), nullable=False),
        sa.Column("keep", sa.Boolean(), nullable=False),
        sa.Column("starts_at", bot.storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ends_at", bot.storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("channel_id", sa.String(), nullable=True),
        sa.Column("message_ts", sa.String(), nullable=True),
        sa.Column("expired_at", bot.storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("expired_by", sa.String(), nullable=True),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("silence_id"),
    )
    op.create_index("ix_silences_incident_id", "silences", ["incident_id"], unique=False)


def _backfill_group_shape() -> None:
    """Incidents opened before this revision: their groupLabels from the group key, so a
    still-open one can be silenced and past ones count as "seen before"."""
    bind = op.get_bind()
    rows = bind.execute(
        sa.text("SELECT id, group_key FROM incidents WHERE group_key IS NOT NULL")
    ).fetchall()
    update = sa.text(
        "UPDATE incidents SET group_labels = :labels, alertname = :alertname WHERE id = :id"
    ).bindparams(sa.bindparam("labels", type_=sa.JSON()))
    for incident_id, group_key in rows:
        labels = group_labels_from_key(group_key)
        if labels:
            bind.execute(
                update, {"labels": labels, "alertname": labels.get("alertname"), "id": incident_id}
            )


def downgrade() -> None:
    op.drop_index("ix_silences_incident_id", table_name="silences")
    op.drop_table("silences")
    op.drop_index("ix_incidents_service_started", table_name="incidents")
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.drop_index("ix_incidents_alertname")
        batch_op.drop_column("alertname")
        batch_op.drop_column("group_labels")
