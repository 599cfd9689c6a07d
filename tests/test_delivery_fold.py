"""Which deliveries repeat their group's previous state: a table of cases."""

from __future__ import annotations

import json

import pytest

from bot.core.delivery_fold import Seen, fold, fold_batch, processing_view, still_newest


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


def test_a_batch_folds_each_group_against_its_own_previous_delivery() -> None:
    pay, web = '{}:{service="pay"}', '{}:{service="web"}'
    carried = {pay: Seen(1, body(), processing_view(body()))}
    deliveries = [
        (2, pay, body(externalURL="http://am-1:9093")),  # folds into the carried one
        (3, web, body(groupKey=web)),  # a group new to the pass: processed
        (4, pay, body(alerts=RESOLVED)),  # a change: processed
        (5, web, body(groupKey=web)),  # repeats 3
        (6, pay, body(alerts=RESOLVED)),  # repeats 4
    ]
    outcomes, last = fold_batch(carried, deliveries)
    assert outcomes == [
        "same alerts as delivery 1",
        None,
        None,
        "same as delivery 3",
        "same as delivery 4",
    ]
    assert {group: seen.delivery_id for group, seen in last.items()} == {pay: 4, web: 3}
    assert carried[pay].delivery_id == 1  # what was carried in is not changed


@pytest.mark.parametrize(
    ("carried", "taken", "kept"),
    [
        ({}, [], set()),
        ({"pay": 1, "web": 2}, [], {"pay", "web"}),
        ({"pay": 1, "web": 2}, ["pay"], {"web"}),  # another replica had one of pay's
        ({"pay": 1}, ["web", "web"], {"pay"}),  # taken groups not carried change nothing
    ],
)
def test_a_group_another_replica_touched_starts_afresh(
    carried: dict[str, int], taken: list[str], kept: set[str]
) -> None:
    seen = {group: Seen(i, body(), None) for group, i in carried.items()}
    assert set(still_newest(seen, taken)) == kept
