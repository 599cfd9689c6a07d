"""pinned images: copies of the images of pinned messages, for the incident page

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30 11:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import bot.storage.models

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "pinned_images",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("file_id", sa.String(), nullable=False),
        sa.Column("content_type", sa.String(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", bot.storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["event_id"], ["timeline_events.id"]),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("event_id", "file_id"),
    )
    with op.batch_alter_table("pinned_images", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_pinned_images_incident_id"), ["incident_id"])
        batch_op.create_index(batch_op.f("ix_pinned_images_event_id"), ["event_id"])


def downgrade() -> None:
    with op.batch_alter_table("pinned_images", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pinned_images_event_id"))
        batch_op.drop_index(batch_op.f("ix_pinned_images_incident_id"))
    op.drop_table("pinned_images")
