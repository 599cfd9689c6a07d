"""`Startable`: ``async with`` over a stand-in's ``start()`` / ``stop()``."""

from __future__ import annotations

from abc import ABC, abstractmethod
from types import TracebackType
from typing import Self


class Startable(ABC):
    """Mixin: ``async with x`` awaits ``x.start()`` (no arguments) and later ``x.stop()``.

    Subclasses define both; ``start`` may take extra parameters with defaults.
    """

    @abstractmethod
    async def start(self) -> None:
        """Start serving (or running)."""

    @abstractmethod
    async def stop(self) -> None:
        """Stop; safe to call when not started."""

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
