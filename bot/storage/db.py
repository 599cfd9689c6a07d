"""Database engine and migrations (Alembic, run in-process before serving)."""

from __future__ import annotations

import enum
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bot.settings import async_database_url

_MIGRATIONS = Path(__file__).parent / "migrations"


def make_engine(database_url: str) -> AsyncEngine:
    url = async_database_url(database_url)
    engine = create_async_engine(url, pool_pre_ping=True)
    if engine.dialect.name == "sqlite":
        sa.event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


def sqlite_connect(url: sa.URL) -> sqlite3.Connection:
    """A plain sqlite3 connection to the engine's file, in autocommit mode (each statement
    commits on its own), with the same pragmas (group commit's own thread writes on it)."""
    connection = sqlite3.connect(
        url.database or ":memory:", isolation_level=None, check_same_thread=False
    )
    _sqlite_pragmas(connection, None)
    return connection


def sqlite_time(value: datetime) -> str:
    """An aware time as SQLAlchemy's SQLite DATETIME stores it (naive UTC), for statements
    written for the driver, so that the ORM reads it back."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers go on while the worker writes; busy_timeout waits instead of failing.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # Said, not assumed: a commit is on disk before the webhook hears 200 (group commit
    # makes that one fsync per batch, not per request).
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    return config


async def migrate(engine: AsyncEngine) -> None:
    def upgrade(connection: sa.Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, "head")

    async with engine.begin() as connection:
        await connection.run_sync(upgrade)


class Schema(enum.Enum):
    """Where a database stands against this code's migrations."""

    MISSING = "missing"  # a SQLite file that does not exist yet
    EMPTY = "empty"  # reachable, never migrated
    BEHIND = "behind"  # an older revision: `serve` migrates it
    CURRENT = "current"
    AHEAD = "ahead"  # a revision this code does not know: written by a newer incident-bot


@dataclass(frozen=True)
class SchemaState:
    schema: Schema
    revision: str | None
    head: str

    def describe(self, shown_url: str) -> str:
        """One phrase a person can act on."""
        return {
            Schema.MISSING: f"{shown_url}: no database yet",
            Schema.EMPTY: f"{shown_url}: reachable, no incident-bot tables yet",
            Schema.BEHIND: (
                f"{shown_url}: at revision {self.revision}, this version needs {self.head}"
            ),
            Schema.CURRENT: f"{shown_url}: reachable, at the newest migration",
            Schema.AHEAD: (
                f"{shown_url}: at revision {self.revision}, newer than this version of "
                f"incident-bot knows (newest {self.head})"
            ),
        }[self.schema]


def missing_sqlite_file(database_url: str) -> str | None:
    """The path of a SQLite database file that does not exist (connecting would create it)."""
    try:
        url = sa.make_url(async_database_url(database_url))
    except (sa.exc.ArgumentError, ValueError):
        return None
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return None if Path(url.database).exists() else url.database


async def schema_state(database_url: str, engine: AsyncEngine | None = None) -> SchemaState:
    """The database's state, without creating or changing anything.

    A SQLite file that does not exist is reported as `MISSING` before connecting (connecting
    would create it). Errors of the driver (refused, auth, unknown database) propagate.
    """
    script = ScriptDirectory.from_config(alembic_config())
    head = script.get_current_head()
    assert head is not None
    if missing_sqlite_file(database_url) is not None:
        return SchemaState(Schema.MISSING, None, head)

    def current(connection: sa.Connection) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    own = engine is None
    engine = engine or make_engine(database_url)
    try:
        async with engine.connect() as connection:
            revision = await connection.run_sync(current)
    finally:
        if own:
            await engine.dispose()
    if revision is None:
        return SchemaState(Schema.EMPTY, None, head)
    if revision == head:
        return SchemaState(Schema.CURRENT, revision, head)
    known = {rev.revision for rev in script.walk_revisions()}
    return SchemaState(Schema.BEHIND if revision in known else Schema.AHEAD, revision, head)


async def is_migrated(engine: AsyncEngine) -> bool:
    """True when the database is reachable and at the newest revision."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()

    def current(connection: sa.Connection) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    async with engine.connect() as connection:
        return await connection.run_sync(current) == head
