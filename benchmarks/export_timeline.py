"""Benchmark: a 50,000-event timeline through the HTTP API (CSV, JSON, Markdown) and its page.

    python benchmarks/export_timeline.py [--events 50000] [--database sqlite|postgres]
                                         [--max-seconds 2] [--slack-down]

Starts the real bot (its aiohttp server, the real store) on a fresh database (a SQLite
file, or a scratch database on the local PostgreSQL, dropped afterwards) filled with
`--events` note events, then times `GET /api/v1/incidents/1/timeline?format=...`
for each format, reading the whole streamed body, as a client would. Prints one line
per format (wall seconds, the bot's CPU seconds, MB, events/s) and the bot
process's peak memory growth. With
`--max-seconds`, exits 1 if any export took longer (CI runs it briefly without it).

Slack is the zero-latency stand-in (as in the ingest benchmark), knowing the on-call
person: the first export asks it for the name, the next ones find it in the bot's
cache, as in production. `--slack-down` points the bot at a closed port instead: each
export then waits for its name lookups to fail (the Slack client's connection retries,
about 2-3 s), which is what this benchmark measured before it had a Slack.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from pydantic import SecretStr

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.runtime import BotRuntime, Tuning
from bot.settings import Catalog, Settings
from bot.storage.models import Incident, TimelineEvent
from standins.fake_slack import FakeSlack

TOKEN = "benchmark-api-token"  # noqa: S105 - a local benchmark's throwaway token
T0 = datetime(2024, 6, 15, 14, 0, tzinfo=UTC)
POSTGRES_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


async def fill(bot: BotRuntime, count: int) -> None:
    started = T0
    incident = await bot.store.save(
        Incident(title="Benchmark incident", severity="sev2", service="payments",
                 started_at=started, detected_at=started + timedelta(seconds=30),
                 acknowledged_at=started + timedelta(minutes=2),
                 identified_at=started + timedelta(minutes=20),
                 mitigated_at=started + timedelta(minutes=40), status="monitoring")
    )  # fmt: skip
    batch = 5000
    for first in range(0, count, batch):
        rows = [
            {
                "incident_id": incident.id,
                "occurred_at": started + timedelta(seconds=i / 10),
                "recorded_at": started + timedelta(seconds=i / 10 + 0.75),
                "kind": ("note", "alert_firing", "command", "status_changed")[i % 4],
                "actor": "U0ONCALL1" if i % 3 else "incident-bot",
                "text": f'step {i}: "quoted", ünïcode ✓, a | pipe, =formula-looking',
                "details": {"i": i, "service": "payments"},
                "link": f"https://example.slack.com/archives/C0INC/p{1718460000000000 + i}",
                "source_key": f"bench:{i}",
            }
            for i in range(first, min(first + batch, count))
        ]
        async with bot.store.unit() as unit:
            connection = await unit.session.connection()
            await connection.execute(sa.insert(TimelineEvent), rows)


def _cpu() -> float:
    """CPU seconds this process (the bot) used: on a busy machine wall time also
    counts other programs' turns, CPU time does not."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def fetch(url: str, *, person: str | None = None) -> tuple[float, int]:
    """(seconds, bytes) of one GET read to the end by curl: a client in its own process,
    so it takes no CPU time from the bot's."""
    process = await asyncio.create_subprocess_exec(
        "curl", "--silent", "--show-error", "--fail", "--output", "/dev/null",
        "--write-out", "%{time_total} %{size_download}",
        "--header", f"Authorization: Bearer {TOKEN}",
        *(["--header", f"X-Auth-Request-Email: {person}"] if person else []), url,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"curl {url}: {err.decode().strip()}")
    seconds, size = out.decode().split()
    return float(seconds), int(size)


async def run(events: int, database: str, max_seconds: float | None, slack_down: bool) -> int:
    slack = FakeSlack()
    slack.add_user("U0ONCALL1", name="dana")
    await slack.start()
    try:
        return await run_bot(events, database, max_seconds, None if slack_down else slack)
    finally:
        await slack.stop()


async def run_bot(
    events: int, database: str, max_seconds: float | None, slack: FakeSlack | None
) -> int:
    args = (events, database, max_seconds, slack)
    if database == "sqlite":
        with tempfile.TemporaryDirectory() as workdir:
            return await run_bot_on(f"sqlite:///{Path(workdir) / 'bench.db'}", *args)
    # A database of its own on the local PostgreSQL, dropped afterwards: the benchmark
    # never touches a database someone else uses.
    name = f"incident_bot_export_bench_{os.getpid()}"
    await admin(f'DROP DATABASE IF EXISTS "{name}"', f'CREATE DATABASE "{name}"')
    try:
        return await run_bot_on(f"postgresql://postgres@127.0.0.1:5432/{name}", *args)
    finally:
        await admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def admin(*statements: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(POSTGRES_ADMIN)
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


async def run_bot_on(
    url: str, events: int, database: str, max_seconds: float | None, slack: FakeSlack | None
) -> int:
    settings = Settings(
        slack_bot_token=SecretStr(slack.bot_token if slack else "xoxb-benchmark"),
        slack_api_url=slack.url if slack else "http://127.0.0.1:9/",
        database_url=url,
        api_token=SecretStr(TOKEN),
        prometheus_url="http://127.0.0.1:9",
        web_secret=SecretStr("b" * 40),
        web_auth_user_header="X-Auth-Request-Email",
        web_trusted_proxies="127.0.0.1/32",
    )
    bot = BotRuntime(settings, catalog=Catalog(), tuning=Tuning(poll_interval=3600))
    await bot.start(host="127.0.0.1", port=0)
    try:
        await fill(bot, events)
        if database == "postgres":
            # What autovacuum does within a minute of a storm of inserts: without the
            # table's statistics the planner reads every later row of the incident
            # for each page of the export.
            async with bot.store.engine.connect() as connection:
                await connection.execute(sa.text("ANALYZE timeline_events"))
                await connection.commit()
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        slow = []
        for fmt in ("csv", "json", "md"):
            cpu_before = _cpu()
            took, size = await fetch(f"{bot.url}/api/v1/incidents/1/timeline?format={fmt}")
            cpu = _cpu() - cpu_before
            print(
                f"{database:8} {events:>7,} events  {fmt:4} {took:6.2f} s  "
                f"(bot CPU {cpu:5.2f} s)  {size / 1e6:6.1f} MB  "
                f"{events / took:>9,.0f} events/s"
            )
            if max_seconds is not None and took > max_seconds:
                slow.append(f"{fmt} took {took:.2f} s")
        # The incident page of the same incident: its first page of events.
        took, size = await fetch(f"{bot.url}/incidents/1", person="bench@example.com")
        print(f"{database:8} {events:>7,} events  page {took:6.2f} s  {size / 1e3:6.0f} kB")
        growth = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before
        print(f"peak memory growth while exporting: {growth / 1024:.1f} MiB")
    finally:
        await bot.stop()
    if slow:
        print(f"over {max_seconds} s: {', '.join(slow)}", file=sys.stderr)
        return 1
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--max-seconds", type=float, default=None)
    parser.add_argument(
        "--slack-down", action="store_true", help="Slack unreachable: names time out"
    )
    args = parser.parse_args()
    return asyncio.run(run(args.events, args.database, args.max_seconds, args.slack_down))


if __name__ == "__main__":
    sys.exit(main())
