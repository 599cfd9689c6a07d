from datetime import UTC, datetime, timedelta

import pytest

from bot.core.alerts import Alert, AlertStatus, KnownAlert
from bot.core.incident_rules import (
    ChangeKind,
    IncidentSnapshot,
    IncidentStatus,
    Lifecycle,
    Route,
    apply_changes,
    diff_alerts,
    next_lifecycle,
    route_notification,
    severity_from_label,
)

T0 = datetime(2026, 11, 26, 14, 32, tzinfo=UTC)
NOW = T0 + timedelta(minutes=5)
HOUR = timedelta(hours=1)


def alert(
    fp: str, status: str = "firing", starts: datetime = T0, ends: datetime | None = None
) -> Alert:
    return Alert.model_validate(
        {
            "status": status,
            "labels": {"alertname": "HighErrorRate", "service": "payments", "pod": fp},
            "startsAt": starts.isoformat(),
            "endsAt": ends.isoformat() if ends else "0001-01-01T00:00:00Z",
            "fingerprint": fp,
        }
    )


def known(fp: str, status: AlertStatus = AlertStatus.FIRING, starts: datetime = T0) -> KnownAlert:
    return KnownAlert(fp, status, starts)


def snap(status: IncidentStatus, mitigated: datetime | None = None) -> IncidentSnapshot:
    return IncidentSnapshot(7, status, mitigated)


@pytest.mark.parametrize(
    ("latest", "has_firing", "route", "incident"),
    [
        (None, True, Route.OPEN, None),
        (None, False, Route.IGNORE, None),
        (snap(IncidentStatus.INVESTIGATING), True, Route.APPEND, 7),
        (snap(IncidentStatus.IDENTIFIED), False, Route.APPEND, 7),
        (snap(IncidentStatus.MONITORING, NOW - timedelta(minutes=59)), True, Route.APPEND, 7),
        (snap(IncidentStatus.MONITORING, NOW - HOUR), True, Route.APPEND, 7),
        (snap(IncidentStatus.MONITORING, NOW - timedelta(minutes=61)), True, Route.OPEN, None),
        (snap(IncidentStatus.MONITORING, NOW - timedelta(days=2)), False, Route.APPEND, 7),
        (snap(IncidentStatus.RESOLVED), True, Route.OPEN, None),
        (snap(IncidentStatus.CLOSED), True, Route.OPEN, None),
        (snap(IncidentStatus.RESOLVED), False, Route.IGNORE, 7),
    ],
)
def test_route_notification(
    latest: IncidentSnapshot | None, has_firing: bool, route: Route, incident: int | None
) -> None:
    routing = route_notification(latest, has_firing=has_firing, now=NOW, reopen_window=HOUR)
    assert (routing.route, routing.incident_id) == (route, incident)
    assert routing.reason


LATER = T0 + timedelta(minutes=20)


@pytest.mark.parametrize(
    ("state", "incoming", "expected"),
    [
        ({}, [alert("a")], [(ChangeKind.FIRING, "a", T0)]),
        ({"a": known("a")}, [alert("a")], []),
        ({"a": known("a")}, [alert("a"), alert("b")], [(ChangeKind.FIRING, "b", T0)]),
        (
            {"a": known("a")},
            [alert("a", "resolved", ends=LATER)],
            [(ChangeKind.RESOLVED, "a", LATER)],
        ),
        ({"a": known("a", AlertStatus.RESOLVED)}, [alert("a", "resolved", ends=LATER)], []),
        (
            {"a": known("a", AlertStatus.RESOLVED)},
            [alert("a", starts=LATER)],
            [(ChangeKind.FIRING_AGAIN, "a", LATER)],
        ),
        ({"a": known("a")}, [alert("a", starts=LATER)], [(ChangeKind.FIRING_AGAIN, "a", LATER)]),
        (
            {},
            [alert("a", "resolved", ends=LATER)],
            [(ChangeKind.FIRING, "a", T0), (ChangeKind.RESOLVED, "a", LATER)],
        ),
        ({"a": known("a")}, [alert("a", "resolved")], [(ChangeKind.RESOLVED, "a", NOW)]),
    ],
)
def test_diff_alerts(
    state: dict[str, KnownAlert],
    incoming: list[Alert],
    expected: list[tuple[ChangeKind, str, datetime]],
) -> None:
    changes = diff_alerts(state, incoming, now=NOW)
    assert [(c.kind, c.alert.fingerprint, c.occurred_at) for c in changes] == expected


def test_source_keys_tell_firing_from_resolved_and_occurrences_apart() -> None:
    first = diff_alerts({}, [alert("a")], now=NOW)[0]
    resolved = diff_alerts({"a": known("a")}, [alert("a", "resolved", ends=LATER)], now=NOW)[0]
    again = diff_alerts(
        {"a": known("a", AlertStatus.RESOLVED)}, [alert("a", starts=LATER)], now=NOW
    )[0]
    keys = {first.source_key, resolved.source_key, again.source_key}
    assert len(keys) == 3
    assert first.source_key == "alert:a:2026-11-26T14:32:00.000Z:firing"


GROUP = {"alertname": "HighErrorRate", "service": "payments"}


@pytest.mark.parametrize(
    ("state", "incoming", "common", "texts"),
    [
        # A group of one: named by its identifying label.
        ({}, [alert("a")], {**GROUP, "pod": "a"}, ["New alert HighErrorRate firing (pod=a)"]),
        # b joins: only the label outside groupLabels/commonLabels tells it from a.
        (
            {"a": known("a")},
            [alert("a"), alert("b")],
            GROUP,
            ["New alert HighErrorRate firing (pod=b)"],
        ),
        (
            {"a": known("a"), "b": known("b")},
            [alert("a", "resolved", ends=LATER), alert("b")],
            GROUP,
            ["Alert HighErrorRate resolved (pod=a)"],
        ),
        (
            {"a": known("a", AlertStatus.RESOLVED), "b": known("b")},
            [alert("a", starts=LATER), alert("b")],
            GROUP,
            ["Alert HighErrorRate firing again (pod=a)"],
        ),
    ],
)
def test_change_texts_name_the_alert_within_its_group(
    state: dict[str, KnownAlert], incoming: list[Alert], common: dict[str, str], texts: list[str]
) -> None:
    changes = diff_alerts(state, incoming, now=NOW, group_labels=GROUP, common_labels=common)
    assert [c.text for c in changes] == texts


OPEN = Lifecycle(IncidentStatus.INVESTIGATING, None)
MITIGATED = Lifecycle(IncidentStatus.MONITORING, LATER)


@pytest.mark.parametrize(
    ("current", "state", "incoming", "expected"),
    [
        (OPEN, {"a": known("a")}, [alert("a", "resolved", ends=LATER)], MITIGATED),
        (
            OPEN,
            {"a": known("a"), "b": known("b")},
            [alert("a", "resolved", ends=LATER), alert("b")],
            OPEN,
        ),
        (
            Lifecycle(IncidentStatus.IDENTIFIED, None),
            {"a": known("a")},
            [alert("a", "resolved", ends=LATER)],
            MITIGATED,
        ),
        (MITIGATED, {"a": known("a", AlertStatus.RESOLVED)}, [alert("a", starts=NOW)], OPEN),
        (
            MITIGATED,
            {"a": known("a", AlertStatus.RESOLVED)},
            [alert("a", "resolved", ends=LATER)],
            MITIGATED,
        ),
        (
            Lifecycle(IncidentStatus.RESOLVED, None),
            {"a": known("a")},
            [alert("a", "resolved", ends=LATER)],
            Lifecycle(IncidentStatus.RESOLVED, None),
        ),
    ],
)
def test_next_lifecycle(
    current: Lifecycle, state: dict[str, KnownAlert], incoming: list[Alert], expected: Lifecycle
) -> None:
    changes = diff_alerts(state, incoming, now=NOW)
    assert next_lifecycle(current, apply_changes(state, changes), changes) == expected


@pytest.mark.parametrize(
    ("label", "severity"),
    [
        ("critical", "sev1"),
        ("warning", "sev3"),
        ("Info", "sev4"),
        ("sev2", "sev2"),
        (None, "sev3"),
        ("odd", "sev3"),
    ],
)
def test_severity_from_label(label: str | None, severity: str) -> None:
    assert severity_from_label(label) == severity
