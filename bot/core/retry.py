"""When to try a failed piece of work again: exponential backoff with a cap."""

from __future__ import annotations

from datetime import timedelta


def backoff(attempts: int, *, base: float, cap: float) -> timedelta:
    """The wait after the `attempts`-th failure: base, 2 base, 4 base, ... at most cap."""
    return timedelta(seconds=min(cap, base * 2 ** max(0, attempts - 1)))
