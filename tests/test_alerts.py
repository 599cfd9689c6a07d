from datetime import UTC, datetime

import pytest

from bot.core.alerts import (
    AlertStatus,
    PayloadError,
    format_timestamp,
    parse_notification,
    parse_timestamp,
)
from tests.support.fixture_files import FIXTURES


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-26T10:12:55.272Z", datetime(2026, 11, 26, 10, 12, 55, 272000, tzinfo=UTC)),
        ("2026-11-26T10:19:54.461773567Z", datetime(2026, 11, 26, 10, 19, 54, 461773, tzinfo=UTC)),
        ("2026-11-26T10:19:54Z", datetime(2026, 11, 26, 10, 19, 54, tzinfo=UTC)),
        ("2026-11-26T12:19:54.5+02:00", datetime(2026, 11, 26, 10, 19, 54, 500000, tzinfo=UTC)),
        ("0001-01-01T00:00:00Z", None),
    ],
)
def test_parse_timestamp(text: str, expected: datetime | None) -> None:
    assert parse_timestamp(text) == expected


@pytest.mark.parametrize("text", ["yesterday", "2026-11-26 10:00:00", "2026-11-26T10:00:00"])
def test_parse_timestamp_refuses_what_is_not_rfc3339(text: str) -> None:
    with pytest.raises(ValueError, match="RFC 3339"):
        parse_timestamp(text)


def test_format_timestamp_is_utc_with_z() -> None:
    value = datetime(2026, 11, 26, 10, 0, 1, 250000, tzinfo=UTC)
    assert format_timestamp(value) == "2026-11-26T10:00:01.250Z"


@pytest.mark.parametrize(
    ("name", "status", "ends_at"),
    [
        ("v4-firing-prometheus-2.42-am-0.25.json", AlertStatus.FIRING, None),
        ("v4-firing-direct-post-am-0.25.json", AlertStatus.FIRING, None),
        (
            "v4-resolved-prometheus-2.42-am-0.25.json",
            AlertStatus.RESOLVED,
            datetime(2026, 11, 26, 10, 13, 7, 272000, tzinfo=UTC),
        ),
    ],
)
def test_real_payloads_parse(name: str, status: AlertStatus, ends_at: datetime | None) -> None:
    notification = parse_notification((FIXTURES / name).read_bytes())
    assert notification.status is status
    assert notification.group_key == '{}:{alertname="PaymentsDown", service="payments"}'
    alert = notification.alerts[0]
    assert alert.fingerprint == "440d54076bcd8569"
    assert alert.ends_at == ends_at
    assert notification.label("service") == "payments"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "not JSON"),
        (b"[]", "JSON object"),
        (b'{"version": "4"}', "groupKey"),
        (b'{"version": "3", "groupKey": "g", "status": "firing", "alerts": []}', "version 4"),
        (
            b'{"version": "4", "groupKey": "g", "status": "firing", "alerts": [{"status": "firing",'
            b' "labels": {}, "startsAt": "soon", "fingerprint": "f"}]}',
            "startsAt",
        ),
        (b'{"version": "4", "groupKey": "g", "status": "burning", "alerts": []}', "status"),
        (b"\xff\xfe", "not JSON"),
    ],
)
def test_bad_payloads_say_why(body: bytes, reason: str) -> None:
    with pytest.raises(PayloadError, match=reason):
        parse_notification(body)


_FIRING = (FIXTURES / "v4-firing-prometheus-2.42-am-0.25.json").read_text()


@pytest.mark.parametrize(
    "text",
    [
        _FIRING,
        (FIXTURES / "v4-resolved-prometheus-2.42-am-0.25.json").read_text(),
        _FIRING.replace('"groupKey":', '"groupKey":"first","groupKey":', 1),  # last one wins
        _FIRING.replace('"groupKey":"', '"groupKey":"sha256:', 1),  # looks escaped: escaped
        _FIRING.replace('"groupKey":"', '"groupKey":"' + "k" * 1200, 1),  # too long: hashed
        _FIRING.replace('"truncatedAlerts":0', '"truncatedAlerts":1e1'),
        _FIRING.replace('"truncatedAlerts":0', '"truncatedAlerts":NaN'),
        _FIRING.replace('"truncatedAlerts":0', '"truncatedAlerts":' + "9" * 5000),
        _FIRING.replace('"receiver":', '"extra":' + "[" * 300 + "]" * 300 + ',"receiver":', 1),
        _FIRING.replace('"alerts":[', '"alerts":[{"status":"firing"},', 1),
        _FIRING + " x",
        _FIRING[:-10],
    ],
)
def test_the_one_pass_parse_agrees_with_the_full_parse(
    text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Bodies with nothing to clean are parsed by pydantic in one pass; the full parse
    # (json.loads, cleaning where needed, validating) gives the same notification or refusal.
    def outcome() -> object:
        try:
            return parse_notification(text)
        except PayloadError as e:
            return str(e)

    one_pass = outcome()
    monkeypatch.setattr("bot.core.alerts._parse_in_one_pass", lambda _text: None)
    assert one_pass == outcome()


def test_a_long_timestamp_is_parsed_but_not_kept() -> None:
    from bot.core.alerts import _parse_timestamp_cached

    # "Any number of fractional digits" must not let a sender fill memory with its keys.
    _parse_timestamp_cached.cache_clear()
    long = "2026-11-26T10:19:54." + "1" * 100_000 + "Z"
    assert parse_timestamp(long) == datetime(2026, 11, 26, 10, 19, 54, 111111, tzinfo=UTC)
    assert _parse_timestamp_cached.cache_info().currsize == 0
    assert parse_timestamp("2026-11-26T10:19:54.111111Z") == parse_timestamp(long)
    assert _parse_timestamp_cached.cache_info().currsize == 1
