"""What the timeline says when Slack cannot be reached for a while: pure decisions.

slack-sdk retries a short hiccup in place and the outbox retries longer ones without
a word; past a minute people should know why the channel is quiet, once per outage
(not once per retry), and once more when the messages went out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bot.core.alerts import format_timestamp
from bot.core.lifecycle import format_duration

UNREACHABLE_AFTER = timedelta(minutes=1)


@dataclass(frozen=True)
class OutageNote:
    incident_id: int
    kind: str
    text: str
    source_key: str  # one per incident and outage: a repeated note adds no row
    occurred_at: datetime


def _stamp(at: datetime) -> str:
    """To the second, as people read it (the row's own time keeps the milliseconds)."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def unreachable_note(
    incident_id: int, failing_since: datetime, now: datetime, waiting: int
) -> OutageNote | None:
    """The note once Slack has failed for longer than UNREACHABLE_AFTER, else None."""
    if now - failing_since < UNREACHABLE_AFTER:
        return None
    return OutageNote(
        incident_id,
        "slack_unreachable",
        f"Slack unreachable since {_stamp(failing_since)}, {waiting} messages waiting",
        f"incident:{incident_id}:slack-unreachable:{format_timestamp(failing_since)}",
        now,
    )


def delivered_note(incident_id: int, failing_since: datetime, now: datetime) -> OutageNote | None:
    """The note when the job that met the outage went through; None after a short hiccup."""
    if now - failing_since < UNREACHABLE_AFTER:
        return None
    return OutageNote(
        incident_id,
        "slack_delivered",
        f"Slack reachable again: messages delivered after {format_duration(now - failing_since)}"
        f" (unreachable since {_stamp(failing_since)})",
        f"incident:{incident_id}:slack-delivered:{format_timestamp(failing_since)}",
        now,
    )
