""" "Have we seen this before?": past incidents like this one, ranked, and what fixed them.

Pure: the shell reads candidate incidents (and their rollbacks, fix notes and
resolve summaries) and hands them here with `now`.

Ranking: the same alert group (group key, or the same `groupLabels`) first, then
the same service and alertname, then the same service; within each, the most
recent first. Only the first two count as "seen before": an incident of the
same service but another alert is related, not a repeat.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import IntEnum

from bot.core.block_kit import clip, lines_within
from bot.core.escaping import mrkdwn
from bot.core.lifecycle import format_duration

WINDOW = timedelta(days=90)
# Alertmanager's group key: `<route path>:{name="value", ...}`, values escaped as in Go;
# the route path is `{}` or `{}/{...}`, so the label set starts after the first `}:{`.
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
_GO_ESCAPES = {"n": "\n", '"': '"', "\\": "\\"}
LIST_LIMIT = 10
LINE_TEXT = 1_000  # one past incident: a long fix or summary is cut
LIST_TEXT = 6_000
FIX_NOTE = re.compile(r"^\s*fix(?:ed)?\s*[:\-]\s*", re.IGNORECASE)


class Likeness(IntEnum):
    SAME_SERVICE = 1
    SAME_ALERT = 2  # same service and alertname
    SAME_GROUP = 3  # same group key, or the same groupLabels

    @property
    def label(self) -> str:
        return {1: "same service", 2: "same alert", 3: "same alert group"}[self.value]


@dataclass(frozen=True)
class Shape:
    """What an incident's alert group looks like."""

    group_key: str | None = None
    service: str | None = None
    alertname: str | None = None
    group_labels: Mapping[str, str] | None = None


@dataclass(frozen=True)
class Fix:
    """What ended an incident, as one phrase: "by rolling back ...", "fix: ...", ..."""

    kind: str  # "rollback", "note", "summary"
    text: str


@dataclass(frozen=True)
class PastIncident:
    id: int
    ref: str
    title: str
    shape: Shape
    status: str
    started_at: datetime
    mitigated_at: datetime | None = None
    resolved_at: datetime | None = None
    channel_id: str | None = None
    fix: Fix | None = None


# past incident -> how Slack shows it: its ref linked to the channel (and page, when there is one)
LinkMaker = Callable[[PastIncident], str]


@dataclass(frozen=True)
class Similar:
    incident: PastIncident
    likeness: Likeness


def likeness(current: Shape, past: Shape) -> Likeness | None:
    if current.group_key and current.group_key == past.group_key:
        return Likeness.SAME_GROUP
    if current.group_labels and dict(current.group_labels) == dict(past.group_labels or {}):
        return Likeness.SAME_GROUP
    if current.service and current.service == past.service:
        if current.alertname and current.alertname == past.alertname:
            return Likeness.SAME_ALERT
        return Likeness.SAME_SERVICE
    return None


def rank(
    current: Shape,
    candidates: Iterable[PastIncident],
    *,
    now: datetime,
    exclude: int | None = None,
    window: timedelta = WINDOW,
) -> list[Similar]:
    """Past incidents like `current` that started in [now - window, now], best first."""
    found = []
    for past in candidates:
        if past.id == exclude or not (now - window <= past.started_at <= now):
            continue
        how = likeness(current, past.shape)
        if how is not None:
            found.append(Similar(past, how))
    found.sort(key=lambda s: (-s.likeness, -s.incident.started_at.timestamp(), -s.incident.id))
    return found


def repeats(similar: Sequence[Similar]) -> list[Similar]:
    """The ones that count as "seen before": the same group, or the same service and alert."""
    return [s for s in similar if s.likeness >= Likeness.SAME_ALERT]


def choose_fix(
    *,
    rollback: tuple[str, int, Sequence[str]] | None,
    fix_note: str | None,
    summary: str | None,
) -> Fix | None:
    """A completed rollback (deployment, revision, images) says most; then a note marked as
    the fix (`/incident note fix: ...`); then the resolve summary."""
    if rollback is not None:
        deployment, revision, images = rollback
        shown = ", ".join(f"`{i.rsplit(':', 1)[-1]}`" for i in images)
        tail = f" ({shown})" if shown else ""
        return Fix("rollback", f"by rolling back {deployment} to revision {revision}{tail}")
    if fix_note:
        return Fix("note", f"fix: {FIX_NOTE.sub('', fix_note, count=1).strip()}")
    if summary:
        return Fix("summary", f"resolved: {summary.strip()}")
    return None


def group_labels_from_key(group_key: str | None) -> dict[str, str]:
    """The `groupLabels` a group key was made of (for incidents stored before the labels
    were); {} for a key of another form (escaped or hashed when stored)."""
    key = group_key or ""
    start = key.find("}:{")
    if start < 0 or not key.endswith("}"):
        return {}
    return {
        name: re.sub(r"\\(.)", lambda m: _GO_ESCAPES.get(m[1], m[1]), value)
        for name, value in _LABEL.findall(key[start + 2 :])
    }


def is_fix_note(text: str) -> bool:
    return FIX_NOTE.match(text) is not None


def ago(then: datetime, now: datetime) -> str:
    seconds = max(0, (now - then).total_seconds())
    if seconds < 3600:
        return f"{max(1, round(seconds / 60))} min ago"
    if seconds < 2 * 86400:
        hours = round(seconds / 3600)
        return f"{hours} hour{'s' if hours != 1 else ''} ago"
    return f"{round(seconds / 86400)} days ago"


def outcome(past: PastIncident) -> str:
    """How it ended: "mitigated in 14 min by rolling back ...", "resolved after 2 h: ..."."""
    fix = past.fix
    if past.mitigated_at is not None:
        text = f"mitigated in {format_duration(past.mitigated_at - past.started_at)}"
        if fix is not None:
            text += f" {fix.text}" if fix.kind == "rollback" else f"; {fix.text}"
        return text
    if past.resolved_at is not None:
        text = f"resolved after {format_duration(past.resolved_at - past.started_at)}"
        if fix is None:
            return text
        if fix.kind == "summary":
            return f"{text}: {fix.text.removeprefix('resolved: ')}"
        return f"{text}; {fix.text}"
    return f"still {past.status}" + (f"; {fix.text}" if fix is not None else "")


def seen_before_line(
    similar: Sequence[Similar], now: datetime, *, link: LinkMaker, window: timedelta = WINDOW
) -> str:
    """The line for the room's first message."""
    seen = repeats(similar)
    if not seen:
        return f"Not seen before: no incident of this alert in the last {window.days} days."
    oldest = min(s.incident.started_at for s in seen)
    days = max(1, round((now - oldest).total_seconds() / 86400))
    last = seen[0].incident
    times = "once" if len(seen) == 1 else f"{len(seen)} times"
    return (
        f":repeat: Seen {times} in {days} day{'s' if days != 1 else ''}. "
        f"Last: {link(last)}, {ago(last.started_at, now)}, {mrkdwn(clip(outcome(last), LINE_TEXT))}"
        + ("" if len(seen) == 1 else ". `/incident similar` lists them")
    )


def similar_line(s: Similar, now: datetime, *, link: LinkMaker) -> str:
    past = s.incident
    return (
        f"• {link(past)} {ago(past.started_at, now)} · {mrkdwn(past.title[:150])} · "
        f"{mrkdwn(outcome(past))}"
        f" · _{s.likeness.label}_"
    )


def similar_list(
    similar: Sequence[Similar], now: datetime, *, link: LinkMaker, limit: int = LIST_LIMIT
) -> str:
    if not similar:
        return f"No similar incident in the last {WINDOW.days} days."
    lines = [f"*Similar incidents* (last {WINDOW.days} days, best match first)"]
    lines += [clip(similar_line(s, now, link=link), LINE_TEXT) for s in similar[:limit]]
    # Slack refuses a reply over 40,000 characters: long fixes are cut, each line kept whole.
    return lines_within(lines, LIST_TEXT, lambda n: f"… and {n} more")
