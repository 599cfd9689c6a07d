"""Slack channel names for incidents.

Slack allows lowercase a-z, 0-9, `-` and `_`, at most 80 characters; anything
else is refused with `invalid_name_specials`, so names are cleaned here.
"""

from __future__ import annotations

import re
from datetime import datetime

MAX_LENGTH = 80
_INVALID = re.compile(r"[^a-z0-9_-]+")
_DASHES = re.compile(r"-{2,}")


def slug(text: str) -> str:
    cleaned = _INVALID.sub("-", text.strip().lower())
    return _DASHES.sub("-", cleaned).strip("-_")


def incident_channel_name(
    prefix: str, started_at: datetime, *parts: str | None, suffix: int | None = None
) -> str:
    """`inc-20261126-payments-higherrorrate`, with `-2`, `-3`... when the name is taken."""
    words = [slug(prefix) or "inc", started_at.strftime("%Y%m%d")]
    words += [s for s in (slug(p) for p in parts if p) if s]
    name = "-".join(words)
    tail = f"-{suffix}" if suffix is not None else ""
    return name[: MAX_LENGTH - len(tail)].rstrip("-_") + tail
