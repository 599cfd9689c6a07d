from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from bot.core.incident_rules import IncidentStatus
from bot.core.lifecycle import (
    ROLE_DUTIES,
    SEVERITY_DEFINITIONS,
    SUMMARY_REQUIRED,
    Durations,
    EventKind,
    LifecycleState,
    TransitionError,
    acknowledge,
    assign_role,
    change_severity,
    durations,
    format_duration,
    format_durations,
    mention,
    role_duties,
    transition,
)

S = IncidentStatus
T0 = datetime(2026, 11, 26, 14, 32, tzinfo=UTC)
NOW = T0 + timedelta(hours=1)
SUMMARY = "bad deploy of payment-service rolled back"


def minutes(n: int) -> datetime:
    return T0 + timedelta(minutes=n)


BASE = LifecycleState(
    status=S.INVESTIGATING, severity="sev2", started_at=T0, detected_at=minutes(1)
)
STATES = {
    S.INVESTIGATING: BASE,
    S.IDENTIFIED: replace(BASE, status=S.IDENTIFIED, identified_at=minutes(10)),
    S.MONITORING: replace(
        BASE, status=S.MONITORING, identified_at=minutes(10), mitigated_at=minutes(20)
    ),
    S.RESOLVED: replace(
        BASE,
        status=S.RESOLVED,
        identified_at=minutes(10),
        mitigated_at=minutes(20),
        resolved_at=minutes(30),
        resolution_summary="old summary",
    ),
}
STATES[S.CLOSED] = replace(STATES[S.RESOLVED], status=S.CLOSED, closed_at=minutes(40))

FINAL = "closed is final; for new trouble: /incident declare <title>"
REOPEN = "resolved; to work on it again: /incident reopen {}"
CLOSE_FIRST = "only a resolved incident can be closed; first: /incident status resolved <summary>"
ALREADY = {
    S.INVESTIGATING: "already investigating; next: /incident status identified <cause>",
    S.IDENTIFIED: "already identified; next: /incident status monitoring",
    S.MONITORING: "already monitoring; next: /incident status resolved <summary>",
    S.RESOLVED: "already resolved; next: /incident close (or /incident reopen)",
    S.CLOSED: "already closed; next: /incident declare <title> for a new incident",
}
OPEN_TO = "reopen to an open status: /incident reopen [investigating|identified|monitoring]"

# Every status to every status, with and without reopen: None = allowed, else the refusal.
TRANSITIONS = [
    (S.INVESTIGATING, S.INVESTIGATING, False, ALREADY[S.INVESTIGATING]),
    (S.INVESTIGATING, S.IDENTIFIED, False, None),
    (S.INVESTIGATING, S.MONITORING, False, None),
    (S.INVESTIGATING, S.RESOLVED, False, None),
    (S.INVESTIGATING, S.CLOSED, False, CLOSE_FIRST),
    (S.IDENTIFIED, S.INVESTIGATING, False, None),
    (S.IDENTIFIED, S.IDENTIFIED, False, ALREADY[S.IDENTIFIED]),
    (S.IDENTIFIED, S.MONITORING, False, None),
    (S.IDENTIFIED, S.RESOLVED, False, None),
    (S.IDENTIFIED, S.CLOSED, False, CLOSE_FIRST),
    (S.MONITORING, S.INVESTIGATING, False, None),
    (S.MONITORING, S.IDENTIFIED, False, None),
    (S.MONITORING, S.MONITORING, False, ALREADY[S.MONITORING]),
    (S.MONITORING, S.RESOLVED, False, None),
    (S.MONITORING, S.CLOSED, False, CLOSE_FIRST),
    (S.RESOLVED, S.INVESTIGATING, False, REOPEN.format("investigating")),
    (S.RESOLVED, S.IDENTIFIED, False, REOPEN.format("identified")),
    (S.RESOLVED, S.MONITORING, False, REOPEN.format("monitoring")),
    (S.RESOLVED, S.RESOLVED, False, ALREADY[S.RESOLVED]),
    (S.RESOLVED, S.CLOSED, False, None),
    (S.CLOSED, S.INVESTIGATING, False, FINAL),
    (S.CLOSED, S.IDENTIFIED, False, FINAL),
    (S.CLOSED, S.MONITORING, False, FINAL),
    (S.CLOSED, S.RESOLVED, False, FINAL),
    (S.CLOSED, S.CLOSED, False, ALREADY[S.CLOSED]),
    (S.RESOLVED, S.INVESTIGATING, True, None),
    (S.RESOLVED, S.IDENTIFIED, True, None),
    (S.RESOLVED, S.MONITORING, True, None),
    (S.RESOLVED, S.RESOLVED, True, ALREADY[S.RESOLVED]),
    (S.RESOLVED, S.CLOSED, True, OPEN_TO),
    (
        S.INVESTIGATING,
        S.IDENTIFIED,
        True,
        "not resolved (it is investigating); use: /incident status identified",
    ),
    (
        S.MONITORING,
        S.INVESTIGATING,
        True,
        "not resolved (it is monitoring); use: /incident status investigating",
    ),
    (S.MONITORING, S.RESOLVED, True, OPEN_TO),
    (S.CLOSED, S.INVESTIGATING, True, FINAL),
]


@pytest.mark.parametrize(("start", "to", "reopen", "refusal"), TRANSITIONS)
def test_every_transition(
    start: IncidentStatus, to: IncidentStatus, reopen: bool, refusal: str | None
) -> None:
    state = STATES[start]
    if refusal is not None:
        with pytest.raises(TransitionError) as error:
            transition(state, to, now=NOW, actor="U1", summary=SUMMARY, reopen=reopen)
        assert str(error.value) == refusal
        return
    result = transition(state, to, now=NOW, actor="U1", summary=SUMMARY, reopen=reopen)
    assert result.state.status is to
    (event,) = result.events
    assert event.occurred_at == NOW
    assert event.kind is (EventKind.REOPENED if reopen else EventKind.STATUS_CHANGED)
    assert event.text.startswith("<@U1> ")
    assert f"{start} -> {to}" in event.text
    assert (event.details["from"], event.details["to"], event.details["actor"]) == (
        start,
        to,
        "U1",
    )


MILESTONES = ("identified_at", "mitigated_at", "resolved_at", "closed_at")
M10, M20, M30 = minutes(10), minutes(20), minutes(30)


@pytest.mark.parametrize(
    ("start", "to", "reopen", "expected"),
    [
        # forward, skipping milestones: each empty one is stamped with now
        (S.INVESTIGATING, S.IDENTIFIED, False, (NOW, None, None, None)),
        (S.INVESTIGATING, S.MONITORING, False, (NOW, NOW, None, None)),
        (S.INVESTIGATING, S.RESOLVED, False, (NOW, NOW, NOW, None)),
        (S.IDENTIFIED, S.MONITORING, False, (M10, NOW, None, None)),
        (S.IDENTIFIED, S.RESOLVED, False, (M10, NOW, NOW, None)),
        (S.MONITORING, S.RESOLVED, False, (M10, M20, NOW, None)),
        (S.RESOLVED, S.CLOSED, False, (M10, M20, M30, NOW)),
        # relapse: milestones past the new status are cleared, to be stamped again
        (S.MONITORING, S.IDENTIFIED, False, (M10, None, None, None)),
        (S.MONITORING, S.INVESTIGATING, False, (None, None, None, None)),
        (S.IDENTIFIED, S.INVESTIGATING, False, (None, None, None, None)),
        # reopen: resolved_at cleared (and whatever lies past the status reopened to)
        (S.RESOLVED, S.MONITORING, True, (M10, M20, None, None)),
        (S.RESOLVED, S.IDENTIFIED, True, (M10, None, None, None)),
        (S.RESOLVED, S.INVESTIGATING, True, (None, None, None, None)),
    ],
)
def test_milestones_stamped_and_cleared(
    start: IncidentStatus, to: IncidentStatus, reopen: bool, expected: tuple[object, ...]
) -> None:
    result = transition(STATES[start], to, now=NOW, actor="U1", summary=SUMMARY, reopen=reopen)
    assert tuple(getattr(result.state, m) for m in MILESTONES) == expected
    assert (result.state.started_at, result.state.detected_at) == (T0, minutes(1))


@pytest.mark.parametrize(
    ("start", "to", "reopen", "details"),
    [
        (
            S.INVESTIGATING,
            S.RESOLVED,
            False,
            {"stamped": "identified_at mitigated_at resolved_at", "summary": SUMMARY},
        ),
        (
            S.MONITORING,
            S.INVESTIGATING,
            False,
            {
                "cleared": "identified_at=2026-11-26T14:42:00.000Z "
                "mitigated_at=2026-11-26T14:52:00.000Z"
            },
        ),
        (
            S.RESOLVED,
            S.MONITORING,
            True,
            {"cleared": "resolved_at=2026-11-26T15:02:00.000Z", "previous_summary": "old summary"},
        ),
        (S.RESOLVED, S.CLOSED, False, {"stamped": "closed_at"}),
    ],
)
def test_event_keeps_the_history(
    start: IncidentStatus, to: IncidentStatus, reopen: bool, details: Mapping[str, str]
) -> None:
    summary = SUMMARY if to is S.RESOLVED else None
    result = transition(STATES[start], to, now=NOW, actor="U1", summary=summary, reopen=reopen)
    expected = {"from": str(start), "to": str(to), "actor": "U1", **details}
    assert dict(result.events[0].details) == expected


@pytest.mark.parametrize(
    ("summary", "expected"),
    [
        (None, None),
        ("", None),
        ("   \n ", None),
        ("rolled back", "rolled back"),
        ("  rolled\n back  ", "rolled back"),
    ],
)
def test_resolving_needs_a_one_line_summary(summary: str | None, expected: str | None) -> None:
    if expected is None:
        with pytest.raises(TransitionError) as error:
            transition(BASE, S.RESOLVED, now=NOW, actor="U1", summary=summary)
        assert str(error.value) == SUMMARY_REQUIRED
        assert SUMMARY_REQUIRED == (
            "add a one-line resolution summary: /incident status resolved <summary>"
        )
        return
    result = transition(BASE, S.RESOLVED, now=NOW, actor="U1", summary=summary)
    assert result.state.resolution_summary == expected
    assert (
        result.events[0].text == f"<@U1> changed the status: investigating -> resolved: {expected}"
    )


def test_reopen_clears_the_summary() -> None:
    result = transition(STATES[S.RESOLVED], S.INVESTIGATING, now=NOW, actor="U1", reopen=True)
    assert result.state.resolution_summary is None
    assert result.events[0].text == "<@U1> reopened the incident: resolved -> investigating"


def test_relapse_is_named_in_the_event() -> None:
    result = transition(STATES[S.MONITORING], S.INVESTIGATING, now=NOW, actor="U9")
    assert result.events[0].text == (
        "<@U9> moved the status back (relapse): monitoring -> investigating"
    )


@pytest.mark.parametrize(
    ("start", "now", "allowed"),
    [
        (S.INVESTIGATING, minutes(1), True),  # equal to the latest stamp (detected_at)
        (S.INVESTIGATING, minutes(0), False),
        (S.MONITORING, minutes(20), True),
        (S.MONITORING, minutes(19), False),
        (S.RESOLVED, minutes(29), False),
        (S.RESOLVED, minutes(31), True),
    ],
)
def test_times_never_go_backwards(start: IncidentStatus, now: datetime, allowed: bool) -> None:
    to = S.CLOSED if start is S.RESOLVED else S.RESOLVED
    if allowed:
        assert transition(STATES[start], to, now=now, actor="U1", summary="x").state.status is to
        return
    with pytest.raises(TransitionError, match="times can't go backwards"):
        transition(STATES[start], to, now=now, actor="U1", summary="x")


def test_clock_check_sees_mitigation_from_alerts() -> None:
    # alerts resolved at 14:52 while investigating (mitigated_at stamped by alert intake)
    state = replace(BASE, mitigated_at=minutes(20))
    with pytest.raises(
        TransitionError, match=r"before the last recorded change \(2026-11-26T14:52"
    ):
        transition(state, S.IDENTIFIED, now=minutes(15), actor="U1")
    later = transition(state, S.IDENTIFIED, now=minutes(25), actor="U1").state
    assert (later.identified_at, later.mitigated_at) == (minutes(25), None)


@pytest.mark.parametrize(
    ("acknowledged_at", "now", "expected", "events"),
    [
        (None, minutes(3), minutes(3), 1),
        (minutes(2), minutes(3), minutes(2), 0),  # the first human action wins
        (None, minutes(1), minutes(1), 1),
    ],
)
def test_acknowledge_stamps_the_first_human_action(
    acknowledged_at: datetime | None, now: datetime, expected: datetime, events: int
) -> None:
    result = acknowledge(replace(BASE, acknowledged_at=acknowledged_at), now, "U5")
    assert result.state.acknowledged_at == expected
    assert len(result.events) == events
    if events:
        assert result.events[0].kind is EventKind.ACKNOWLEDGED
        assert result.events[0].text == "Acknowledged by <@U5>"


def test_acknowledge_refuses_a_clock_going_backwards() -> None:
    with pytest.raises(TransitionError, match="times can't go backwards"):
        acknowledge(BASE, minutes(0), "U5")


VALID_SEVERITIES = "unknown severity {!r}; valid: sev1, sev2, sev3, sev4 (/incident sev 1..4)"


@pytest.mark.parametrize(
    ("value", "expected", "refusal"),
    [
        ("1", "sev1", None),
        ("3", "sev3", None),
        ("sev4", "sev4", None),
        ("SEV1", "sev1", None),
        (" Sev3 ", "sev3", None),
        ("2", None, "already sev2"),
        ("sev2", None, "already sev2"),
        ("5", None, VALID_SEVERITIES.format("5")),
        ("sev0", None, VALID_SEVERITIES.format("sev0")),
        ("critical", None, VALID_SEVERITIES.format("critical")),
        ("", None, VALID_SEVERITIES.format("")),
        ("-1", None, VALID_SEVERITIES.format("-1")),
    ],
)
def test_change_severity(value: str, expected: str | None, refusal: str | None) -> None:
    if refusal is not None:
        with pytest.raises(TransitionError) as error:
            change_severity(BASE, value, now=NOW, actor="U1")
        assert str(error.value) == refusal
        return
    result = change_severity(BASE, value, now=NOW, actor="U1")
    assert result.state.severity == expected
    (event,) = result.events
    assert (event.kind, event.occurred_at) == (EventKind.SEVERITY_CHANGED, NOW)
    assert event.text == f"<@U1> changed the severity: sev2 -> {expected}"
    assert dict(event.details) == {"from": "sev2", "to": expected, "actor": "U1"}


def test_change_severity_with_configured_levels() -> None:
    allowed = ("sev0", "sev1", "sev2")
    assert change_severity(BASE, "0", now=NOW, actor="U1", allowed=allowed).state.severity == "sev0"
    with pytest.raises(TransitionError) as error:
        change_severity(BASE, "sev3", now=NOW, actor="U1", allowed=allowed)
    assert (
        str(error.value) == "unknown severity 'sev3'; valid: sev0, sev1, sev2 (/incident sev 0..2)"
    )


UNKNOWN_ROLE = (
    "unknown role {!r}; roles: commander (lead), communications, scribe{}. "
    "Use: /incident role <role> @user"
)


@pytest.mark.parametrize(
    ("roles", "role", "extra", "expected", "text", "refusal"),
    [
        ({}, "commander", (), "commander", "<@U1> made <@U2> the commander", None),
        ({}, "lead", (), "commander", "<@U1> made <@U2> the commander", None),
        ({}, "Lead", (), "commander", "<@U1> made <@U2> the commander", None),
        ({}, "comms", (), "communications", "<@U1> made <@U2> the communications", None),
        ({}, "scribe", (), "scribe", "<@U1> made <@U2> the scribe", None),
        ({}, "liaison", ("Liaison",), "liaison", "<@U1> made <@U2> the liaison", None),
        (
            {"commander": "U7"},
            "lead",
            (),
            "commander",
            "<@U1> made <@U2> the commander (was <@U7>)",
            None,
        ),
        ({"commander": "U2"}, "lead", (), None, None, "<@U2> is already the commander"),
        ({}, "liaison", (), None, None, UNKNOWN_ROLE.format("liaison", "")),
        (
            {},
            "ops",
            ("liaison", "customer-support"),
            None,
            None,
            UNKNOWN_ROLE.format("ops", ", liaison, customer-support"),
        ),
    ],
)
def test_assign_role(
    roles: dict[str, str],
    role: str,
    extra: tuple[str, ...],
    expected: str | None,
    text: str | None,
    refusal: str | None,
) -> None:
    if refusal is not None:
        with pytest.raises(TransitionError) as error:
            assign_role(roles, role, "U2", now=NOW, actor="U1", extra_roles=extra)
        assert str(error.value) == refusal
        return
    assert expected is not None
    new, event = assign_role(roles, role, "U2", now=NOW, actor="U1", extra_roles=extra)
    assert new == {**roles, expected: "U2"}
    assert roles.get(expected) != "U2"  # the input mapping is left alone
    assert (event.kind, event.text, event.occurred_at) == (EventKind.ROLE_ASSIGNED, text, NOW)
    assert event.details["role"] == expected


@pytest.mark.parametrize(
    ("role", "duties"),
    [
        ("commander", ROLE_DUTIES["commander"]),
        ("lead", ROLE_DUTIES["commander"]),
        ("scribe", ROLE_DUTIES["scribe"]),
        ("liaison", "Does what the commander asks of this role and reports back in the channel."),
    ],
)
def test_role_duties(role: str, duties: str) -> None:
    assert role_duties(role) == duties


def test_definitions_cover_every_level_and_role() -> None:
    assert list(SEVERITY_DEFINITIONS) == ["sev1", "sev2", "sev3", "sev4"]
    assert "outage" in SEVERITY_DEFINITIONS["sev1"]
    assert "workaround" in SEVERITY_DEFINITIONS["sev3"]
    assert list(ROLE_DUTIES) == ["commander", "communications", "scribe"]


@pytest.mark.parametrize(
    ("stamps", "expected"),
    [
        ({}, Durations(None, None, None)),
        ({"acknowledged_at": minutes(3)}, Durations(timedelta(minutes=2), None, None)),
        (
            {
                "acknowledged_at": minutes(3),
                "mitigated_at": minutes(20),
                "resolved_at": minutes(72),
            },
            Durations(timedelta(minutes=2), timedelta(minutes=20), timedelta(hours=1, minutes=12)),
        ),
        ({"resolved_at": minutes(30)}, Durations(None, None, timedelta(minutes=30))),
    ],
)
def test_durations(stamps: dict[str, datetime], expected: Durations) -> None:
    assert durations(replace(BASE, **stamps)) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("td", "text"),
    [
        (None, "unknown"),
        (timedelta(0), "0s"),
        (timedelta(seconds=45.9), "45s"),
        (timedelta(minutes=1), "1m"),
        (timedelta(minutes=4, seconds=5), "4m 5s"),
        (timedelta(hours=1), "1h"),
        (timedelta(hours=1, minutes=12, seconds=30), "1h 12m"),
        (timedelta(days=2, hours=3, minutes=4), "2d 3h"),
        (timedelta(days=1), "1d"),
        (timedelta(minutes=-5), "-5m"),
    ],
)
def test_format_duration(td: timedelta | None, text: str) -> None:
    assert format_duration(td) == text


def test_format_durations_line() -> None:
    line = format_durations(Durations(timedelta(minutes=2), None, timedelta(hours=1, minutes=12)))
    assert line == "time to acknowledge 2m, to mitigate unknown, to resolve 1h 12m"


@pytest.mark.parametrize(
    ("user", "text"),
    [("U123ABC", "<@U123ABC>"), ("W0ENT", "<@W0ENT>"), ("alertmanager", "alertmanager")],
)
def test_mention(user: str, text: str) -> None:
    assert mention(user) == text
