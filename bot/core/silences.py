"""Alertmanager silences for an incident's alert group: the decisions, no I/O.

A silence covers exactly the incident's alert group: one equality matcher per
`groupLabels` entry, so it mutes that group and nothing wider. Durations are a
number and `m` or `h` (`30m`, `1h`, `4h`, `90m`), never longer than the
catalog's `incident.max_silence_hours`.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.core.lifecycle import format_duration

DEFAULT_DURATION = timedelta(hours=1)
DURATION_CHOICES = ("30m", "1h", "4h")
_DURATION = re.compile(r"^(\d{1,5})(m|min|h|hr|d)$", re.IGNORECASE | re.ASCII)
_UNIT = {"m": 60, "min": 60, "h": 3600, "hr": 3600, "d": 86400}


class SilenceRefused(ValueError):
    """The silence cannot be made; the message says why and what to do instead."""


@dataclass(frozen=True)
class Matcher:
    name: str
    value: str

    def to_api(self) -> dict[str, Any]:
        """Alertmanager API v2's matcher: equality, not a regex."""
        return {"name": self.name, "value": self.value, "isRegex": False, "isEqual": True}

    def __str__(self) -> str:
        return f'{self.name}="{self.value}"'


def looks_like_duration(word: str) -> bool:
    """A word that starts with a digit is meant as a duration, even if it is not one."""
    return bool(word) and word[0].isdigit()


def parse_duration(text: str) -> timedelta:
    """`30m`, `1h`, `4h`, `90m`, `2d` -> timedelta; anything else -> SilenceRefused."""
    match = _DURATION.match(text.strip())
    if match is None or int(match[1]) == 0:
        raise SilenceRefused(
            f"Unknown duration {text!r}: give minutes or hours, like {', '.join(DURATION_CHOICES)}"
        )
    return timedelta(seconds=int(match[1]) * _UNIT[match[2].lower()])


def check_duration(duration: timedelta, max_hours: float) -> timedelta:
    limit = timedelta(hours=max_hours)
    if duration > limit:
        raise SilenceRefused(
            f"{format_duration(duration)} is longer than this bot allows: at most "
            f"{format_duration(limit)} (incident.max_silence_hours)"
        )
    return duration


def group_matchers(group_labels: Mapping[str, str]) -> tuple[Matcher, ...]:
    """The group's labels as equality matchers, by name; refused when there are none,
    because a silence without matchers would mute every alert."""
    matchers = tuple(Matcher(k, v) for k, v in sorted(group_labels.items()) if k and v)
    if not matchers:
        raise SilenceRefused(
            "This incident has no alert group to silence (it was declared by hand, or its "
            "group has no labels)"
        )
    return matchers


def format_matchers(matchers: Sequence[Matcher] | Sequence[Mapping[str, Any]]) -> str:
    parts = []
    for m in matchers:
        if isinstance(m, Matcher):
            parts.append(str(m))
        else:
            op = ("=" if m.get("isEqual", True) else "!=") + ("~" if m.get("isRegex") else "")
            parts.append(f'{m.get("name")}{op}"{m.get("value")}"')
    return ", ".join(parts)


def silence_comment(ref: str, channel_link: str | None, reason: str | None) -> str:
    """What Alertmanager's UI shows beside the silence: why, and where to read more."""
    parts = [f"{ref}: silenced from the incident channel"]
    if channel_link:
        parts.append(channel_link)
    if reason:
        parts.append(reason)
    return " | ".join(parts)


def silence_window(now: datetime, duration: timedelta) -> tuple[datetime, datetime]:
    return now, now + duration


@dataclass(frozen=True)
class Permission:
    allowed: bool
    reason: str = ""


def may_silence(
    user: str,
    *,
    user_groups: Collection[str],
    channel_members: Collection[str] | None,
    allowed_users: Collection[str],
    allowed_groups: Collection[str],
) -> Permission:
    """`silence.allowed_users/groups` when either is set; else the incident channel's members
    (None: membership unknown, so refused)."""
    if allowed_users or allowed_groups:
        if user in allowed_users or any(g in allowed_groups for g in user_groups):
            return Permission(True)
        return Permission(False, "you are not in silence.allowed_users or silence.allowed_groups")
    if channel_members is None:
        return Permission(False, "could not read the channel's members to check who may silence")
    if user in channel_members:
        return Permission(True)
    return Permission(False, "only members of the incident channel may silence its alerts")


@dataclass(frozen=True)
class SilenceView:
    """A silence as the bot shows it."""

    row_id: int
    silence_id: str
    matchers: tuple[Mapping[str, Any], ...]
    created_by: str  # Slack user id
    starts_at: datetime
    ends_at: datetime
    reason: str | None
    keep: bool
    expired_at: datetime | None = None
    expired_by: str | None = None


def state(silence: SilenceView, now: datetime) -> str:
    if silence.expired_at is not None:
        return "expired"
    return "active" if silence.ends_at > now else "ended"


def to_expire_on_resolve(silences: Sequence[SilenceView], now: datetime) -> list[SilenceView]:
    """Active silences not made with --keep."""
    return [s for s in silences if not s.keep and state(s, now) == "active"]
