"""Ranking past incidents and wording what fixed them: the pure core, by table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.core.exports import IncidentRecord
from bot.core.similar import (
    Fix,
    Likeness,
    PastIncident,
    Shape,
    choose_fix,
    is_fix_note,
    likeness,
    outcome,
    rank,
    seen_before_line,
    similar_list,
)
from bot.core.stats import group_name, noisy_groups

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
GROUP = {"alertname": "HighErrorRate", "service": "payments"}
CURRENT = Shape(
    '{}:{alertname="HighErrorRate", service="payments"}', "payments", "HighErrorRate", GROUP
)


def past(
    n: int, shape: Shape, ago: timedelta, *, fix: Fix | None = None, mitigated: int | None = 14
) -> PastIncident:
    started = NOW - ago
    return PastIncident(
        id=n,
        ref=f"INC-{n}",
        title=f"title {n}",
        shape=shape,
        status="resolved",
        started_at=started,
        mitigated_at=started + timedelta(minutes=mitigated) if mitigated is not None else None,
        resolved_at=started + timedelta(hours=1),
        channel_id=f"C{n}",
        fix=fix,
    )


@pytest.mark.parametrize(
    ("other", "expected"),
    [
        (CURRENT, Likeness.SAME_GROUP),
        (Shape("other-route-key", "payments", "HighErrorRate", GROUP), Likeness.SAME_GROUP),
        (
            Shape("k2", "payments", "HighErrorRate", {"alertname": "HighErrorRate"}),
            Likeness.SAME_ALERT,
        ),
        (Shape("k3", "payments", "HighLatency", {}), Likeness.SAME_SERVICE),
        (Shape("k4", "checkout", "HighErrorRate", {}), None),
        (Shape(None, None, None, {}), None),
    ],
)
def test_likeness(other: Shape, expected: Likeness | None) -> None:
    assert likeness(CURRENT, other) == expected


def test_declared_incident_matches_by_service_only() -> None:
    declared = Shape(None, "payments", None, {})
    assert likeness(declared, CURRENT) is Likeness.SAME_SERVICE
    assert likeness(Shape(), CURRENT) is None


def test_rank_same_group_first_then_same_alert_then_same_service_recent_first() -> None:
    same_alert = Shape("k2", "payments", "HighErrorRate", {})
    same_service = Shape("k3", "payments", "HighLatency", {})
    candidates = [
        past(1, same_service, 1 * DAY),
        past(2, CURRENT, 40 * DAY),
        past(3, same_alert, 2 * DAY),
        past(4, CURRENT, 3 * DAY),
        past(5, CURRENT, 91 * DAY),  # outside the window
        past(6, CURRENT, -DAY),  # after now: not "before"
        past(7, CURRENT, 5 * DAY),  # the incident itself
        past(8, Shape("k9", "checkout", "X", {}), DAY),
    ]
    ranked = rank(CURRENT, candidates, now=NOW, exclude=7)
    assert [(s.incident.ref, s.likeness) for s in ranked] == [
        ("INC-4", Likeness.SAME_GROUP),
        ("INC-2", Likeness.SAME_GROUP),
        ("INC-3", Likeness.SAME_ALERT),
        ("INC-1", Likeness.SAME_SERVICE),
    ]


@pytest.mark.parametrize(
    ("rollback", "note", "summary", "expected"),
    [
        (
            ("payment-service", 6, ["registry/payments:v2.3.0"]),
            "fix: flag off",
            "rolled back",
            Fix("rollback", "by rolling back payment-service to revision 6 (`v2.3.0`)"),
        ),
        (None, "FIX: turned feature flag off", "done", Fix("note", "fix: turned feature flag off")),
        (None, "fixed - restarted the pool", None, Fix("note", "fix: restarted the pool")),
        (None, None, "DB failover", Fix("summary", "resolved: DB failover")),
        (None, None, None, None),
    ],
)
def test_what_fixed_it(
    rollback: tuple[str, int, list[str]] | None,
    note: str | None,
    summary: str | None,
    expected: Fix | None,
) -> None:
    assert choose_fix(rollback=rollback, fix_note=note, summary=summary) == expected


@pytest.mark.parametrize(
    ("text", "is_fix"),
    [
        ("fix: x", True),
        ("  Fixed: x", True),
        ("FIX - x", True),
        ("fixture broke", False),
        ("prefix: x", False),
        ("the fix: x", False),
    ],
)
def test_fix_notes(text: str, is_fix: bool) -> None:
    assert is_fix_note(text) is is_fix


@pytest.mark.parametrize(
    ("incident", "expected"),
    [
        (
            past(1, CURRENT, DAY, fix=Fix("rollback", "by rolling back p to revision 6")),
            "mitigated in 14m by rolling back p to revision 6",
        ),
        (
            past(2, CURRENT, DAY, fix=Fix("note", "fix: flag off"), mitigated=90),
            "mitigated in 1h 30m; fix: flag off",
        ),
        (
            past(3, CURRENT, DAY, fix=Fix("summary", "resolved: DB failover"), mitigated=None),
            "resolved after 1h: DB failover",
        ),
        (past(4, CURRENT, DAY, mitigated=None), "resolved after 1h"),
    ],
)
def test_outcome(incident: PastIncident, expected: str) -> None:
    assert outcome(incident) == expected


def link(p: PastIncident) -> str:
    return f"*{p.ref}* (<#{p.channel_id}>)"


def test_seen_before_line() -> None:
    rollback = Fix("rollback", "by rolling back payment-service to revision 6 (`v2.3.0`)")
    ranked = rank(
        CURRENT,
        [
            past(12, CURRENT, 2 * DAY, fix=rollback),
            past(9, CURRENT, 20 * DAY),
            past(5, CURRENT, 30 * DAY - timedelta(hours=1)),
            past(3, Shape(service="payments"), DAY),
        ],
        now=NOW,
    )
    assert seen_before_line(ranked, NOW, link=link) == (
        ":repeat: Seen 3 times in 30 days. Last: *INC-12* (<#C12>), 2 days ago, mitigated in "
        "14m by rolling back payment-service to revision 6 (`v2.3.0`). `/incident similar` "
        "lists them"
    )
    only_service = rank(CURRENT, [past(3, Shape(service="payments"), DAY)], now=NOW)
    assert seen_before_line(only_service, NOW, link=link) == (
        "Not seen before: no incident of this alert in the last 90 days."
    )
    once = rank(CURRENT, [past(4, CURRENT, timedelta(hours=3))], now=NOW)
    assert seen_before_line(once, NOW, link=link).startswith(
        ":repeat: Seen once in 1 day. Last: *INC-4* (<#C4>), 3 hours ago, mitigated in 14m"
    )


def test_similar_list_escapes_titles_and_keeps_ten() -> None:
    many = [past(n, CURRENT, n * DAY) for n in range(1, 15)]
    many[0] = PastIncident(**{**many[0].__dict__, "title": "<!channel> & <http://x|y>"})
    text = similar_list(rank(CURRENT, many, now=NOW), NOW, link=link)
    lines = text.splitlines()
    assert lines[0] == "*Similar incidents* (last 90 days, best match first)"
    assert len(lines) == 11
    assert "&lt;!channel&gt; &amp; &lt;http://x|y&gt;" in lines[1]
    assert lines[1].endswith("· _same alert group_")
    assert similar_list([], NOW, link=link) == "No similar incident in the last 90 days."


def test_noisy_groups() -> None:
    def record(n: int, ago: timedelta) -> IncidentRecord:
        return IncidentRecord(
            ref=f"INC-{n}",
            title="t",
            status="resolved",
            severity="sev3",
            service="payments",
            channel_id=None,
            channel_name=None,
            started_at=NOW - ago,
            detected_at=NOW - ago,
        )

    rows = [record(n, n * DAY) for n in range(1, 8)]
    groups = {"INC-1": "a", "INC-2": "b", "INC-3": "a", "INC-4": "b", "INC-5": "a", "INC-6": "c"}
    noisy = noisy_groups(rows, groups, top=2)
    assert [(g.group, g.incidents, g.last_ref) for g in noisy] == [
        ("a", 3, "INC-1"),
        ("b", 2, "INC-2"),
    ]
    assert group_name(GROUP) == 'alertname="HighErrorRate", service="payments"'
    assert group_name({}) is None


def test_incidents_stats_prints_the_noisy_groups() -> None:
    from bot.cli.reports import stats_lines
    from bot.core.stats import incident_stats

    def record(n: int) -> IncidentRecord:
        return IncidentRecord(
            ref=f"INC-{n}",
            title="t",
            status="resolved",
            severity="sev2",
            service="payments",
            channel_id=None,
            channel_name=None,
            started_at=NOW - n * DAY,
            detected_at=NOW - n * DAY,
        )

    rows = [record(n) for n in range(1, 4)]
    name = group_name(GROUP)
    assert name is not None
    stats = incident_stats(
        rows,
        rolled_back=set(),
        since=NOW - 30 * DAY,
        now=NOW,
        groups={"INC-1": name, "INC-2": name, "INC-3": "other"},
    )
    assert stats_lines(stats).splitlines()[-2:] == [
        'noisy alert group\talertname="HighErrorRate", service="payments"\t2 incidents'
        "\tlast INC-1 2026-11-29T12:00:00Z",
        "noisy alert group\tother\t1 incidents\tlast INC-3 2026-11-27T12:00:00Z",
    ]


def test_links_go_to_the_channel_and_to_the_page_where_pages_are_on() -> None:
    from bot.services.similar import SimilarIncidents

    incident = past(12, CURRENT, DAY)
    pages = SimilarIncidents(None, lambda: NOW, page_url=lambda i: f"https://bot.example/i/{i}")  # type: ignore[arg-type]
    assert pages.link(incident) == "*INC-12* (<#C12>) <https://bot.example/i/12|page>"
    no_pages = SimilarIncidents(None, lambda: NOW, page_url=lambda i: None)  # type: ignore[arg-type]
    assert no_pages.link(incident) == "*INC-12* (<#C12>)"


@pytest.mark.parametrize(
    ("key", "labels"),
    [
        ('{}:{alertname="HighErrorRate", service="payments"}', GROUP),
        (
            '{}/{team="a"}:{alertname="X", v="say \\"hi\\" {x} \\\\ n\\n"}',
            {"alertname": "X", "v": 'say "hi" {x} \\ n\n'},
        ),
        ("{}:{}", {}),
        ("sha256:0f0f", {}),
        ('json:"{}:{a=\\"b\\"}"', {}),
        (None, {}),
    ],
)
def test_group_labels_from_a_group_key(key: str | None, labels: dict[str, str]) -> None:
    from bot.core.similar import group_labels_from_key

    assert group_labels_from_key(key) == labels
