"""slack events stored

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 11:55:16.868827
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import bot.storage.models

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("slack_events_seen", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("event", sa.JSON(), nullable=False, server_default=sa.text("'{}'"))
        )
        batch_op.add_column(
            sa.Column("processed_at", bot.storage.models.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("slack_events_seen", schema=None) as batch_op:
        batch_op.drop_column("processed_at")
        batch_op.drop_column("event")
