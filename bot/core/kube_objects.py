"""Reading Kubernetes JSON that may not have the shape the docs promise.

An older or newer API server can leave a field out, send `null` for it, or (rarely)
a different type; every reader here answers a default instead of raising, so one
odd object costs only its own missing detail, never the whole answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from bot.core.alerts import parse_timestamp

Obj = Mapping[str, Any]


def dig(obj: Any, *path: str, default: Any = None) -> Any:
    """`obj[path[0]][path[1]]...`, or `default` where a step is missing or not a mapping."""
    current: Any = obj
    for key in path:
        if not isinstance(current, Mapping) or key not in current:
            return default
        current = current[key]
    return default if current is None else current


def text(obj: Any, *path: str) -> str | None:
    value = dig(obj, *path)
    return value if isinstance(value, str) and value else None


def number(obj: Any, *path: str, default: int = 0) -> int:
    value = dig(obj, *path)
    if isinstance(value, bool):
        return int(value)
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def mappings(obj: Any, *path: str) -> list[Obj]:
    """The list at `path`, keeping only its objects (a list of anything else reads as [])."""
    value = dig(obj, *path)
    return [item for item in value if isinstance(item, Mapping)] if isinstance(value, list) else []


def time_of(value: Any) -> datetime | None:
    """An RFC 3339 timestamp, or None for a missing or unreadable one."""
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not value:
        return None
    try:
        return parse_timestamp(value)
    except ValueError:
        return None
