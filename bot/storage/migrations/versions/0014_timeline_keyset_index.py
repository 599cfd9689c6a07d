"""timeline keyset index: (incident_id, occurred_at, id) replaces the index on incident_id

The exports and the incident page read an incident's events a page at a time in
(occurred_at, id) order after the last row seen. With only an index on incident_id,
each page read and sorted every event of the incident again (a 50,000-event export
sorted 50,000 rows ten times); this index hands the rows out in order from the last
one seen. It also serves every lookup by incident_id, so the old index goes and a
write still updates as many indexes as before.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-30 14:45:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_timeline_events_incident_time", "timeline_events", ["incident_id", "occurred_at", "id"]
    )
    op.drop_index("ix_timeline_events_incident_id", table_name="timeline_events")


def downgrade() -> None:
    op.create_index("ix_timeline_events_incident_id", "timeline_events", ["incident_id"])
    op.drop_index("ix_timeline_events_incident_time", table_name="timeline_events")
