"""Incident metrics: window, counts, median and p90 on known data, --since parsing."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from bot.core.exports import IncidentRecord
from bot.core.stats import incident_stats, parse_since, percentile

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


def incident(
    n: int,
    severity: str = "sev2",
    *,
    days_ago: float = 1,
    ack: float | None = None,
    mitigate: float | None = None,
    resolve: float | None = None,
) -> IncidentRecord:
    """INC-n, detected 1 minute after it started; other times in minutes after detection
    (ack) or after the start (mitigate, resolve), as the durations are defined."""
    started = NOW - timedelta(days=days_ago)
    detected = started + MINUTE
    return IncidentRecord(
        ref=f"INC-{n}",
        title="t",
        status="resolved",
        severity=severity,
        service="payments",
        channel_id=None,
        channel_name=None,
        started_at=started,
        detected_at=detected,
        acknowledged_at=detected + ack * MINUTE if ack is not None else None,
        mitigated_at=started + mitigate * MINUTE if mitigate is not None else None,
        resolved_at=started + resolve * MINUTE if resolve is not None else None,
    )


INCIDENTS = [
    incident(1, "sev1", ack=1, mitigate=10, resolve=30),
    incident(2, "sev1", ack=2, mitigate=20, resolve=40),
    incident(3, "sev2", ack=3, mitigate=30, resolve=50),
    incident(4, "sev3", ack=4, mitigate=40),
    incident(5, "sev3"),  # still open, nothing acknowledged
    incident(6, "sev1", days_ago=40, ack=100, mitigate=100, resolve=100),  # before the window
]


def minutes(value: float) -> timedelta:
    return value * MINUTE


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        ([], 0.5, None),
        ([5], 0.5, 5),
        ([5], 0.9, 5),
        ([1, 2], 0.5, 1.5),  # even count: mean of the middle two
        ([1, 2, 3], 0.5, 2),
        ([1, 2, 3, 4], 0.9, 3.7),  # rank 2.7: 3 + 0.7 * (4 - 3)
        ([10, 20, 30, 40, 50, 60, 70, 80, 90, 100], 0.9, 91),  # rank 8.1
        ([10, 20, 30, 40, 50, 60, 70, 80, 90, 100], 0.5, 55),
    ],
)
def test_percentile_type_7(values: list[float], q: float, expected: float | None) -> None:
    got = percentile([minutes(v) for v in values], q)
    assert got == (minutes(expected) if expected is not None else None)


def test_stats_over_a_window() -> None:
    stats = incident_stats(
        INCIDENTS, rolled_back={"INC-1", "INC-3", "INC-6"}, since=NOW - timedelta(days=30), now=NOW
    )
    assert stats.incidents == 5
    assert stats.by_severity == {"sev1": 2, "sev2": 1, "sev3": 2, "sev4": 0}
    assert stats.time_to_acknowledge.count == 4
    assert stats.time_to_acknowledge.median == minutes(2.5)
    assert stats.time_to_acknowledge.p90 == minutes(3.7)
    assert stats.time_to_mitigate.median == minutes(25)
    assert stats.time_to_mitigate.p90 == minutes(37)
    assert stats.time_to_resolve.count == 3
    assert stats.time_to_resolve.median == minutes(40)
    assert stats.time_to_resolve.p90 == minutes(48)
    assert stats.mitigated_by_rollback == 2  # INC-6 is outside the window
    assert stats.rollback_share == pytest.approx(0.4)


def test_stats_json_has_stable_names_and_seconds() -> None:
    since = NOW - timedelta(days=30)
    document = incident_stats(INCIDENTS, rolled_back={"INC-1"}, since=since, now=NOW).to_json()
    assert json.loads(json.dumps(document)) == {
        "since": "2026-10-31T12:00:00.000Z",
        "until": "2026-11-30T12:00:00.000Z",
        "incidents": 5,
        "by_severity": {"sev1": 2, "sev2": 1, "sev3": 2, "sev4": 0},
        "time_to_acknowledge": {"count": 4, "median_seconds": 150.0, "p90_seconds": 222.0},
        "time_to_mitigate": {"count": 4, "median_seconds": 1500.0, "p90_seconds": 2220.0},
        "time_to_resolve": {"count": 3, "median_seconds": 2400.0, "p90_seconds": 2880.0},
        "mitigated_by_rollback": 1,
        "rollback_share": 0.2,
        "noisy_groups": [],
    }


def test_stats_all_time_and_unknown_severities() -> None:
    odd = replace(INCIDENTS[4], ref="INC-9", severity="sev5")
    stats = incident_stats([*INCIDENTS, odd], rolled_back=set(), since=None, now=NOW)
    assert stats.incidents == 7
    assert stats.by_severity == {"sev1": 3, "sev2": 1, "sev3": 2, "sev4": 0, "sev5": 1}
    assert stats.to_json()["since"] is None
    assert stats.rollback_share == 0


def test_stats_without_incidents_are_empty_not_errors() -> None:
    stats = incident_stats([], rolled_back=set(), since=None, now=NOW)
    assert stats.incidents == 0
    assert stats.rollback_share is None
    assert stats.to_json()["time_to_resolve"] == {
        "count": 0,
        "median_seconds": None,
        "p90_seconds": None,
    }


def test_stats_ignore_incidents_after_now() -> None:
    future = incident(7, days_ago=-1, ack=1)
    assert incident_stats([future], rolled_back=set(), since=None, now=NOW).incidents == 0


def test_stats_take_a_generator() -> None:
    stats = incident_stats(iter(INCIDENTS), rolled_back=set(), since=None, now=NOW)
    assert stats.incidents == 6


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30d", timedelta(days=30)),
        ("12h", timedelta(hours=12)),
        ("2w", timedelta(weeks=2)),
        (" 7D ", timedelta(days=7)),
        ("1 h", timedelta(hours=1)),
    ],
)
def test_parse_since(text: str, expected: timedelta) -> None:
    assert parse_since(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("30", "like 12h, 30d or 2w; got '30'"),
        ("d", "like 12h, 30d or 2w"),
        ("30m", "like 12h, 30d or 2w"),  # minutes or months? refused rather than guessed
        ("-3d", "like 12h, 30d or 2w"),
        ("1.5d", "like 12h, 30d or 2w"),
        ("\uff13\uff10d", "like 12h, 30d or 2w"),  # fullwidth digits
        ("", "like 12h, 30d or 2w"),
        ("0d", "more than zero"),
        ("99999999999w", "too far back"),
    ],
)
def test_parse_since_refuses(text: str, message: str) -> None:
    with pytest.raises(ValueError, match="--since") as caught:
        parse_since(text)
    assert message in str(caught.value)
