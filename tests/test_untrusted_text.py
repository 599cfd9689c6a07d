"""Cleaning strings from outside, and group keys that round-trip any string."""

from __future__ import annotations

import pytest

from bot.core.alerts import PayloadError, parse_notification
from bot.core.untrusted_text import (
    MAX_KEY_BYTES,
    TooDeep,
    clean_text,
    clean_tree,
    key_from_storable,
    storable_key,
)


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("payments", "payments"),
        ("pay\ud800ments", "pay\ufffdments"),
        ("a\x00b", "a\ufffdb"),
        ("\x1b[31mred\x1b[0m", "\ufffd[31mred\ufffd[0m"),
        ("line one\nline two\tend\r", "line one\nline two\tend\r"),
        ("del\x7f c1\x85", "del\ufffd c1\ufffd"),
        ("emoji \U0001f525 and accents é", "emoji \U0001f525 and accents é"),
    ],
)
def test_clean_text(raw: str, clean: str) -> None:
    assert clean_text(raw) == clean
    clean_text(raw).encode()  # always encodable


def test_clean_tree_cleans_keys_and_values_and_refuses_hostile_depth() -> None:
    assert clean_tree({"a\x00": ["\ud800", 1, None]}) == {"a\ufffd": ["\ufffd", 1, None]}
    deep: object = {}
    for _ in range(40):
        deep = {"x": deep}
    with pytest.raises(TooDeep):
        clean_tree(deep)


KEYS = [
    '{}:{alertname="HighErrorRate"}',
    "a\x00b",
    "\udc80",
    "json:looks escaped",
    "sha256:looks hashed",
    "é \U0001f525",
    "",
]


@pytest.mark.parametrize("key", KEYS)
def test_storable_keys_round_trip_and_encode(key: str) -> None:
    stored = storable_key(key)
    stored.encode()
    assert "\x00" not in stored
    assert key_from_storable(stored) == key


def test_storable_keys_are_distinct_and_ordinary_ones_unchanged() -> None:
    assert len({storable_key(k) for k in KEYS}) == len(KEYS)
    assert storable_key(KEYS[0]) == KEYS[0]


def test_a_key_too_long_to_index_is_hashed() -> None:
    long = "k" * 5000
    stored = storable_key(long)
    assert stored.startswith("sha256:")
    assert len(stored.encode()) <= MAX_KEY_BYTES
    assert stored != storable_key(long + "x")


def test_notification_keeps_the_last_alert_of_a_repeated_fingerprint() -> None:
    body = (
        b'{"version": "4", "groupKey": "g\\u0000", "status": "firing", "alerts": ['
        b'{"status": "firing", "labels": {"a": "1"}, "startsAt": "2026-11-26T10:00:00Z",'
        b' "fingerprint": "f"},'
        b'{"status": "resolved", "labels": {"a": "2"}, "startsAt": "2026-11-26T10:00:00Z",'
        b' "endsAt": "2026-11-26T10:05:00Z", "fingerprint": "f"}]}'
    )
    note = parse_notification(body)
    assert note.group_key == storable_key("g\x00")
    (only,) = note.alerts
    assert only.labels == {"a": "2"}


@pytest.mark.parametrize(
    "body",
    [
        b'{"version": "4", "groupKey": "g", "truncatedAlerts": ' + b"9" * 5000 + b"}",
        b"[" * 50_000 + b"]" * 50_000,
        '{"version": "4"}'.encode("utf-16"),
    ],
    ids=["huge-int", "deep", "utf-16"],
)
def test_hostile_bodies_are_payload_errors(body: bytes) -> None:
    with pytest.raises(PayloadError):
        parse_notification(body)


@pytest.mark.parametrize(
    ("text", "needs"),
    [
        ('{"a": "plain é \U0001f525"}', False),
        ('{"a": "\\u0000"}', True),
        ('{"a": "\\ud800"}', True),
        ('{"a": "\\u00e9 \\u003e"}', False),  # Go escapes < > &: harmless
        ('{"a": "\\u001B[31m"}', True),
        ('{"a": "\\uDFFF"}', True),
        ('{"a": "del\x7f"}', True),
        ('{"a": "c1\x85"}', True),
        ('{"a": "plain ascii"}', False),
        ('{"a": "go \\u003c\\u0026\\u003e"}', False),
        ('{"a": "\\u007F"}', True),
        ('{"a": "\\u009f and ascii"}', True),
        ('{"a": "raw del \x7f and ascii"}', True),
    ],
)
def test_only_text_that_can_hold_unsafe_characters_is_walked(text: str, needs: bool) -> None:
    from bot.core.untrusted_text import may_need_cleaning

    assert may_need_cleaning(text) is needs
