from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from bot.core.incident_rules import IncidentStatus
from bot.core.reminders import (
    Reminder,
    ReminderInput,
    ReminderKind,
    ReminderPolicy,
    SnoozeOption,
    due_reminders,
    snooze,
)

S = IncidentStatus
SU = ReminderKind.STATUS_UPDATE
NC = ReminderKind.NO_COMMANDER
T0 = datetime(2026, 11, 26, 14, 32, tzinfo=UTC)
POLICY = ReminderPolicy()


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


LED = ReminderInput(
    ref="INC-7", severity="sev1", status=S.INVESTIGATING, opened_at=T0, commander="U1"
)
LEADERLESS = replace(LED, severity="sev4", commander=None)  # sev4: no status nudges


@pytest.mark.parametrize(
    ("incident", "now", "expected"),
    [
        # status updates, by severity: due exactly at N minutes, not a second before
        (LED, at(30) - timedelta(seconds=1), []),
        (LED, at(30), [(SU, at(30))]),
        (LED, at(45), [(SU, at(30))]),
        (replace(LED, severity="sev2"), at(59), []),
        (replace(LED, severity="sev2"), at(60), [(SU, at(60))]),
        (replace(LED, severity="sev3"), at(119), []),
        (replace(LED, severity="sev3"), at(120), [(SU, at(120))]),
        (replace(LED, severity="sev4"), at(600), []),
        (replace(LED, severity="sev9"), at(600), []),
        # counted from the last status update
        (replace(LED, last_status_update_at=at(20)), at(49), []),
        (replace(LED, last_status_update_at=at(20)), at(50), [(SU, at(50))]),
        # nudged for this due time: not again; repeated an interval after the nudge
        (replace(LED, last_nudged_at={SU: at(30)}), at(59), []),
        (replace(LED, last_nudged_at={SU: at(30)}), at(60), [(SU, at(60))]),
        (replace(LED, last_nudged_at={SU: at(33)}), at(63), [(SU, at(63))]),
        # a status update after the nudge starts the count again
        (replace(LED, last_nudged_at={SU: at(30)}, last_status_update_at=at(40)), at(69), []),
        (
            replace(LED, last_nudged_at={SU: at(30)}, last_status_update_at=at(40)),
            at(70),
            [(SU, at(70))],
        ),
        # snoozed after a nudge: waits, then comes back at the snooze's end
        (replace(LED, last_nudged_at={SU: at(30)}, snoozed_until={SU: at(45)}), at(44), []),
        (
            replace(LED, last_nudged_at={SU: at(30)}, snoozed_until={SU: at(45)}),
            at(45),
            [(SU, at(45))],
        ),
        (replace(LED, last_nudged_at={SU: at(30)}, snoozed_until={SU: at(90)}), at(60), []),
        (
            replace(LED, last_nudged_at={SU: at(30)}, snoozed_until={SU: at(90)}),
            at(90),
            [(SU, at(90))],
        ),
        # a snooze that already brought its nudge is spent
        (replace(LED, last_nudged_at={SU: at(45)}, snoozed_until={SU: at(45)}), at(74), []),
        (
            replace(LED, last_nudged_at={SU: at(45)}, snoozed_until={SU: at(45)}),
            at(75),
            [(SU, at(75))],
        ),
        # a snooze still running holds back the first nudge too
        (replace(LED, snoozed_until={SU: at(40)}), at(39), []),
        (replace(LED, snoozed_until={SU: at(40)}), at(40), [(SU, at(40))]),
        # no commander: 10 minutes after opening, once
        (LEADERLESS, at(10) - timedelta(seconds=1), []),
        (LEADERLESS, at(10), [(NC, at(10))]),
        (replace(LEADERLESS, last_nudged_at={NC: at(10)}), at(600), []),
        (replace(LEADERLESS, last_nudged_at={NC: at(10)}, snoozed_until={NC: at(25)}), at(24), []),
        (
            replace(LEADERLESS, last_nudged_at={NC: at(10)}, snoozed_until={NC: at(25)}),
            at(25),
            [(NC, at(25))],
        ),
        # a commander named meanwhile: no more no_commander nudges, snoozed or not
        (
            replace(
                LEADERLESS, commander="U1", last_nudged_at={NC: at(10)}, snoozed_until={NC: at(25)}
            ),
            at(25),
            [],
        ),
        # both, earliest first
        (replace(LED, commander=None), at(30), [(NC, at(10)), (SU, at(30))]),
        # only while open
        (replace(LED, status=S.IDENTIFIED), at(30), [(SU, at(30))]),
        (replace(LED, status=S.MONITORING), at(30), [(SU, at(30))]),
        (replace(LED, status=S.RESOLVED, commander=None), at(600), []),
        (replace(LED, status=S.CLOSED, commander=None), at(600), []),
    ],
)
def test_due_reminders(
    incident: ReminderInput, now: datetime, expected: list[tuple[ReminderKind, datetime]]
) -> None:
    reminders = due_reminders(incident, now=now, policy=POLICY)
    assert [(r.kind, r.due_at) for r in reminders] == expected


def test_key_is_the_same_on_every_replica() -> None:
    # two replicas, one a minute late, find the same reminder: same key, one row wins
    first = due_reminders(LED, now=at(30), policy=POLICY)
    late = due_reminders(LED, now=at(31), policy=POLICY)
    again = due_reminders(LED, now=at(30), policy=POLICY)
    assert [r.key for r in first] == [r.key for r in late] == [r.key for r in again]
    assert first[0].key == "INC-7:status_update:2026-11-26T15:02:00.000Z"


@pytest.mark.parametrize(
    ("incident", "now", "text"),
    [
        (
            LED,
            at(30),
            "<@U1> INC-7 (sev1, investigating) has had no status update for 30m. "
            "Post one: `/incident status <status> <what changed>`",
        ),
        (
            replace(LED, commander=None, last_nudged_at={NC: at(10)}),
            at(41),
            "<!here> INC-7 (sev1, investigating) has had no status update for 41m. "
            "Post one: `/incident status <status> <what changed>`",
        ),
        (
            LEADERLESS,
            at(10),
            "<!here> INC-7 (sev4) has had no commander for 10m. "
            "Someone take the lead: `/incident lead @you`",
        ),
    ],
)
def test_reminder_text(incident: ReminderInput, now: datetime, text: str) -> None:
    (reminder,) = due_reminders(incident, now=now, policy=POLICY)
    assert reminder.text == text
    assert reminder.snooze_options == (
        SnoozeOption(15, "Snooze 15m"),
        SnoozeOption(60, "Snooze 1h"),
    )


def run_clock(
    incident: ReminderInput, *, until: float, snooze_on_nudge: int | None = None
) -> list[str]:
    """Step a clock minute by minute; record each nudge (and snooze it) as the shell does."""
    posted: dict[str, Reminder] = {}
    for minute in range(int(until) + 1):
        now = at(minute)
        for _replica in range(2):
            for reminder in due_reminders(incident, now=now, policy=POLICY):
                posted.setdefault(reminder.key, reminder)  # the unique constraint
                nudged = {**incident.last_nudged_at, reminder.kind: reminder.due_at}
                snoozed = dict(incident.snoozed_until)
                if snooze_on_nudge is not None:
                    snoozed[reminder.kind] = snooze(reminder.kind, snooze_on_nudge, now)
                incident = replace(incident, last_nudged_at=nudged, snoozed_until=snoozed)
    return [f"{r.kind}@{int((r.due_at - T0).total_seconds() // 60)}" for r in posted.values()]


@pytest.mark.parametrize(
    ("incident", "until", "snooze_minutes", "nudges"),
    [
        (LED, 100, None, ["status_update@30", "status_update@60", "status_update@90"]),
        (replace(LED, commander=None), 35, None, ["no_commander@10", "status_update@30"]),
        (
            LED,
            100,
            15,
            [
                "status_update@30",
                "status_update@45",
                "status_update@60",
                "status_update@75",
                "status_update@90",
            ],
        ),
        (LEADERLESS, 100, 60, ["no_commander@10", "no_commander@70"]),
        (replace(LED, status=S.RESOLVED), 100, None, []),
    ],
)
def test_due_reminders_fire_once_on_a_running_clock(
    incident: ReminderInput, until: float, snooze_minutes: int | None, nudges: list[str]
) -> None:
    assert run_clock(incident, until=until, snooze_on_nudge=snooze_minutes) == nudges


@pytest.mark.parametrize(
    ("kind", "minutes", "expected"),
    [
        (SU, 15, at(15)),
        ("status_update", 60, at(60)),
        ("no_commander", 15, at(15)),
    ],
)
def test_snooze(kind: str, minutes: int, expected: datetime) -> None:
    assert snooze(kind, minutes, T0) == expected


@pytest.mark.parametrize(("kind", "minutes"), [("status_update", 0), ("coffee", 15)])
def test_snooze_refuses_nonsense(kind: str, minutes: int) -> None:
    with pytest.raises(ValueError, match=r"snooze|coffee"):
        snooze(kind, minutes, T0)


@pytest.mark.parametrize(
    ("policy", "incident", "now", "expected"),
    [
        (ReminderPolicy(status_update_minutes={"sev1": 5}), LED, at(5), [(SU, at(5))]),
        (
            ReminderPolicy(status_update_minutes={"sev1": 5}),
            replace(LED, severity="sev2"),
            at(600),
            [],
        ),
        (ReminderPolicy(no_commander_minutes=None), LEADERLESS, at(600), []),
        (ReminderPolicy(no_commander_minutes=3), LEADERLESS, at(3), [(NC, at(3))]),
    ],
)
def test_policy_is_configurable(
    policy: ReminderPolicy,
    incident: ReminderInput,
    now: datetime,
    expected: list[tuple[ReminderKind, datetime]],
) -> None:
    assert [(r.kind, r.due_at) for r in due_reminders(incident, now=now, policy=policy)] == expected


@pytest.mark.parametrize(
    "kwargs",
    [
        {"status_update_minutes": {"sev1": 0}},
        {"no_commander_minutes": -1},
        {"snooze_minutes": (15, 0)},
    ],
)
def test_policy_refuses_non_positive_minutes(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="must be positive"):
        ReminderPolicy(**kwargs)  # type: ignore[arg-type]


def test_default_policy() -> None:
    assert dict(POLICY.status_update_minutes) == {"sev1": 30, "sev2": 60, "sev3": 120, "sev4": None}
    assert (POLICY.no_commander_minutes, POLICY.snooze_minutes) == (10, (15, 60))
