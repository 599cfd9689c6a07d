"""Timeline exports written a page of events at a time: the bytes of `bot.core.exports`, faster.

`bot.core.exports` yields one chunk per event, a readable reference; a 50,000-event
export through the API spends most of its time there, in per-event work that is the
same for every row (a dict per event, an encoder per `json.dumps`, fourteen CSV cell
checks, the phase milestones truncated again for each event, a link checked twice).
These writers do the per-incident work once and render a whole page into one string:
`head()`, then `rows(page)` for each page in time order, then `tail()`. Their output is
exactly the reference's, whatever the pages (tests/test_export_pages.py holds them to
it): a row that is not the common case (a curated event, a time outside UTC, a value of
an unexpected type) is written by the reference's own per-event code.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from json.encoder import encode_basestring
from typing import Protocol

from bot.core.alerts import format_timestamp
from bot.core.escaping import csv_cell, markdown, safe_url
from bot.core.exports import (
    CSV_BOM,
    CSV_COLUMNS,
    EventRecord,
    IncidentRecord,
    Phase,
    format_utc_seconds,
    incident_fields,
    markdown_cell,
    markdown_head,
    markdown_row,
    phase_of,
    whole_second,
)
from bot.core.exports import csv_cells as reference_csv_cells
from bot.core.exports import event_fields as reference_event_fields
from bot.core.json_text import json_text

_SECOND = timedelta(seconds=1)
_LINK = markdown("link")  # the label of an event's link in the Markdown export


class PageWriter(Protocol):
    def head(self) -> str: ...

    def rows(self, events: Sequence[EventRecord]) -> str: ...

    def tail(self) -> str: ...


class Phases:
    """`phase_of` for one incident: its milestones truncated once, not once per event.

    `phase_of` compares event and milestone times truncated to the second. With whole-
    second milestones that is a comparison of the untruncated event time with a bound
    (`floor(t) <= m` is `t < m + 1 s`, `floor(t) < m` is `t < m`), so an event in UTC is
    placed without truncating it. Anything else (another zone, a milestone whose zone
    offset has a fraction of a second) goes to `phase_of` itself.
    """

    def __init__(self, incident: IncidentRecord) -> None:
        self.incident = incident
        milestones = (
            incident.mitigated_at or incident.resolved_at,
            incident.detected_at,
            incident.acknowledged_at,
            incident.identified_at,
        )
        self.exact = all(m is None or _whole_utc_offset(m) for m in milestones)
        end, detected, acknowledged, identified = (
            whole_second(m) if m is not None else None for m in milestones
        )
        self._end = end
        self._after_end = end + _SECOND if end is not None else None
        self._detection_until = detected + _SECOND if detected is not None else None
        self._acknowledged = acknowledged
        self._identified = identified

    def __call__(self, event: EventRecord) -> Phase:
        t = event.occurred_at
        if not self.exact or t.tzinfo is not UTC or self._detection_until is None:
            return phase_of(event, self.incident)
        if self._after_end is not None and t >= self._after_end:
            return Phase.RESOLUTION
        if t < self._detection_until or (self._acknowledged is not None and t < self._acknowledged):
            return Phase.DETECTION
        if (self._end is not None and t >= self._end) or (
            self._identified is not None and t >= self._identified
        ):
            return Phase.MITIGATION
        return Phase.RESPONSE


def _whole_utc_offset(value: datetime) -> bool:
    offset = value.utcoffset()
    return offset is not None and offset.microseconds == 0


class UtcTexts:
    """`format_timestamp` and `format_utc_seconds` for one export's times, faster.

    A time in UTC is formatted by slicing `isoformat()` ("2024-06-15T14:32:05.123456+00:00",
    no fraction when it is 0): parsing `timespec=` costs more than the formatting itself.
    The text up to the second is kept for the last `_SECONDS_KEPT` whole seconds seen: a
    timeline large enough for its export to take time has many events in each second
    (alerts of one notification, their recorded times), and a cached second skips
    `isoformat()` altogether.
    """

    def __init__(self) -> None:
        self._seconds: dict[tuple[int, ...], str] = {}

    def _second(self, value: datetime) -> str:
        key = (value.year, value.month, value.day, value.hour, value.minute, value.second)
        text = self._seconds.get(key)
        if text is None:
            if len(self._seconds) >= _SECONDS_KEPT:
                self._seconds.clear()
            text = self._seconds[key] = value.isoformat()[:19]
        return text

    def millis(self, value: datetime) -> str:
        """`format_timestamp(value)`: to the millisecond, truncated."""
        if value.tzinfo is UTC:
            return f"{self._second(value)}.{value.microsecond // 1000:03d}Z"
        return format_timestamp(value)

    def seconds(self, value: datetime) -> str:
        """`format_utc_seconds(value)`: to the second, truncated."""
        if value.tzinfo is UTC:
            return self._second(value) + "Z"
        return format_utc_seconds(value)


_SECONDS_KEPT = 4096


def _common(event: EventRecord) -> bool:
    """True for the rows the fast paths write: uncurated, in UTC, plain strings."""
    return (
        event.curation is None
        and event.occurred_at.tzinfo is UTC
        and event.recorded_at.tzinfo is UTC
        and type(event.kind) is str
        and type(event.text) is str
        and (event.actor is None or type(event.actor) is str)
        and (event.actor_name is None or type(event.actor_name) is str)
        and (event.link is None or type(event.link) is str)
    )


def _json_string(value: str | None) -> str:
    return "null" if value is None else encode_basestring(value)


class JsonPages:
    """`timeline_json`, a page at a time."""

    def __init__(self, incident: IncidentRecord) -> None:
        self.incident = incident
        self.phase = Phases(incident)
        self._times = UtcTexts()
        self._separator = "\n  "

    def head(self) -> str:
        return f'{{"incident": {json_text(incident_fields(self.incident))},\n "events": ['

    def rows(self, events: Sequence[EventRecord]) -> str:
        if not events:
            return ""
        lines = [self._event(e) for e in events]
        text = self._separator + ",\n  ".join(lines)
        self._separator = ",\n  "
        return text

    def tail(self) -> str:
        return "\n]}\n"

    def _event(self, e: EventRecord) -> str:
        if not _common(e):
            return json_text(reference_event_fields(e, self.incident))
        # The keys, order and separators of `json_text(event_fields(e, incident))`.
        millis = self._times.millis
        return (
            f'{{"occurred_at": "{millis(e.occurred_at)}", '
            f'"recorded_at": "{millis(e.recorded_at)}", '
            f'"kind": {encode_basestring(e.kind)}, "actor": {_json_string(e.actor)}, '
            f'"actor_name": {_json_string(e.actor_name)}, "text": {encode_basestring(e.text)}, '
            f'"details": {json_text(e.details)}, "link": {_json_string(e.link)}, '
            f'"phase": "{self.phase(e).value}", "key_moment": false, "hidden": false, '
            f'"comment": null, "original": null}}'
        )


class CsvPages:
    """`timeline_csv`, a page at a time."""

    def __init__(self, incident: IncidentRecord) -> None:
        self.incident = incident
        self.phase = Phases(incident)
        self._ref = _csv_field(csv_cell(incident.ref))
        self._times = UtcTexts()
        self._parts: list[str] = []
        self._writer = csv.writer(self, lineterminator="\r\n")

    def write(self, text: str) -> int:
        """For `csv.writer`: collect what it writes."""
        self._parts.append(text)
        return len(text)

    def _take(self) -> str:
        text = "".join(self._parts)
        self._parts.clear()
        return text

    def head(self) -> str:
        self._writer.writerow(CSV_COLUMNS)
        return CSV_BOM + self._take()

    def rows(self, events: Sequence[EventRecord]) -> str:
        return "".join([self._line(e) for e in events])

    def tail(self) -> str:
        return ""

    def _line(self, e: EventRecord) -> str:
        if not _common(e):
            self._writer.writerow(reference_csv_cells(e, self.incident))
            return self._take()
        # `csv.writer`'s line for the cells, quoted here: the C writer looks at each
        # character of each cell in turn, and was a third of a CSV export's time. Times
        # start with a digit and phases with a letter (no formula to defuse there, nothing
        # to quote); an uncurated event's curation columns are empty.
        details, millis = e.details, self._times.millis
        fields = (
            _csv_field(csv_cell(e.kind)),
            _csv_field(csv_cell(e.who)),
            _csv_field(csv_cell(e.text)),
            _csv_field(csv_cell(json_text(details))) if details else "",
            _csv_field(csv_cell(e.link)),
        )
        return (
            f"{millis(e.occurred_at)},{millis(e.recorded_at)},{self.phase(e).value},"
            f"{','.join(fields)},,,,,,{self._ref}\r\n"
        )


def _csv_field(text: str) -> str:
    """A field as `csv.writer` (minimal quoting, `\\r\\n` lines) writes it: quoted when it
    holds the delimiter, a quote or a line break, a quote doubled."""
    if '"' in text:
        return '"' + text.replace('"', '""') + '"'
    if "," in text or "\n" in text or "\r" in text:
        return f'"{text}"'
    return text


class MarkdownPages:
    """`timeline_markdown`, a page at a time: a heading and table where the phase changes."""

    def __init__(self, incident: IncidentRecord, *, heading: str = "##") -> None:
        self.incident = incident
        self.phase = Phases(incident)
        self._heading = heading
        self._current: Phase | None = None
        self._times = UtcTexts()

    def head(self) -> str:
        return markdown_head(self.incident)

    def rows(self, events: Sequence[EventRecord]) -> str:
        parts: list[str] = []
        for event in events:
            phase = self.phase(event)
            if phase is not self._current:
                self._current = phase
                parts.append(f"\n{self._heading} {phase.value.capitalize()}\n\n")
                parts.append("| Time (UTC) | Kind | Who | What |\n|---|---|---|---|\n")
            parts.append(self._row(event))
        return "".join(parts)

    def tail(self) -> str:
        return "\n_No events recorded._\n" if self._current is None else ""

    def _row(self, e: EventRecord) -> str:
        if not _common(e):
            return markdown_row(e)
        # `markdown_row` for an uncurated event, its link checked once instead of twice.
        what = markdown_cell(e.text)
        if e.link and (safe := safe_url(e.link)):
            what += f" ([{_LINK}](<{safe}>))"
        who = markdown_cell(e.who) if e.actor else ""
        when = self._times.seconds(e.occurred_at)
        return f"| {when} | {markdown_cell(e.kind)} | {who} | {what} |\n"


PAGE_WRITERS: dict[str, Callable[[IncidentRecord], PageWriter]] = {
    "json": JsonPages,
    "csv": CsvPages,
    "md": MarkdownPages,
}
