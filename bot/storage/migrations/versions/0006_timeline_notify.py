"""timeline notify: PostgreSQL tells listeners of each new timeline event

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 10:40:00

The live incident page (bot/http/live_timeline.py) LISTENs on `incident_timeline`; a
trigger NOTIFYs the incident id on every insert, whatever code path inserted
it and on whichever replica, delivered when the inserting transaction commits.
SQLite has no NOTIFY: the page polls there.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        """
        CREATE OR REPLACE FUNCTION incident_timeline_notify() RETURNS trigger AS $$
        BEGIN
            PERFORM pg_notify('incident_timeline', NEW.incident_id::text);
            RETURN NEW;
        END;
        $$ LANGUAGE plpgsql
        """
    )
    op.execute(
        """
        CREATE TRIGGER timeline_events_notify AFTER INSERT ON timeline_events
        FOR EACH ROW EXECUTE FUNCTION incident_timeline_notify()
        """
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS timeline_events_notify ON timeline_events")
    op.execute("DROP FUNCTION IF EXISTS incident_timeline_notify()")
