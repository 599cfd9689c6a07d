"""`incident-bot check`'s deliveries row: is any Alertmanager delivery parked as failed?"""

from __future__ import annotations

import asyncio

from bot.cli.check.results import CheckResult, ok, problem
from bot.settings import Settings
from bot.storage.db import Schema, make_engine, missing_sqlite_file, schema_state
from bot.storage.deliveries import DeliveryQueue
from bot.storage.store import IncidentStore


async def check_deliveries(
    settings: Settings, *, timeout: float, database_ready: bool
) -> list[CheckResult]:
    """No row when the database row already says it cannot be read."""
    if not database_ready or missing_sqlite_file(settings.database_url) is not None:
        return []  # and never create the file by connecting
    engine = make_engine(settings.database_url)
    try:
        async with asyncio.timeout(timeout):
            state = await schema_state(settings.database_url, engine)
            if state.schema is not Schema.CURRENT:
                return []  # nothing stored yet, or a schema this code cannot read
            counts = await DeliveryQueue(IncidentStore(engine)).counts()
    except Exception:  # the database row reports why the database cannot be read
        return []
    finally:
        await engine.dispose()
    if counts.failed:
        return [
            problem(
                "deliveries",
                f"{counts.failed} Alertmanager deliveries parked as failed, "
                f"{counts.pending} pending",
                "see incident-bot deliveries --failed; after a fix, replay each with "
                "incident-bot deliveries --retry ID",
            )
        ]
    return [ok("deliveries", f"none failed, {counts.pending} pending")]
