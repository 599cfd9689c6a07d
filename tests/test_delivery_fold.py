"""Which deliveries repeat their group's previous state: a table of cases."""

from __future__ import annotations

import json

import pytest

from bot.core.alerts import Notification
from bot.core.delivery_fold import (
    Folded,
    Seen,
    fold,
    fold_batch,
    parsed_or_none,
    processing_view,
    still_newest,
)


def seen(delivery_id: int, text: str) -> Seen:
    return Seen(delivery_id, text, processing_view(parsed_or_none(delivery_id, text)))


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
        (body(), body(truncatedAlerts=None), None),  # refused on receipt: processed alone
        # JSON that differs but parses the same (an alert repeated: its last one counts)
        (body(), body(alerts=json.loads(body())["alerts"] * 2), "same alerts as delivery 7"),
        ("not json", "not json", "same as delivery 7"),  # nothing new to learn from it
        ("not json", body(), None),
        (body(), "[1, 2]", None),  # no JSON object: processed, and refused there
    ],
)
def test_a_delivery_folds_only_into_an_equal_state(
    previous_body: str | None, current_body: str, expected: str | None
) -> None:
    previous = None if previous_body is None else seen(7, previous_body)
    outcome, _ = fold(previous, 8, current_body)
    assert outcome.repeat == expected


def test_the_next_delivery_compares_with_the_one_whose_state_it_repeats() -> None:
    first = body()
    outcome, last = fold(None, 1, first)
    assert outcome.repeat is None
    outcome, last = fold(last, 2, body(externalURL="http://am-1:9093"))
    assert outcome.repeat == "same alerts as delivery 1"
    outcome, last = fold(last, 3, body(externalURL="http://am-1:9093"))
    assert outcome.repeat == "same as delivery 2"
    outcome, last = fold(last, 4, body(alerts=RESOLVED))
    assert outcome.repeat is None
    assert last.delivery_id == 4


def test_what_is_processed_is_handed_on_parsed() -> None:
    outcome, _ = fold(None, 1, body(alerts=RESOLVED))
    assert outcome.notification is not None
    assert outcome.notification.alerts[0].status == "resolved"
    refused, last = fold(None, 2, "[1, 2]")
    assert refused == Folded(None, None)  # processing parses it again, and says why
    assert last.view is None


def test_a_body_is_parsed_once_and_a_repeat_not_at_all() -> None:
    parsed: list[int] = []
    given = parsed_or_none(0, body())

    def parse(delivery_id: int, _body: str) -> Notification | None:
        parsed.append(delivery_id)
        return given  # as the intake hands over what the route parsed

    pay = '{}:{service="pay"}'
    deliveries = [(1, pay, body()), (2, pay, body()), (3, pay, body(receiver="x"))]
    outcomes, _ = fold_batch({}, deliveries, parse)
    assert [o.repeat for o in outcomes] == [None, "same as delivery 1", "same alerts as delivery 1"]
    assert outcomes[0].notification is given
    assert parsed == [1, 3]


def test_a_batch_folds_each_group_against_its_own_previous_delivery() -> None:
    pay, web = '{}:{service="pay"}', '{}:{service="web"}'
    carried = {pay: seen(1, body())}
    deliveries = [
        (2, pay, body(externalURL="http://am-1:9093")),  # folds into the carried one
        (3, web, body(groupKey=web)),  # a group new to the pass: processed
        (4, pay, body(alerts=RESOLVED)),  # a change: processed
        (5, web, body(groupKey=web)),  # repeats 3
        (6, pay, body(alerts=RESOLVED)),  # repeats 4
    ]
    outcomes, last = fold_batch(carried, deliveries)
    assert [o.repeat for o in outcomes] == [
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
    kept_seen = {group: Seen(i, body(), None) for group, i in carried.items()}
    assert set(still_newest(kept_seen, taken)) == kept
