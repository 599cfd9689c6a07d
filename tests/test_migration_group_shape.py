"""Upgrading a database with incidents from before silences: their alert group is recovered."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import command

from bot.storage.db import alembic_config, make_engine
from bot.storage.store import IncidentStore

KEY = '{}:{alertname="HighErrorRate", service="payments"}'


async def _upgrade(engine: sa.ext.asyncio.AsyncEngine, revision: str) -> None:
    def upgrade(connection: sa.Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, revision)

    async with engine.begin() as connection:
        await connection.run_sync(upgrade)


async def test_incidents_opened_before_get_their_group_labels(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        await _upgrade(engine, "0008")
        now = datetime.now(UTC).replace(tzinfo=None)
        async with engine.begin() as connection:
            for key in (KEY, "sha256:0f0f", None):
                await connection.execute(
                    sa.text(
                        "INSERT INTO incidents (group_key, title, status, severity, started_at,"
                        " detected_at, source, roles, reminder_state) VALUES (:key, 't',"
                        " 'investigating', 'sev2', :now, :now, 'alertmanager', '{}', '{}')"
                    ),
                    {"key": key, "now": now},
                )
        await _upgrade(engine, "head")
        store = IncidentStore(engine)
        first, hashed, declared = sorted(await store.incidents(), key=lambda i: i.id or 0)
        assert first.group_labels == {"alertname": "HighErrorRate", "service": "payments"}
        assert first.alertname == "HighErrorRate"
        assert hashed.group_labels == {} and hashed.alertname is None
        assert declared.group_labels == {} and declared.alertname is None
    finally:
        await engine.dispose()
