"""Which deliveries repeat their group's previous state: a table of cases."""

from __future__ import annotations

import json

import pytest

from bot.core.delivery_fold import Seen, fold, processing_view


def body(**changes: object) -> str:
    notification: dict[str, object] = {
        "version": "4",
        "groupKey": '{}:{service="pay"}',
        "status": "firing",
        "receiver": "bot",
        "externalURL": "http://am:9093",
        "groupLabels": {"service": "pay"},
        "commonLabels": {"service": "pay", "alertname": "HighErrorRate"},
        "commonAnnotations": {},
        "truncatedAlerts": 0,
        "alerts": [
            {
                "status": "firing",
                "fingerprint": "f1",
                "startsAt": "2026-11-30T09:00:00Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "labels": {"alertname": "HighErrorRate", "service": "pay"},
                "annotations": {},
            }
        ],
    }
    notification.update(changes)
    return json.dumps(notification)


RESOLVED = [
    {
        "status": "resolved",
        "fingerprint": "f1",
        "startsAt": "2026-11-30T09:00:00Z",
        "endsAt": "2026-11-30T09:05:00Z",
        "labels": {"alertname": "HighErrorRate", "service": "pay"},
        "annotations": {},
    }
]


@pytest.mark.parametrize(
    ("previous_body", "current_body", "expected"),
    [
        (None, body(), None),  # the group's first delivery in the pass is processed
        (body(), body(), "same as delivery 7"),  # byte for byte: a repeat, an HA peer
        (body(), body(externalURL="http://am-1:9093"), "same alerts as delivery 7"),
        (body(), body(receiver="other"), "same alerts as delivery 7"),
        (body(), body(alerts=RESOLVED), None),  # an alert resolved: a change
        (body(), body(commonAnnotations={"summary": "new"}), None),
        (body(), body(groupLabels={"service": "pay", "x": "y"}), None),
        (body(), body(truncatedAlerts=3), None),
        (body(), body(truncatedAlerts=None), "same alerts as delivery 7"),  # None is 0
        ("not json", "not json", "same as delivery 7"),  # nothing new to learn from it
        ("not json", body(), None),
        (body(), "[1, 2]", None),  # no JSON object: processed, and refused there
    ],
)
def test_a_delivery_folds_only_into_an_equal_state(
    previous_body: str | None, current_body: str, expected: str | None
) -> None:
    previous = (
        None if previous_body is None else Seen(7, previous_body, processing_view(previous_body))
    )
    outcome, _ = fold(previous, 8, current_body)
    assert outcome == expected


def test_the_next_delivery_compares_with_the_one_whose_state_it_repeats() -> None:
    first = body()
    outcome, seen = fold(None, 1, first)
    assert outcome is None
    outcome, seen = fold(seen, 2, body(externalURL="http://am-1:9093"))
    assert outcome == "same alerts as delivery 1"
    outcome, seen = fold(seen, 3, body(externalURL="http://am-1:9093"))
    assert outcome == "same as delivery 2"
    outcome, seen = fold(seen, 4, body(alerts=RESOLVED))
    assert outcome is None
    assert seen.delivery_id == 4


def test_unparseable_or_deep_json_has_no_view() -> None:
    assert processing_view("{") is None
    assert processing_view("[" * 100_000) is None
    assert processing_view('"text"') is None
