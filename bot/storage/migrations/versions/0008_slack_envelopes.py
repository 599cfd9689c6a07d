"""slack envelopes

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 10:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import bot.storage.models

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "slack_envelopes",
        sa.Column("envelope_id", sa.String(), nullable=False),
        sa.Column("claimed_at", bot.storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("acked_at", bot.storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("ack", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("envelope_id"),
    )


def downgrade() -> None:
    op.drop_table("slack_envelopes")
