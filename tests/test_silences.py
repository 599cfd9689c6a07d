"""The silence decisions and the `/incident silence|silences|unsilence` parsing, by table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.core.silences import (
    Matcher,
    SilenceRefused,
    SilenceView,
    check_duration,
    format_matchers,
    group_matchers,
    may_silence,
    parse_duration,
    silence_comment,
    state,
    to_expire_on_resolve,
)
from commands.common import UsageError
from commands.incident import (
    USAGE,
    Silence,
    Silences,
    Unsilence,
    parse_incident_command,
)
from commands.silence import silence_line, silence_message, silences_list

NOW = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
H = timedelta(hours=1)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30m", timedelta(minutes=30)),
        ("1h", H),
        ("4h", 4 * H),
        ("90m", timedelta(minutes=90)),
        ("2H", 2 * H),
        ("45min", timedelta(minutes=45)),
        ("1d", 24 * H),
        (" 1h ", H),
    ],
)
def test_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    "text", ["0h", "1", "1.5h", "1w", "h", "-1h", "1 h", "1h30m", "\u0661h", ""]
)
def test_unknown_durations(text: str) -> None:
    with pytest.raises(SilenceRefused, match="Unknown duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("duration", "max_hours", "allowed"),
    [(H, 24, True), (24 * H, 24, True), (25 * H, 24, False), (timedelta(minutes=31), 0.5, False)],
)
def test_duration_limit(duration: timedelta, max_hours: float, allowed: bool) -> None:
    if allowed:
        assert check_duration(duration, max_hours) == duration
    else:
        with pytest.raises(SilenceRefused, match=r"incident.max_silence_hours"):
            check_duration(duration, max_hours)


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        (
            {"service": "payments", "alertname": "HighErrorRate"},
            'alertname="HighErrorRate", service="payments"',
        ),
        ({"alertname": 'say "hi"'}, 'alertname="say "hi""'),
        ({"alertname": "X", "empty": ""}, 'alertname="X"'),
    ],
)
def test_group_matchers_are_equality_matchers_of_the_group_labels(
    labels: dict[str, str], expected: str
) -> None:
    matchers = group_matchers(labels)
    assert format_matchers(matchers) == expected
    assert all(m.to_api()["isEqual"] and not m.to_api()["isRegex"] for m in matchers)


@pytest.mark.parametrize("labels", [{}, {"alertname": ""}])
def test_no_group_labels_no_silence(labels: dict[str, str]) -> None:
    with pytest.raises(SilenceRefused, match="no alert group to silence"):
        group_matchers(labels)


@pytest.mark.parametrize(
    ("user", "groups", "members", "users", "allowed_groups", "allowed", "reason"),
    [
        ("U1", [], ["U1", "U2"], [], [], True, ""),
        ("U3", [], ["U1", "U2"], [], [], False, "only members of the incident channel"),
        ("U1", [], None, [], [], False, "could not read the channel's members"),
        ("U3", [], ["U1"], ["U3"], [], True, ""),
        ("U1", [], ["U1"], ["U3"], [], False, "not in silence.allowed_users"),
        ("U4", ["S1"], [], [], ["S1"], True, ""),
        ("U4", [], ["U4"], [], ["S1"], False, "silence.allowed_groups"),
    ],
)
def test_who_may_silence(
    user: str,
    groups: list[str],
    members: list[str] | None,
    users: list[str],
    allowed_groups: list[str],
    allowed: bool,
    reason: str,
) -> None:
    permission = may_silence(
        user,
        user_groups=groups,
        channel_members=members,
        allowed_users=users,
        allowed_groups=allowed_groups,
    )
    assert permission.allowed is allowed
    assert reason in permission.reason


def _view(
    row: int, *, keep: bool = False, ends: timedelta = H, expired: bool = False
) -> SilenceView:
    return SilenceView(
        row_id=row,
        silence_id=f"s{row}",
        matchers=(Matcher("alertname", "X").to_api(),),
        created_by="U1",
        starts_at=NOW - H,
        ends_at=NOW + ends,
        reason="deploying",
        keep=keep,
        expired_at=NOW if expired else None,
        expired_by="U2" if expired else None,
    )


@pytest.mark.parametrize(
    ("silence", "expected_state", "expired_on_resolve"),
    [
        (_view(1), "active", True),
        (_view(2, keep=True), "active", False),
        (_view(3, ends=-H), "ended", False),
        (_view(4, expired=True), "expired", False),
    ],
)
def test_which_silences_a_resolve_expires(
    silence: SilenceView, expected_state: str, expired_on_resolve: bool
) -> None:
    assert state(silence, NOW) == expected_state
    assert (to_expire_on_resolve([silence], NOW) == [silence]) is expired_on_resolve


def test_comment_names_the_incident_and_links_the_channel() -> None:
    link = "https://x.slack.com/archives/C1/p1"
    assert silence_comment("INC-7", link, "rollback running") == (
        f"INC-7: silenced from the incident channel | {link} | rollback running"
    )
    assert silence_comment("INC-7", None, None) == "INC-7: silenced from the incident channel"


def test_rendering_escapes_outside_text_and_offers_unsilence_while_active() -> None:
    silence = SilenceView(
        row_id=5,
        silence_id="abc",
        matchers=(Matcher("alertname", "<!channel>").to_api(),),
        created_by="U1",
        starts_at=NOW,
        ends_at=NOW + H,
        reason="a <b> & c",
        keep=True,
    )
    text, blocks = silence_message(silence, NOW)
    assert "&lt;!channel&gt;" in text and "<!channel>" not in text
    assert "a &lt;b&gt; &amp; c" in text
    assert "(kept after resolve)" in text and "(1h, Alertmanager silence `abc`)" in text
    assert blocks[-1]["elements"][0]["action_id"] == "silence_expire"
    _, after = silence_message(silence, NOW + 2 * H)
    assert len(after) == 1  # ended: no button
    assert "ended" in silence_line(silence, NOW + 2 * H)
    assert silences_list([], NOW).startswith("No silences were made for this incident")
    assert silences_list([silence], NOW).startswith("*Silences of this incident*\n• <@U1> silenced")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("silence", Silence(H, None, False)),
        ("silence 30m", Silence(timedelta(minutes=30), None, False)),
        (
            "silence 4h deploy of v2.3.1 rolling back",
            Silence(4 * H, "deploy of v2.3.1 rolling back"),
        ),
        ("silence noisy while we fix it", Silence(H, "noisy while we fix it")),
        ("silence 1h --keep flapping &lt;db&gt;", Silence(H, "flapping <db>", True)),
        ("mute --KEEP", Silence(H, None, True)),
        ("silences", Silences()),
        ("unsilence", Unsilence()),
        ("unmute", Unsilence()),
    ],
)
def test_parse(text: str, expected: object) -> None:
    assert parse_incident_command(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("silence 2x", "Unknown duration '2x'"),
        ("silence 0m", "Unknown duration '0m'"),
        ("silence 1h --force", "Unknown option --force"),
        ("silences all", USAGE["silences"]),
        ("unsilence now", USAGE["unsilence"]),
    ],
)
def test_parse_errors_say_what_to_type(text: str, message: str) -> None:
    with pytest.raises(UsageError) as e:
        parse_incident_command(text)
    assert message in str(e.value)
