"""Timeline exports: golden files, round trips, phases and bounded-memory streaming.

Regenerate the golden files after an intended change with
`UPDATE_GOLDEN=1 python3 -m pytest tests/test_exports.py tests/test_postmortem.py`
and review the diff.
"""

from __future__ import annotations

import csv
import io
import json
import tracemalloc
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from bot.core.alerts import format_timestamp
from bot.core.exports import (
    CSV_BOM,
    CSV_COLUMNS,
    EventRecord,
    IncidentRecord,
    Phase,
    csv_cell,
    markdown_cell,
    phase_of,
    timeline_csv,
    timeline_json,
    timeline_markdown,
)
from tests.support.timeline_records import (
    EVENTS,
    GRAPH,
    INCIDENT,
    at,
    check_golden,
)


def test_goldens_are_rewritten_only_when_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "x.md").write_text("old")
    monkeypatch.delenv("UPDATE_GOLDEN", raising=False)
    with pytest.raises(AssertionError, match="UPDATE_GOLDEN=1 rewrites it"):
        check_golden("x.md", "new", tmp_path)
    assert (tmp_path / "x.md").read_text() == "old"
    monkeypatch.setenv("UPDATE_GOLDEN", "1")
    check_golden("x.md", "new", tmp_path)
    assert (tmp_path / "x.md").read_text() == "new"


def test_json_matches_golden_and_parses() -> None:
    text = "".join(timeline_json(INCIDENT, EVENTS))
    check_golden("timeline.json", text)
    document = json.loads(text)
    assert set(document) == {"incident", "events"}
    assert document["incident"]["mitigated_at"] == "2024-06-15T14:45:30.500Z"
    assert document["incident"]["closed_at"] is None
    first = document["events"][1]
    assert list(first) == [
        "occurred_at",
        "recorded_at",
        "kind",
        "actor",
        "actor_name",
        "text",
        "details",
        "link",
        "phase",
        "key_moment",
        "hidden",
        "comment",
        "original",
    ]
    assert first["occurred_at"] == "2024-06-15T14:32:05.250Z"
    assert first["recorded_at"] == "2024-06-15T14:32:06.000Z"
    assert first["link"] == GRAPH
    assert [e["text"] for e in document["events"]] == [e.text for e in EVENTS]


def test_json_without_events_is_valid() -> None:
    document = json.loads("".join(timeline_json(INCIDENT, iter(()))))
    assert document["events"] == []


def test_csv_matches_golden() -> None:
    check_golden("timeline.csv", "".join(timeline_csv(INCIDENT, EVENTS)))


def test_csv_reads_back_to_the_original_text() -> None:
    text = "".join(timeline_csv(INCIDENT, EVENTS))
    assert text.startswith(CSV_BOM)
    rows = list(csv.reader(io.StringIO(text.removeprefix(CSV_BOM), newline="")))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert len(rows) == len(EVENTS) + 1
    for row, event in zip(rows[1:], EVENTS, strict=True):
        cells = dict(zip(CSV_COLUMNS, row, strict=True))
        assert cells["occurred_at"] == format_timestamp(event.occurred_at)
        assert _unguard(cells["text"]) == event.text
        assert _unguard(cells["actor"]) == event.actor
        assert cells["incident"] == "INC-7"
        assert json.loads(cells["details"] or "{}") == event.details


def _unguard(cell: str) -> str:
    return cell[1:] if cell.startswith("'") else cell


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ('=HYPERLINK("x")', '\'=HYPERLINK("x")'),
        ("+1", "'+1"),
        ("-2", "'-2"),
        ("@cmd", "'@cmd"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("a=b", "a=b"),
        ("", ""),
        (None, ""),
        (42, "42"),
    ],
)
def test_csv_cell_guards_formulas(value: object, cell: str) -> None:
    assert csv_cell(value) == cell


def test_markdown_matches_golden() -> None:
    check_golden("timeline.md", "".join(timeline_markdown(INCIDENT, EVENTS)))


def test_markdown_groups_by_phase_and_escapes() -> None:
    text = "".join(timeline_markdown(INCIDENT, EVENTS))
    headings = [line for line in text.splitlines() if line.startswith("## ")]
    assert headings == ["## Detection", "## Response", "## Mitigation", "## Resolution"]
    row = next(line for line in text.splitlines() if "Looks like" in line)
    assert row.count(" | ") == 3  # the pipe in the text did not make a fifth column
    assert "logs:<br>line 1, with a comma<br>line 2 \\| piped" in row
    assert "| 2024-06-15T14:35:12Z |" in row


def test_markdown_without_events() -> None:
    assert "_No events recorded._" in "".join(timeline_markdown(INCIDENT, []))


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("a|b", "a\\|b"),
        ("one\ntwo\r\nthree\rfour", "one<br>two<br>three<br>four"),
        ("<@U1> & <b>", "@U1 & \\<b\\>"),
        ("&lt;script&gt;alert(1)&lt;/script&gt;", "\\<script\\>alert(1)\\</script\\>"),
        ("![p](https://evil.example/t.png)", "!\\[p\\](https://evil.example/t.png)"),
        ("[click](javascript:alert(1))", "\\[click\\](javascript:alert(1))"),
        ("<javascript:alert(1)|click>", "click (javascript:alert(1))"),
        ("`a|b` and \\", "\\`a\\|b\\` and \\\\"),
        ("<@U1|ana> in <#C1|ops> <!here> <!subteam^S1|@oncall>", "@ana in #ops @here @oncall"),
        (
            "see <https://x.example/a?b=1|the graph> or <https://y.example>",
            "see the graph (https://x.example/a?b=1) or https://y.example",
        ),
        ("a < b > c", "a \\< b \\> c"),
        (None, "—"),
        ("ü 👍 数据", "ü 👍 数据"),
    ],
)
def test_markdown_cell(value: str | None, cell: str) -> None:
    assert markdown_cell(value) == cell


def event_at(t: datetime) -> EventRecord:
    return EventRecord(t, t, "note", None, "x")


@pytest.mark.parametrize(
    ("when", "changes", "phase"),
    [
        (at(30), {}, Phase.DETECTION),
        (at(32, 5.25), {}, Phase.DETECTION),  # the detection itself
        (at(33), {}, Phase.DETECTION),  # detected, not yet acknowledged
        (at(33, 10), {}, Phase.RESPONSE),  # the acknowledgement opens response
        (at(39, 59), {}, Phase.RESPONSE),
        (at(40), {}, Phase.MITIGATION),  # identification opens mitigation
        (at(45, 30.5), {}, Phase.MITIGATION),  # the mitigation itself
        (at(45, 31), {}, Phase.RESOLUTION),
        (at(59), {}, Phase.RESOLUTION),
        # not acknowledged: response starts right after detection
        (at(32, 6), {"acknowledged_at": None}, Phase.RESPONSE),
        # never identified: response lasts until the mitigation, which is its own event
        (at(44), {"identified_at": None}, Phase.RESPONSE),
        (at(45, 30.5), {"identified_at": None}, Phase.MITIGATION),
        # still open: no resolution phase yet
        (at(59), {"mitigated_at": None, "resolved_at": None}, Phase.MITIGATION),
        (
            at(59),
            {"mitigated_at": None, "resolved_at": None, "identified_at": None},
            Phase.RESPONSE,
        ),
        # resolved without a mitigation time: the resolution ends the impact
        (at(50), {"mitigated_at": None}, Phase.MITIGATION),
        (at(50, 1), {"mitigated_at": None}, Phase.RESOLUTION),
        # to the second, as printed: what a command did in the second the incident was
        # acknowledged (the role it assigned, 0.4 s before the acknowledgement was stored)
        # lands in response with the acknowledgement, not before the phase's start
        (at(33, 9.6), {"acknowledged_at": at(33, 9.9)}, Phase.RESPONSE),
        (at(33, 8.9), {"acknowledged_at": at(33, 9.9)}, Phase.DETECTION),
        (at(45, 30.9), {"mitigated_at": at(45, 30.1)}, Phase.MITIGATION),
    ],
)
def test_phase_of(when: datetime, changes: dict[str, object], phase: Phase) -> None:
    incident = replace(INCIDENT, **changes)  # type: ignore[arg-type]
    assert phase_of(event_at(when), incident) is phase


# --- streaming -------------------------------------------------------------------------

MANY = 50_000
MEMORY_BOUND = 20 * 1024 * 1024  # generous: streaming peaks near 0.1 MiB, a list of these ~70 MiB


class CountingEvents:
    """A generator of MANY events that counts how many were taken from it."""

    def __init__(self) -> None:
        self.taken = 0

    def __iter__(self) -> Iterator[EventRecord]:
        start = at(30)
        for i in range(MANY):
            self.taken += 1
            t = start + timedelta(milliseconds=i * 40)
            text = f'event {i}: "quoted", comma, ünïcödé 👍 {"x" * 200}'
            yield EventRecord(t, t, "note", "U0ONCALL1", text, {"i": i, "pad": "y" * 100})


Export = Callable[[IncidentRecord, Iterable[EventRecord]], Iterator[str]]


@pytest.mark.parametrize("export", [timeline_json, timeline_csv, timeline_markdown])
def test_streams_50k_events_in_bounded_memory(export: Export) -> None:
    source = CountingEvents()
    chunks = export(INCIDENT, iter(source))
    tracemalloc.start()
    try:
        for _ in range(5):
            next(chunks)
        # Five chunks in, the export has pulled a handful of events, not the timeline.
        assert source.taken <= 5
        size = sum(len(chunk) for chunk in chunks)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert source.taken == MANY
    assert size > MANY * 250  # the output really was produced
    assert peak < MEMORY_BOUND, f"peak {peak / 2**20:.1f} MiB"
