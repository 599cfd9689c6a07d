"""slack jobs: failing_since (one timeline row per Slack outage), claimed_by (claims a
killed run of the same replica left are released at start)

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 11:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import bot.storage.models

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("slack_jobs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("failing_since", bot.storage.models.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("claimed_by", sa.String(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("slack_jobs", schema=None) as batch_op:
        batch_op.drop_column("claimed_by")
        batch_op.drop_column("failing_since")
