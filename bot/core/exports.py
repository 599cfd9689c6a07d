"""Timeline exports (JSON, CSV, Markdown): pure, streaming, no I/O.

The shell passes an incident and an iterable of its events (a database cursor
for a 50,000-event incident); each export returns an iterator of text chunks
that the shell writes out one by one, encoded as UTF-8. No export holds more
than one event at a time, so memory stays flat whatever the timeline's size.
Events are expected in `occurred_at` order (the store's order); the exports do
not sort, because sorting would need the whole timeline in memory.

Times: JSON and CSV are read by programs and carry milliseconds
(`2024-06-15T14:32:05.123Z`, `format_timestamp`); Markdown is read by people
and carries seconds (`2024-06-15T14:32:05Z`, `format_utc_seconds`). Both are
ISO 8601 in UTC with a `Z`.

Field names, stable (the same in JSON and CSV):

- incident: ref, title, status, severity, service, channel_id, channel_name,
  commander, summary, started_at, detected_at, acknowledged_at, identified_at,
  mitigated_at, resolved_at, closed_at (times null when not reached);
- event: occurred_at (when it happened at its source), recorded_at (when the
  bot learned of it), kind, actor, text, details (an object), link, phase
  (see `phase_of`). CSV adds `incident` (the ref, last, so CSV files of several
  incidents can be pasted together) and carries `details` as compact JSON.
"""

from __future__ import annotations

import csv
import functools
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from bot.core.alerts import format_timestamp
from bot.core.escaping import csv_cell, markdown, markdown_link, mrkdwn_to_plain, safe_url
from bot.core.json_text import json_text

# A BOM first: Excel guesses the legacy code page for a CSV without one and
# garbles ü, emoji and CJK; every other CSV reader skips it.
CSV_BOM = "\ufeff"
CSV_COLUMNS = (
    "occurred_at", "recorded_at", "phase", "kind", "actor", "text", "details", "link",
    "key_moment", "hidden", "comment", "original_occurred_at", "original_text", "incident",
)  # fmt: skip


class Phase(StrEnum):
    DETECTION = "detection"
    RESPONSE = "response"
    MITIGATION = "mitigation"
    RESOLUTION = "resolution"


PHASE_DEFINITIONS = {
    Phase.DETECTION: "from impact start until a human acknowledged (or, unacknowledged, "
    "until detection)",
    Phase.RESPONSE: "from acknowledgement until the cause was identified",
    Phase.MITIGATION: "from identification until the impact ended (mitigated)",
    Phase.RESOLUTION: "after the impact ended: monitoring, resolution, follow-up",
}


@dataclass(frozen=True)
class IncidentRecord:
    """An incident as the exports and the post-mortem see it; all times aware UTC."""

    ref: str
    title: str
    status: str
    severity: str
    service: str | None
    channel_id: str | None
    channel_name: str | None
    started_at: datetime  # impact start
    detected_at: datetime
    acknowledged_at: datetime | None = None
    identified_at: datetime | None = None
    mitigated_at: datetime | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    commander: str | None = None
    summary: str | None = None
    commander_name: str | None = None  # the commander's Slack name, for documents


@dataclass(frozen=True)
class Curation:
    """What reviewers did to an event on the incident page (`bot.core.curation`).

    `original_*` are filled when a correction is applied to an event for export."""

    key_moment: bool = False
    hidden: bool = False
    comment: str | None = None
    corrected_text: str | None = None
    corrected_at: datetime | None = None
    original_text: str | None = None
    original_at: datetime | None = None

    @property
    def corrected(self) -> bool:
        return self.corrected_text is not None or self.corrected_at is not None


@dataclass(frozen=True)
class EventRecord:
    """One timeline entry."""

    occurred_at: datetime
    recorded_at: datetime
    kind: str
    actor: str | None
    text: str
    details: Mapping[str, Any] = field(default_factory=dict)
    link: str | None = None
    curation: Curation | None = None  # set once reviewers curated it
    actor_name: str | None = None  # the actor's Slack name, for documents read outside Slack

    @property
    def who(self) -> str | None:
        """The actor as people read it: `@dana` when the name is known, else as stored."""
        return f"@{self.actor_name}" if self.actor_name else self.actor


def format_utc_seconds(value: datetime) -> str:
    """ISO 8601 UTC with `Z`, to the second (truncated), for documents people read."""
    return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def whole_second(value: datetime) -> datetime:
    """`value` truncated to the second: documents print times to the second, so durations
    and phases are computed from exactly the times printed beside them."""
    return value.replace(microsecond=0)


def phase_of(event: EventRecord, incident: IncidentRecord) -> Phase:
    """The phase an event belongs to, from the incident's milestones.

    A milestone's own event belongs where a reader looks for it: detection
    ends with (and includes) `detected_at`, and lasts until the acknowledgement;
    the acknowledgement opens response; identification opens mitigation;
    mitigation ends with (and includes) `mitigated_at` (`resolved_at` when no
    mitigation time is known). Milestones not reached yet leave the later
    phases empty. Later milestones are checked first, so odd data (a milestone
    before an earlier one) still yields one phase per event. Times are compared to
    the second, as printed: what a command did in the second it acknowledged the
    incident (a role assignment and the command itself) lands in one phase, and no
    row of a phase shows a time before the phase's start.
    """
    t = whole_second(event.occurred_at)
    impact_end = _second(incident.mitigated_at or incident.resolved_at)
    if impact_end is not None and t > impact_end:
        return Phase.RESOLUTION
    acknowledged = _second(incident.acknowledged_at)
    if t <= whole_second(incident.detected_at) or (acknowledged is not None and t < acknowledged):
        return Phase.DETECTION
    identified = _second(incident.identified_at)
    if t == impact_end or (identified is not None and t >= identified):
        return Phase.MITIGATION
    return Phase.RESPONSE


def _second(value: datetime | None) -> datetime | None:
    return whole_second(value) if value is not None else None


def incident_fields(incident: IncidentRecord) -> dict[str, Any]:
    """The incident under its stable field names, times as ISO 8601 strings."""
    times = {name: _opt_time(getattr(incident, name)) for _, name in MILESTONES}
    return {
        "ref": incident.ref,
        "title": incident.title,
        "status": incident.status,
        "severity": incident.severity,
        "service": incident.service,
        "channel_id": incident.channel_id,
        "channel_name": incident.channel_name,
        "commander": incident.commander,
        "summary": incident.summary,
        **times,
    }


def event_fields(event: EventRecord, incident: IncidentRecord) -> dict[str, Any]:
    """The event; reviewers' curation as `key_moment`, `hidden`, `comment` and, for a
    corrected event, `original` (`occurred_at`, `text` as first recorded)."""
    curation = event.curation or _UNCURATED
    original = None
    if curation.corrected and curation.original_at is not None:
        original = {
            "occurred_at": format_timestamp(curation.original_at),
            "text": curation.original_text,
        }
    return {
        "occurred_at": format_timestamp(event.occurred_at),
        "recorded_at": format_timestamp(event.recorded_at),
        "kind": event.kind,
        "actor": event.actor,
        "actor_name": event.actor_name,
        "text": event.text,
        "details": event.details,
        "link": event.link,
        "phase": phase_of(event, incident).value,
        "key_moment": curation.key_moment,
        "hidden": curation.hidden,
        "comment": curation.comment,
        "original": original,
    }


def timeline_json(incident: IncidentRecord, events: Iterable[EventRecord]) -> Iterator[str]:
    """`{"incident": {...}, "events": [...]}`, one event per line, in chunks."""
    head = json_text(incident_fields(incident))
    yield f'{{"incident": {head},\n "events": ['
    separator = "\n  "
    for event in events:
        yield separator + json_text(event_fields(event, incident))
        separator = ",\n  "
    yield "\n]}\n"


def timeline_csv(incident: IncidentRecord, events: Iterable[EventRecord]) -> Iterator[str]:
    """RFC 4180 (CRLF, quoted as needed), a BOM first, a header row, one row per event."""
    line = _LineBuffer()
    writer = csv.writer(line, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    yield CSV_BOM + line.take()
    for event in events:
        writer.writerow(csv_cells(event, incident))
        yield line.take()


def csv_cells(event: EventRecord, incident: IncidentRecord) -> list[str]:
    """One CSV row's cells, in `CSV_COLUMNS` order."""
    row = event_fields(event, incident)
    row["details"] = json_text(row["details"]) if row["details"] else ""
    row["incident"] = incident.ref
    row["actor"] = event.who
    original = row.pop("original") or {}
    row["original_occurred_at"] = original.get("occurred_at")
    row["original_text"] = original.get("text")
    for flag in ("key_moment", "hidden"):
        row[flag] = "yes" if row[flag] else ""
    return [csv_cell(row[name]) for name in CSV_COLUMNS]


def timeline_markdown(incident: IncidentRecord, events: Iterable[EventRecord]) -> Iterator[str]:
    """A Markdown document: the incident's key facts, then one table per phase."""
    yield markdown_head(incident)
    yield from markdown_phase_tables(incident, events, heading="##")


def markdown_head(incident: IncidentRecord) -> str:
    """The Markdown export's title, key facts and phase legend: all before the tables."""
    facts = "".join(f"| {k} | {markdown_cell(v)} |\n" for k, v in _incident_facts(incident))
    title = f"# {incident.ref} timeline: {markdown_cell(incident.title)}\n\n"
    return f"{title}| | |\n|---|---|\n{facts}\n{phase_legend()}"


def phase_legend() -> str:
    lines = [f"- **{p.value.capitalize()}**: {text}." for p, text in PHASE_DEFINITIONS.items()]
    return "All times are UTC. Phases:\n\n" + "\n".join(lines) + "\n"


def markdown_phase_tables(
    incident: IncidentRecord, events: Iterable[EventRecord], *, heading: str
) -> Iterator[str]:
    """A heading and table each time the phase changes (once per phase for sorted events)."""
    current: Phase | None = None
    for event in events:
        phase = phase_of(event, incident)
        if phase is not current:
            current = phase
            yield f"\n{heading} {phase.value.capitalize()}\n\n"
            yield "| Time (UTC) | Kind | Who | What |\n|---|---|---|---|\n"
        yield markdown_row(event)
    if current is None:
        yield "\n_No events recorded._\n"


def markdown_row(event: EventRecord) -> str:
    what = markdown_cell(event.text)
    curation = event.curation
    if curation is not None:
        flags = ("**[key moment]** " if curation.key_moment else "") + (
            "[hidden from the post-mortem] " if curation.hidden else ""
        )
        what = flags + what
        if curation.corrected and curation.original_at is not None:
            was = format_utc_seconds(curation.original_at)
            first = markdown_cell(curation.original_text)
            what += f" _(corrected; first recorded at {was} as: {first})_"
        if curation.comment:
            what += f" _(reviewer: {markdown_cell(curation.comment)})_"
    if event.link and safe_url(event.link):
        what += f" ({markdown_link(event.link, 'link')})"
    who = markdown_cell(event.who) if event.actor else ""
    when = format_utc_seconds(event.occurred_at)
    return f"| {when} | {markdown_cell(event.kind)} | {who} | {what} |\n"


def markdown_cell(value: Any) -> str:
    """`markdown_cell_text`, remembered for the short values a timeline repeats (kinds,
    people): a 50,000-row export escapes each of them once, not 50,000 times."""
    if isinstance(value, str) and len(value) <= 64:
        return _short_markdown_cell(value)
    return markdown_cell_text(value)


@functools.lru_cache(maxsize=4096)
def _short_markdown_cell(value: str) -> str:
    return markdown_cell_text(value)


def markdown_cell_text(value: Any) -> str:
    """Text safe inside a Markdown table cell.

    Timeline texts are Slack mrkdwn: made readable first (`<@U1|ana>` -> `@ana`,
    `<#C1|ops>` -> `#ops`, `<url|label>` -> `label (url)`, `&lt;` -> `<`), then
    escaped as Markdown (no link, image, HTML or new cell), and a line break
    becomes `<br>` so the row stays one line.
    """
    if value is None:
        return "—"
    text = markdown(mrkdwn_to_plain(value))
    return text.replace("\r\n", "<br>").replace("\r", "<br>").replace("\n", "<br>")


def plain_slack_text(value: str) -> str:
    """Slack's markup made readable (`<@U1|ana>` -> `@ana`, `&lt;` -> `<`): plain text."""
    return mrkdwn_to_plain(value)


def _incident_facts(incident: IncidentRecord) -> list[tuple[str, str | None]]:
    channel = f"#{incident.channel_name}" if incident.channel_name else incident.channel_id
    name = incident.commander_name
    facts: list[tuple[str, str | None]] = [
        ("Status", incident.status),
        ("Severity", incident.severity),
        ("Service", incident.service),
        ("Channel", channel),
        ("Commander", f"@{name}" if name else incident.commander),
    ]
    for label, field_name in MILESTONES:
        value = getattr(incident, field_name)
        facts.append((label, format_utc_seconds(value) if value else None))
    return facts


# (label, IncidentRecord field): the lifecycle milestones, in order, as documents show them.
MILESTONES = (
    ("Impact start", "started_at"),
    ("Detected", "detected_at"),
    ("Acknowledged", "acknowledged_at"),
    ("Identified", "identified_at"),
    ("Mitigated", "mitigated_at"),
    ("Resolved", "resolved_at"),
    ("Closed", "closed_at"),
)


_UNCURATED = Curation()


class _LineBuffer:
    """What `csv.writer` writes, handed back one row at a time."""

    def __init__(self) -> None:
        self._parts: list[str] = []

    def write(self, text: str) -> int:
        self._parts.append(text)
        return len(text)

    def take(self) -> str:
        text = "".join(self._parts)
        self._parts.clear()
        return text


def _opt_time(value: datetime | None) -> str | None:
    return format_timestamp(value) if value is not None else None
