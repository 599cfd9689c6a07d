"""The incident lifecycle as people drive it: status, severity, roles, durations.

Pure: each function takes the current state, what a person asked for and `now`,
and returns the new state plus the events to put on the timeline, or raises
`TransitionError` whose message says what to type instead.

Statuses move investigating -> identified -> monitoring -> resolved -> closed.
Skipping forward stamps every milestone passed on the way that is still empty.
Going back among open statuses is a relapse: the milestones of the statuses left
behind are cleared so they are stamped again when reached (the values cleared
stay on the record, in the event's details). The same rule applies to a reopen.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum

from bot.core.alerts import format_timestamp
from bot.core.escaping import mention as slack_mention
from bot.core.escaping import mrkdwn
from bot.core.exports import whole_second
from bot.core.incident_rules import SEVERITIES, IncidentStatus

S = IncidentStatus

SEVERITY_DEFINITIONS: dict[str, str] = {
    "sev1": "Critical: customer-facing outage for many or most users, data loss, "
    "or a security breach. All hands, now.",
    "sev2": "Major: significant degradation for many users, or a full outage "
    "of a feature or for some customers.",
    "sev3": "Minor: partial or minor degradation with a workaround; few users affected.",
    "sev4": "Low: cosmetic, or no customer impact; handled in working hours.",
}

ROLE_DUTIES: dict[str, str] = {
    "commander": "Leads the response: sets severity and status, assigns roles, makes the "
    "calls; delegates the hands-on work rather than doing it.",
    "communications": "Keeps everyone outside the channel informed: regular status updates "
    "to stakeholders and customers, and fields their questions so responders can work.",
    "scribe": "Keeps the record: notes decisions, actions and times (`/incident note`), "
    "pins key messages and tracks the action items.",
}
ROLE_ALIASES = {"lead": "commander", "ic": "commander", "comms": "communications"}
_EXTRA_ROLE_DUTIES = "Does what the commander asks of this role and reports back in the channel."

_ORDER = {
    S.INVESTIGATING: 0,
    S.IDENTIFIED: 1,
    S.MONITORING: 2,
    S.RESOLVED: 3,
    S.CLOSED: 4,
}
# The milestone each status stamps when it is reached (investigating has none).
_MILESTONES = {
    S.IDENTIFIED: "identified_at",
    S.MONITORING: "mitigated_at",
    S.RESOLVED: "resolved_at",
    S.CLOSED: "closed_at",
}
_NEXT_STEP = {
    S.INVESTIGATING: "/incident status identified <cause>",
    S.IDENTIFIED: "/incident status monitoring",
    S.MONITORING: "/incident status resolved <summary>",
    S.RESOLVED: "/incident close (or /incident reopen)",
    S.CLOSED: "/incident declare <title> for a new incident",
}
SUMMARY_REQUIRED = "add a one-line resolution summary: /incident status resolved <summary>"


class TransitionError(ValueError):
    """A change the rules refuse; the message says what to type instead."""


class EventKind(StrEnum):
    STATUS_CHANGED = "status_changed"
    REOPENED = "reopened"
    ACKNOWLEDGED = "acknowledged"
    SEVERITY_CHANGED = "severity_changed"
    ROLE_ASSIGNED = "role_assigned"


@dataclass(frozen=True)
class LifecycleEvent:
    kind: EventKind
    text: str
    occurred_at: datetime
    details: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class LifecycleState:
    status: IncidentStatus
    severity: str
    started_at: datetime
    detected_at: datetime
    acknowledged_at: datetime | None = None
    identified_at: datetime | None = None
    mitigated_at: datetime | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    commander: str | None = None
    resolution_summary: str | None = None

    @property
    def latest_stamp(self) -> datetime:
        stamps = (
            self.started_at,
            self.detected_at,
            self.acknowledged_at,
            self.identified_at,
            self.mitigated_at,
            self.resolved_at,
            self.closed_at,
        )
        return max(s for s in stamps if s is not None)


@dataclass(frozen=True)
class TransitionResult:
    state: LifecycleState
    events: tuple[LifecycleEvent, ...]


@dataclass(frozen=True)
class Durations:
    time_to_acknowledge: timedelta | None
    time_to_mitigate: timedelta | None
    time_to_resolve: timedelta | None


def mention(user: str) -> str:
    """`<@U123>` for a Slack user id, anything else (a bot, "alertmanager") as text."""
    return slack_mention(user)


def transition(
    state: LifecycleState,
    to: IncidentStatus,
    *,
    now: datetime,
    actor: str,
    summary: str | None = None,
    reopen: bool = False,
) -> TransitionResult:
    """Move the incident to `to`, or raise `TransitionError` saying what to do instead."""
    summary = _one_line(summary)
    _check_allowed(state.status, to, reopen=reopen, summary=summary)
    _check_clock(state, now)
    new, stamped, cleared = _restamp(state, to, now)
    if to is S.RESOLVED:
        new = replace(new, resolution_summary=summary)
    elif reopen:
        new = replace(new, resolution_summary=None)
    event = _status_event(state, to, now=now, actor=actor, summary=summary, reopen=reopen)
    details = dict(event.details)
    if stamped:
        details["stamped"] = " ".join(stamped)
    if cleared:
        details["cleared"] = " ".join(f"{k}={v}" for k, v in cleared.items())
    return TransitionResult(new, (replace(event, details=details),))


def acknowledge(state: LifecycleState, now: datetime, actor: str) -> TransitionResult:
    """Stamp `acknowledged_at` on the first human action; later calls change nothing."""
    if state.acknowledged_at is not None:
        return TransitionResult(state, ())
    _check_clock(state, now)
    event = LifecycleEvent(
        EventKind.ACKNOWLEDGED,
        f"Acknowledged by {mention(actor)}",
        now,
        {"actor": actor},
    )
    return TransitionResult(replace(state, acknowledged_at=now), (event,))


def _check_allowed(
    current: IncidentStatus, to: IncidentStatus, *, reopen: bool, summary: str | None
) -> None:
    if to is current:
        raise TransitionError(f"already {to}; next: {_NEXT_STEP[to]}")
    if current is S.CLOSED:
        raise TransitionError("closed is final; for new trouble: /incident declare <title>")
    if reopen and not to.is_open:
        raise TransitionError(
            "reopen to an open status: /incident reopen [investigating|identified|monitoring]"
        )
    if reopen and current is not S.RESOLVED:
        raise TransitionError(f"not resolved (it is {current}); use: /incident status {to}")
    if current is S.RESOLVED and to.is_open and not reopen:
        raise TransitionError(f"resolved; to work on it again: /incident reopen {to}")
    if to is S.CLOSED and current is not S.RESOLVED:
        raise TransitionError(
            "only a resolved incident can be closed; first: /incident status resolved <summary>"
        )
    if to is S.RESOLVED and not summary:
        raise TransitionError(SUMMARY_REQUIRED)


def _check_clock(state: LifecycleState, now: datetime) -> None:
    latest = state.latest_stamp
    if now < latest:
        raise TransitionError(
            f"{format_timestamp(now)} is before the last recorded change "
            f"({format_timestamp(latest)}): times can't go backwards; check the clock and retry"
        )


def _restamp(
    state: LifecycleState, to: IncidentStatus, now: datetime
) -> tuple[LifecycleState, list[str], dict[str, str]]:
    """Stamp empty milestones up to `to`; clear those past it (relapse, reopen)."""

    def at(status: IncidentStatus) -> datetime | None:
        value: datetime | None = getattr(state, _MILESTONES[status])
        if _ORDER[status] > _ORDER[to]:
            return None
        return now if value is None else value

    new = replace(
        state,
        status=to,
        identified_at=at(S.IDENTIFIED),
        mitigated_at=at(S.MONITORING),
        resolved_at=at(S.RESOLVED),
        closed_at=at(S.CLOSED),
    )
    stamped: list[str] = []
    cleared: dict[str, str] = {}
    for name in _MILESTONES.values():
        old, value = getattr(state, name), getattr(new, name)
        if old is None and value is not None:
            stamped.append(name)
        elif old is not None and value is None:
            cleared[name] = format_timestamp(old)
    return new, stamped, cleared


def _status_event(
    state: LifecycleState,
    to: IncidentStatus,
    *,
    now: datetime,
    actor: str,
    summary: str | None,
    reopen: bool,
) -> LifecycleEvent:
    before = state.status
    details = {"from": str(before), "to": str(to), "actor": actor}
    if reopen:
        kind, verb = EventKind.REOPENED, "reopened the incident"
        if state.resolution_summary:
            details["previous_summary"] = state.resolution_summary
    elif _ORDER[to] < _ORDER[before]:
        kind, verb = EventKind.STATUS_CHANGED, "moved the status back (relapse)"
    else:
        kind, verb = EventKind.STATUS_CHANGED, "changed the status"
    text = f"{mention(actor)} {verb}: {before} -> {to}"
    if summary:
        details["summary"] = summary
        text += f": {mrkdwn(summary)}"
    return LifecycleEvent(kind, text, now, details)


def _one_line(text: str | None) -> str | None:
    if text is None:
        return None
    return " ".join(text.split()) or None


def normalize_severity(value: str, allowed: Sequence[str] = SEVERITIES) -> str:
    """`2`, `sev2`, ` SEV2 ` -> `sev2`; anything not allowed -> TransitionError."""
    text = value.strip().lower()
    candidate = f"sev{text}" if text.isdigit() else text
    if candidate not in allowed:
        numbers = "..".join(s.removeprefix("sev") for s in (allowed[0], allowed[-1]))
        raise TransitionError(
            f"unknown severity {value.strip()!r}; valid: {', '.join(allowed)} "
            f"(/incident sev {numbers})"
        )
    return candidate


def change_severity(
    state: LifecycleState,
    to: str,
    *,
    now: datetime,
    actor: str,
    allowed: Sequence[str] = SEVERITIES,
) -> TransitionResult:
    severity = normalize_severity(to, allowed)
    if severity == state.severity:
        raise TransitionError(f"already {severity}")
    event = LifecycleEvent(
        EventKind.SEVERITY_CHANGED,
        f"{mention(actor)} changed the severity: {state.severity} -> {severity}",
        now,
        {"from": state.severity, "to": severity, "actor": actor},
    )
    return TransitionResult(replace(state, severity=severity), (event,))


def known_roles(extra_roles: Sequence[str] = ()) -> tuple[str, ...]:
    extras = [r.strip().lower() for r in extra_roles]
    return tuple(dict.fromkeys([*ROLE_DUTIES, *extras]))


def normalize_role(role: str, extra_roles: Sequence[str] = ()) -> str:
    """The canonical role name (`lead` -> `commander`), or TransitionError listing them."""
    name = role.strip().lower()
    name = ROLE_ALIASES.get(name, name)
    roles = known_roles(extra_roles)
    if name not in roles:
        listed = ", ".join("commander (lead)" if r == "commander" else r for r in roles)
        raise TransitionError(
            f"unknown role {role.strip()!r}; roles: {listed}. Use: /incident role <role> @user"
        )
    return name


def role_duties(role: str) -> str:
    return ROLE_DUTIES.get(ROLE_ALIASES.get(role, role), _EXTRA_ROLE_DUTIES)


def assign_role(
    roles: Mapping[str, str],
    role: str,
    user: str,
    *,
    now: datetime,
    actor: str,
    extra_roles: Sequence[str] = (),
) -> tuple[dict[str, str], LifecycleEvent]:
    """Give `role` to `user`; returns the new role -> user map and the timeline event."""
    name = normalize_role(role, extra_roles)
    previous = roles.get(name)
    if previous == user:
        raise TransitionError(f"{mention(user)} is already the {name}")
    text = f"{mention(actor)} made {mention(user)} the {name}"
    details = {"role": name, "user": user, "actor": actor}
    if previous is not None:
        text += f" (was {mention(previous)})"
        details["previous"] = previous
    return {**roles, name: user}, LifecycleEvent(EventKind.ROLE_ASSIGNED, text, now, details)


def durations(state: LifecycleState) -> Durations:
    return Durations(
        time_to_acknowledge=_between(state.detected_at, state.acknowledged_at),
        time_to_mitigate=_between(state.started_at, state.mitigated_at),
        time_to_resolve=_between(state.started_at, state.resolved_at),
    )


def _between(start: datetime, end: datetime | None) -> timedelta | None:
    """Between whole seconds, as the times are shown: never "1m 0s" beside "1m 1s"."""
    return None if end is None else whole_second(end) - whole_second(start)


def format_duration(
    td: timedelta | None, *, every_unit: bool = False, unknown: str = "unknown"
) -> str:
    """The two largest units: `2d 3h`, `1h 12m`, `4m 5s`, `45s`. With `every_unit` (reports,
    where durations are compared), each unit from the largest non-zero one down to whole
    seconds: `1h 0m 5s`. None -> `unknown`."""
    if td is None:
        return unknown
    seconds = int(td.total_seconds())
    if seconds < 0:
        return "-" + format_duration(-td, every_unit=every_unit, unknown=unknown)
    units = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))
    if every_unit:
        parts: list[str] = []
        for name, size in units[:-1]:
            if seconds >= size or parts:
                parts.append(f"{seconds // size}{name}")
                seconds %= size
        return " ".join([*parts, f"{seconds}s"])
    for i, (name, size) in enumerate(units[:-1]):
        if seconds >= size:
            big, rest = divmod(seconds, size)
            small_name, small_size = units[i + 1]
            small = rest // small_size
            return f"{big}{name} {small}{small_name}" if small else f"{big}{name}"
    return f"{seconds}s"


def format_durations(d: Durations) -> str:
    """One line for the closing message."""
    return (
        f"time to acknowledge {format_duration(d.time_to_acknowledge)}, "
        f"to mitigate {format_duration(d.time_to_mitigate)}, "
        f"to resolve {format_duration(d.time_to_resolve)}"
    )
