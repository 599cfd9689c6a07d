"""`incident-bot deliveries [--failed] [--retry ID]`: the Alertmanager deliveries not processed.

Lists what is pending, retrying or parked (oldest first, with attempts and the last
error); `--retry ID` un-parks one so the running bot processes it again, for
example after an upgrade fixed what made it fail. It reads `DATABASE_URL` and
never creates or migrates a database.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import click

from bot.cli.reports import require_database
from bot.core.alerts import format_timestamp
from bot.core.untrusted_text import clean_text, key_from_storable
from bot.settings import ConfigError, load_settings
from bot.storage.db import make_engine
from bot.storage.deliveries import DeliveryQueue
from bot.storage.models import WebhookDelivery
from bot.storage.store import IncidentStore


def _state(row: WebhookDelivery) -> str:
    if row.failed_at is not None:
        return "failed"
    return "retrying" if row.attempts else "pending"


def _lines(rows: Sequence[WebhookDelivery]) -> list[str]:
    lines = ["ID\tRECEIVED\tSTATE\tATTEMPTS\tGROUP\tLAST ERROR"]
    for row in rows:
        group = clean_text(key_from_storable(row.group_key))
        error = (row.last_error or "").splitlines()[0] if row.last_error else ""
        lines.append(
            f"{row.id}\t{format_timestamp(row.received_at)}\t{_state(row)}\t{row.attempts}"
            f"\t{group}\t{error}"
        )
    return lines


async def _run(database_url: str, failed: bool, retry: int | None) -> list[str]:
    engine = make_engine(database_url)
    try:
        await require_database(database_url, engine)
        queue = DeliveryQueue(IncidentStore(engine))
        if retry is not None:
            if not await queue.retry(retry):
                raise click.ClickException(
                    f"delivery {retry} is not parked as failed "
                    "(see incident-bot deliveries --failed)"
                )
            return [f"delivery {retry} is queued again; the running bot processes it next"]
        rows = await queue.listing(failed_only=failed)
        if not rows:
            return ["no failed deliveries" if failed else "no pending deliveries"]
        return _lines(rows)
    finally:
        await engine.dispose()


@click.command()
@click.option("--failed", is_flag=True, help="only the deliveries parked as failed")
@click.option("--retry", type=int, default=None, metavar="ID", help="replay a failed delivery")
def deliveries(failed: bool, retry: int | None) -> None:
    """Alertmanager deliveries not processed yet: pending, retrying, failed."""
    try:
        settings = load_settings()
    except ConfigError as e:
        raise click.ClickException(str(e)) from e
    for line in asyncio.run(_run(settings.database_url, failed, retry)):
        click.echo(line)
