"""channel name reservation: incidents.channel_reserved, unique

Before asking Slack for a channel name, an incident reserves it here. Two incidents of
the same service and alert on the same day want the same name; without the reservation,
one of them retrying after a crash could take the other's new channel (the bot's own,
with no purpose yet and not yet recorded) for the one it lost. With it, only the
incident holding a name ever asks Slack for it or adopts a channel of that name.

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-30 20:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        batch.add_column(sa.Column("channel_reserved", sa.String(), nullable=True))
    op.create_index("ix_incidents_channel_reserved", "incidents", ["channel_reserved"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_incidents_channel_reserved", table_name="incidents")
    with op.batch_alter_table("incidents") as batch:
        batch.drop_column("channel_reserved")
