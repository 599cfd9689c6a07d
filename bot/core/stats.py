"""Incident metrics over a window: the brief's "MTTR" and "change failure rate" rows.

Pure: incidents in, numbers out. Durations are those of `postmortem.durations`
(acknowledge: acknowledged - detected; mitigate: mitigated - impact start;
resolve: resolved - impact start); an incident counts towards a figure only
once it has both ends of it.

Percentiles interpolate linearly between the two nearest ranks (Hyndman & Fan
type 7: numpy's default, Excel's PERCENTILE.INC), so the median of an even
count is the mean of the middle two, and p90 of a few incidents lies between
observed values rather than jumping to the largest.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.core.alerts import format_timestamp
from bot.core.exports import IncidentRecord
from bot.core.incident_rules import SEVERITIES
from bot.core.postmortem import durations

MEASURES = ("time_to_acknowledge", "time_to_mitigate", "time_to_resolve")
NOISY_TOP = 10
_SINCE = re.compile(r"^\s*(\d+)\s*([hdw])\s*$", re.IGNORECASE | re.ASCII)
_UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}


@dataclass(frozen=True)
class DurationSummary:
    count: int  # incidents with both ends of this duration
    median: timedelta | None
    p90: timedelta | None

    def to_json(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "median_seconds": _seconds(self.median),
            "p90_seconds": _seconds(self.p90),
        }


@dataclass(frozen=True)
class NoisyGroup:
    """An alert group that opened incidents again and again: an alert worth fixing."""

    group: str  # its groupLabels as matchers, `alertname="X", service="y"`
    incidents: int
    last_ref: str
    last_started_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "incidents": self.incidents,
            "last": self.last_ref,
            "last_started_at": format_timestamp(self.last_started_at),
        }


def group_name(group_labels: Mapping[str, str]) -> str | None:
    """`alertname="X", service="y"`; None for an incident without an alert group."""
    if not group_labels:
        return None
    return ", ".join(f'{k}="{v}"' for k, v in sorted(group_labels.items()))


def noisy_groups(
    incidents: Iterable[IncidentRecord], groups: Mapping[str, str], *, top: int = NOISY_TOP
) -> tuple[NoisyGroup, ...]:
    """The alert groups that opened the most incidents (ties: the most recent first).
    `groups` maps an incident's ref to its group name; declared incidents have none."""
    counts: Counter[str] = Counter()
    last: dict[str, IncidentRecord] = {}
    for incident in incidents:
        group = groups.get(incident.ref)
        if group is None:
            continue
        counts[group] += 1
        if group not in last or incident.started_at > last[group].started_at:
            last[group] = incident
    ranked = sorted(counts, key=lambda g: (-counts[g], -last[g].started_at.timestamp(), g))
    return tuple(NoisyGroup(g, counts[g], last[g].ref, last[g].started_at) for g in ranked[:top])


@dataclass(frozen=True)
class IncidentStats:
    since: datetime | None
    until: datetime
    incidents: int
    by_severity: dict[str, int]
    time_to_acknowledge: DurationSummary
    time_to_mitigate: DurationSummary
    time_to_resolve: DurationSummary
    mitigated_by_rollback: int
    # mitigated_by_rollback / incidents; None without incidents
    rollback_share: float | None
    noisy_groups: tuple[NoisyGroup, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """Stable names; times ISO 8601 UTC, durations in seconds (null without data)."""
        return {
            "since": format_timestamp(self.since) if self.since else None,
            "until": format_timestamp(self.until),
            "incidents": self.incidents,
            "by_severity": dict(self.by_severity),
            "time_to_acknowledge": self.time_to_acknowledge.to_json(),
            "time_to_mitigate": self.time_to_mitigate.to_json(),
            "time_to_resolve": self.time_to_resolve.to_json(),
            "mitigated_by_rollback": self.mitigated_by_rollback,
            "rollback_share": self.rollback_share,
            "noisy_groups": [g.to_json() for g in self.noisy_groups],
        }


def incident_stats(
    incidents: Iterable[IncidentRecord],
    *,
    rolled_back: AbstractSet[str],
    since: datetime | None,
    now: datetime,
    groups: Mapping[str, str] | None = None,
) -> IncidentStats:
    """Stats of the incidents that started in [since, now]; `rolled_back` holds the
    refs of incidents mitigated by a rollback, `groups` each incident's alert group."""
    chosen = [i for i in incidents if (since is None or i.started_at >= since)]
    chosen = [i for i in chosen if i.started_at <= now]
    spans = [durations(i) for i in chosen]
    by_severity = dict.fromkeys(SEVERITIES, 0)
    by_severity.update(Counter(i.severity for i in chosen))
    summaries = {m: summarise([s[m] for s in spans]) for m in MEASURES}
    rollbacks = sum(1 for i in chosen if i.ref in rolled_back)
    return IncidentStats(
        since=since,
        until=now,
        incidents=len(chosen),
        by_severity=by_severity,
        time_to_acknowledge=summaries["time_to_acknowledge"],
        time_to_mitigate=summaries["time_to_mitigate"],
        time_to_resolve=summaries["time_to_resolve"],
        mitigated_by_rollback=rollbacks,
        rollback_share=rollbacks / len(chosen) if chosen else None,
        noisy_groups=noisy_groups(chosen, groups or {}),
    )


def summarise(values: Sequence[timedelta | None]) -> DurationSummary:
    known = sorted(v for v in values if v is not None)
    return DurationSummary(len(known), percentile(known, 0.5), percentile(known, 0.9))


def percentile(ordered: Sequence[timedelta], q: float) -> timedelta | None:
    """Type 7 percentile of sorted values: rank h = (n - 1) q, interpolated."""
    if not ordered:
        return None
    rank = (len(ordered) - 1) * q
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def parse_since(text: str) -> timedelta:
    """`30d`, `12h`, `2w` -> a timedelta; anything else -> ValueError saying the form."""
    match = _SINCE.match(text)
    if match is None:
        raise ValueError(f"--since wants a number and h, d or w, like 12h, 30d or 2w; got {text!r}")
    count = int(match[1])
    if count == 0:
        raise ValueError(f"--since must be more than zero, got {text!r}")
    try:
        return count * _UNITS[match[2].lower()]
    except OverflowError:
        raise ValueError(f"--since is too far back: {text!r}") from None


def _seconds(value: timedelta | None) -> float | None:
    # Milliseconds are the finest the timeline records; more digits would be noise.
    return round(value.total_seconds(), 3) if value is not None else None
