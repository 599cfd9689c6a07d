"""StoreBase: the engine, its sessions and units, which every part of the store shares.

`IncidentStore` is made of parts (its rows, the Slack job queue, the timeline and report
reads), one module each; they all read and write through what this base holds.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.storage.unit import Unit

T = TypeVar("T", bound=SQLModel)


class StoreBase:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._sessions = async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @asynccontextmanager
    async def unit(self) -> AsyncIterator[Unit]:
        async with self._sessions() as session, session.begin():
            yield Unit(session, self.dialect)
