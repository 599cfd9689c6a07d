"""Page writers: the very bytes of the reference exports, whatever the events and the pages."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from types import MappingProxyType
from typing import Any

import pytest

from bot.core.alerts import format_timestamp
from bot.core.export_pages import (
    PAGE_WRITERS,
    PageWriter,
    Phases,
    UtcTexts,
)
from bot.core.exports import (
    Curation,
    EventRecord,
    IncidentRecord,
    format_utc_seconds,
    phase_of,
    timeline_csv,
    timeline_json,
    timeline_markdown,
)
from tests.support.timeline_records import EVENTS, INCIDENT, check_golden

Reference = Callable[[IncidentRecord, Iterable[EventRecord]], Iterator[str]]
REFERENCES: dict[str, Reference] = {
    "json": timeline_json,
    "csv": timeline_csv,
    "md": timeline_markdown,
}
GOLDEN = {"json": "timeline.json", "csv": "timeline.csv", "md": "timeline.md"}

TEXTS = [
    "",
    "plain",
    'say "hi", then, a comma',
    "=1+2",
    "+1",
    "-1",
    "@here",
    "\tx",
    "\rx",
    "a | pipe [link](http://x) <b>html</b> `code` \\ back",
    "# heading",
    "- item",
    "1. first",
    "line 1\nline 2\r\nline 3\rline 4",
    "<@U0ONCALL1|jürgen> and <@U0X> and <!here>",
    "<https://example.com|a label> <#C1|ops> &lt;tag&gt; &amp;",
    "ünïcödé 👍 中文 \u2028",
    "x" * 300,
    "\x00\x1f control",
    "*bold* _it_",
]
LINKS = [
    None,
    "",
    "https://example.slack.com/archives/C1/p1",
    "http://prometheus:9090/graph?g=1",
    "javascript:alert(1)",
    "https://a b",
    "http://[::1",
    "https://",
    "ftp://x/y",
    "HTTPS://UPPER.example/x",
    "https://ex.com/a|b",
    "https://ex.com/" + "p" * 2100,
]
DETAILS: list[Any] = [
    {},
    {"i": 1, "service": "payments"},
    {"nested": {"list": [1, 2.5, None, True]}},
    {"ü": "✓", "quote": '"', "nl": "a\nb"},
    {"at": datetime(2024, 6, 15, 14, 0, tzinfo=UTC)},
    MappingProxyType({"read": "only"}),
    {"f": 1e100, "neg": -0.0},
]
OTHER_ZONE = timezone(timedelta(hours=2))


def event_times(incident: IncidentRecord) -> list[datetime]:
    """Times on, just before and just after each milestone, in and out of UTC."""
    times = []
    for milestone in (
        incident.started_at,
        incident.detected_at,
        incident.acknowledged_at,
        incident.identified_at,
        incident.mitigated_at,
        incident.resolved_at,
    ):
        if milestone is None:
            continue
        second = milestone.replace(microsecond=0)
        for delta in (-1_000_000, -1, 0, 1, 999, 999_999, 1_000_000, 1_500_000):
            times.append(second + timedelta(microseconds=delta))
    return times


def random_events(incident: IncidentRecord, count: int, seed: int) -> list[EventRecord]:
    rng = random.Random(seed)
    times = sorted([*event_times(incident), incident.started_at + timedelta(hours=2)])
    events = []
    for i in range(count):
        t = times[min(len(times) - 1, i * len(times) // count)]
        if rng.random() < 0.1:
            t = t.astimezone(OTHER_ZONE)
        recorded = t + timedelta(microseconds=rng.choice([0, 1, 750_000, 1_000_000]))
        actor = rng.choice([None, "U0ONCALL1", "incident-bot", "=cmd", "@someone"])
        event = EventRecord(
            occurred_at=t,
            recorded_at=recorded.astimezone(OTHER_ZONE) if rng.random() < 0.1 else recorded,
            kind=rng.choice(["note", "alert_firing", "=kind", "a|b", "command"]),
            actor=actor,
            text=rng.choice(TEXTS),
            details=rng.choice(DETAILS),
            link=rng.choice(LINKS),
            actor_name=rng.choice([None, "dana", "=x", "jürgen"]) if actor else None,
        )
        if rng.random() < 0.15:
            event = replace(event, curation=random_curation(rng, t))
        events.append(event)
    return events


def random_curation(rng: random.Random, t: datetime) -> Curation:
    corrected = rng.random() < 0.5
    return Curation(
        key_moment=rng.random() < 0.5,
        hidden=rng.random() < 0.5,
        comment=rng.choice([None, "", "why | this", "=sum"]),
        corrected_text="corrected <@U1|x>" if corrected else None,
        corrected_at=t if corrected else None,
        original_text="first text" if corrected else None,
        original_at=t - timedelta(seconds=3) if corrected else None,
    )


def paged(events: Sequence[EventRecord], rng: random.Random) -> list[Sequence[EventRecord]]:
    """`events` cut at random places, empty pages included."""
    pages: list[Sequence[EventRecord]] = []
    start = 0
    while start < len(events):
        size = rng.choice([0, 1, 2, 7, 50])
        pages.append(events[start : start + size])
        start += size
    return pages


def written(writer: PageWriter, pages: Iterable[Sequence[EventRecord]]) -> str:
    return writer.head() + "".join(writer.rows(page) for page in pages) + writer.tail()


INCIDENTS = [
    INCIDENT,
    replace(INCIDENT, acknowledged_at=None, identified_at=None, mitigated_at=None),
    replace(INCIDENT, mitigated_at=None),
    replace(INCIDENT, identified_at=None, resolved_at=None),
    replace(INCIDENT, detected_at=INCIDENT.detected_at.astimezone(OTHER_ZONE)),
    # A zone offset with a fraction of a second: whole seconds there are not whole in UTC.
    replace(
        INCIDENT,
        acknowledged_at=INCIDENT.acknowledged_at.astimezone(  # type: ignore[union-attr]
            timezone(timedelta(seconds=1, microseconds=250_000))
        ),
    ),
]


@pytest.mark.parametrize("fmt", ["json", "csv", "md"])
def test_the_golden_timeline_is_written_exactly(fmt: str) -> None:
    rng = random.Random(7)
    for pages in ([EVENTS], [[e] for e in EVENTS], paged(EVENTS, rng)):
        check_golden(GOLDEN[fmt], written(PAGE_WRITERS[fmt](INCIDENT), pages))


@pytest.mark.parametrize("fmt", ["json", "csv", "md"])
@pytest.mark.parametrize("case", range(len(INCIDENTS)))
def test_any_events_in_any_pages_give_the_reference_bytes(fmt: str, case: int) -> None:
    incident = INCIDENTS[case]
    for seed in range(4):
        events = random_events(incident, 300, seed=seed * 10 + case)
        expected = "".join(REFERENCES[fmt](incident, events))
        pages = paged(events, random.Random(seed))
        assert written(PAGE_WRITERS[fmt](incident), pages) == expected


@pytest.mark.parametrize("fmt", ["json", "csv", "md"])
def test_an_empty_timeline_is_the_reference_empty_document(fmt: str) -> None:
    expected = "".join(REFERENCES[fmt](INCIDENT, []))
    assert written(PAGE_WRITERS[fmt](INCIDENT), []) == expected
    assert written(PAGE_WRITERS[fmt](INCIDENT), [[], []]) == expected


@pytest.mark.parametrize("case", range(len(INCIDENTS)))
def test_phases_match_phase_of_at_every_milestone_edge(case: int) -> None:
    incident = INCIDENTS[case]
    phases = Phases(incident)
    for t in event_times(INCIDENT) + event_times(incident):
        for when in (t, t.astimezone(UTC), t.astimezone(OTHER_ZONE)):
            event = EventRecord(when, when, "note", None, "x")
            assert phases(event) is phase_of(event, incident), when


def test_times_are_formatted_as_the_reference_does() -> None:
    texts = UtcTexts()
    base = datetime(2024, 6, 15, 14, 32, 5, tzinfo=UTC)
    for micro in (0, 1, 999, 1000, 123_456, 999_999):
        t = base.replace(microsecond=micro)
        for value in (t, t.astimezone(OTHER_ZONE), datetime(9, 1, 2, 3, 4, 5, micro, UTC)):
            assert texts.millis(value) == format_timestamp(value)
            assert texts.seconds(value) == format_utc_seconds(value)


def test_kept_seconds_stay_right_past_their_bound() -> None:
    # More whole seconds than are kept, each met twice (a cached second must be that
    # second's, never a neighbour's of another minute, hour or day).
    texts = UtcTexts()
    start = datetime(2024, 12, 31, 23, 0, 0, 500_000, tzinfo=UTC)
    times = [start + timedelta(seconds=s, days=s % 3) for s in range(10_000)]
    for value in times + times[::-1]:
        assert texts.millis(value) == format_timestamp(value)
        assert texts.seconds(value) == format_utc_seconds(value)
