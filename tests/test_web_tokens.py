"""Signed page links, CSRF tokens and who may read a page: tables of cases (pure core)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.core.incident_page import kind_filter, kinds_matching, parse_filters
from bot.core.web_access import (
    Refusal,
    Viewer,
    decide,
    parse_networks,
    peer_trusted,
    signed_in_person,
)
from bot.core.web_tokens import (
    TokenCheck,
    check_csrf,
    check_link,
    secret_problem,
    sign_csrf,
    sign_link,
)

SECRET = "s" * 40
NOW = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)


def _flip(text: str) -> str:
    return text[:-1] + ("A" if text[-1] != "A" else "B")


@pytest.mark.parametrize(
    ("incident", "at", "secret", "mangle", "expected"),
    [
        (7, NOW, SECRET, None, TokenCheck.VALID),
        (7, NOW + timedelta(days=6, hours=23), SECRET, None, TokenCheck.VALID),
        (7, NOW + timedelta(days=7), SECRET, None, TokenCheck.EXPIRED),
        (7, NOW + timedelta(days=30), SECRET, None, TokenCheck.EXPIRED),
        (8, NOW, SECRET, None, TokenCheck.OTHER_INCIDENT),
        (7, NOW, "x" * 40, None, TokenCheck.TAMPERED),  # another bot's secret
        (7, NOW, SECRET, "signature", TokenCheck.TAMPERED),
        (7, NOW, SECRET, "expiry", TokenCheck.TAMPERED),  # stretched: the signature says no
        (8, NOW, SECRET, "incident", TokenCheck.TAMPERED),  # INC-7's link edited to say 8
        (7, NOW, SECRET, "cut", TokenCheck.TAMPERED),
        (7, NOW, SECRET, "junk", TokenCheck.TAMPERED),
        (7, NOW, SECRET, "empty", TokenCheck.TAMPERED),
        (7, NOW, SECRET, "unicode", TokenCheck.TAMPERED),
    ],
)
def test_link_tokens(
    incident: int, at: datetime, secret: str, mangle: str | None, expected: TokenCheck
) -> None:
    token = sign_link(SECRET, 7, NOW).token
    ident, expires, signature = token.split(".")
    token = {
        None: token,
        "signature": f"{ident}.{expires}.{_flip(signature)}",
        "expiry": f"{ident}.{int(expires) + 86400 * 30}.{signature}",
        "incident": f"8.{expires}.{signature}",
        "cut": token[:-5],
        "junk": "<script>alert(1)</script>",
        "empty": "",
        "unicode": f"{ident}.{expires}.{signature[:-1]}é",
    }[mangle]
    assert check_link(secret, token, incident, at) is expected


def test_link_carries_incident_and_expiry_of_seven_days_by_default() -> None:
    link = sign_link(SECRET, 42, NOW)
    assert link.incident_id == 42
    assert link.expires_at == NOW + timedelta(days=7)
    assert link.token.startswith("42.")
    short = sign_link(SECRET, 42, NOW, timedelta(minutes=5))
    assert check_link(SECRET, short.token, 42, NOW + timedelta(minutes=6)) is TokenCheck.EXPIRED


@pytest.mark.parametrize(
    ("person", "incident", "at", "expected"),
    [
        ("ana@example.com", 7, NOW, True),
        ("bob@example.com", 7, NOW, False),  # somebody else's token
        ("ana@example.com", 8, NOW, False),  # another incident
        ("ana@example.com", 7, NOW + timedelta(hours=13), False),  # expired
    ],
)
def test_csrf_tokens(person: str, incident: int, at: datetime, expected: bool) -> None:
    token = sign_csrf(SECRET, "ana@example.com", 7, NOW)
    assert check_csrf(SECRET, token, person, incident, at) is expected
    assert not check_csrf(SECRET, "", person, incident, at)
    assert not check_csrf(SECRET, "abc.def", person, incident, at)


@pytest.mark.parametrize(
    ("secret", "problem"),
    [
        (None, None),
        ("", "blank"),
        ("   ", "blank"),
        ("short-secret", "at least 32"),
        ("x" * 32, None),
    ],
)
def test_web_secret_must_be_long(secret: str | None, problem: str | None) -> None:
    found = secret_problem(secret)
    assert (found is None) if problem is None else (found is not None and problem in found)


NETS = parse_networks("10.0.0.0/8, 192.168.1.7, fd00::/8")


@pytest.mark.parametrize(
    ("peer", "trusted"),
    [
        ("10.1.2.3", True),
        ("192.168.1.7", True),
        ("192.168.1.8", False),
        ("::ffff:10.0.0.1", True),  # an IPv4 proxy seen through a dual-stack socket
        ("fd00::1", True),
        ("127.0.0.1", False),
        ("not-an-ip", False),
        (None, False),
    ],
)
def test_trusted_proxies(peer: str | None, trusted: bool) -> None:
    assert peer_trusted(peer, NETS) is trusted


def test_bad_proxy_list_names_the_entry() -> None:
    with pytest.raises(ValueError, match=r"'10\.0\.0\.300'"):
        parse_networks("10.0.0.0/8,10.0.0.300")
    assert parse_networks("") == []


@pytest.mark.parametrize(
    ("peer", "header", "person"),
    [
        ("10.0.0.5", "ana@example.com", "ana@example.com"),
        ("10.0.0.5", "  ana@example.com ", "ana@example.com"),
        ("10.0.0.5", "", None),
        ("10.0.0.5", None, None),
        ("8.8.8.8", "ana@example.com", None),  # typed by anyone: not believed
    ],
)
def test_signed_in_person_only_through_a_trusted_proxy(
    peer: str, header: str | None, person: str | None
) -> None:
    assert signed_in_person(peer, NETS, header) == person


@pytest.mark.parametrize(
    ("person", "link", "needs_person", "expected"),
    [
        ("ana@example.com", None, False, Viewer("ana@example.com")),
        ("ana@example.com", TokenCheck.TAMPERED, True, Viewer("ana@example.com")),
        (None, TokenCheck.VALID, False, Viewer(None)),
        (None, TokenCheck.VALID, True, Refusal.NEEDS_PERSON),
        (None, None, False, Refusal.NO_CREDENTIALS),
        (None, None, True, Refusal.NEEDS_PERSON),
        (None, TokenCheck.EXPIRED, False, Refusal.EXPIRED),
        (None, TokenCheck.TAMPERED, False, Refusal.TAMPERED),
        (None, TokenCheck.OTHER_INCIDENT, False, Refusal.OTHER_INCIDENT),
    ],
)
def test_access_decision(
    person: str | None, link: TokenCheck | None, needs_person: bool, expected: object
) -> None:
    found = decide(person, link, needs_person=needs_person)
    assert found == expected
    if isinstance(found, Viewer):
        assert found.can_curate is (person is not None)


@pytest.mark.parametrize(
    ("kind", "name"),
    [
        ("alert_firing", "alerts"),
        ("alert_resolved", "alerts"),
        ("incident_mitigated", "alerts"),
        ("command", "commands"),
        ("status_checked", "commands"),
        ("note", "notes"),
        ("pinned_message", "notes"),
        ("status_changed", "status"),
        ("severity_changed", "status"),
        ("role_assigned", "status"),
        ("rollback_started", "rollbacks"),
        ("suspected_deploy", "rollbacks"),
        ("deploy", "other"),
    ],
)
def test_kind_filters(kind: str, name: str) -> None:
    assert kind_filter(kind) == name


def test_filters_pick_kinds_and_ignore_unknown_names() -> None:
    assert parse_filters(["alerts", "NOTES", "bogus", "alerts"]) == ["alerts", "notes"]
    known = ["alert_firing", "note", "command", "pinned_message"]
    assert kinds_matching(["notes"], known) == ["note", "pinned_message"]
