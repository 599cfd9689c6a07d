"""Post-mortem drafts: the golden draft, durations, action items and template errors."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import pytest

from bot.core.exports import EventRecord
from bot.core.lifecycle import format_duration
from bot.core.postmortem import (
    ActionItem,
    CommandRun,
    PostmortemContext,
    PostmortemTemplateError,
    RoleAssignment,
    SeverityChange,
    StatusFigures,
    action_items_from_notes,
    durations,
    format_percent,
    parse_action,
    render_postmortem,
)
from tests.support.timeline_records import EVENTS, GRAPH, INCIDENT, ONCALL, at, check_golden

ONCALL_MENTION = f"<@{ONCALL}>"
IMAGES_BAD = {"payments": "registry.example.com/payments:v2.3.1"}
JULY_1 = date(2024, 7, 1)
IMAGES_GOOD = {"payments": "registry.example.com/payments:v2.3.0"}

CONTEXT = PostmortemContext(
    incident=INCIDENT,
    events=EVENTS,
    now=at(55),
    severity_history=[
        SeverityChange(at(32, 5.25), None, "sev2", "incident-bot"),
        SeverityChange(at(34, 30), "sev2", "sev1", ONCALL_MENTION),
    ],
    roles=[
        RoleAssignment("commander", ONCALL_MENTION, at(33, 10)),
        RoleAssignment("scribe", "Zoë", at(35)),
    ],
    rollbacks=[
        {
            "deployment": "payment-service",
            "namespace": "production",
            "from_revision": 42,
            "from_images": IMAGES_BAD,
            "to_revision": 41,
            "to_images": IMAGES_GOOD,
            "by": ONCALL_MENTION,
            "at": at(42),
            "outcome": "rolled out in 2m 50s",
        }
    ],
    suspected_deploy={
        "deployment": "production/payment-service",
        "revision": 42,
        "images": IMAGES_BAD,
        "deployed_at": at(29, 40),
        "reason": "rolled out 20 s before the impact started",
    },
    status_figures=[
        StatusFigures(at(34), {"error_rate": 0.45, "latency_p95_s": 1.2, "request_rate": 120}),
        StatusFigures(at(47), {"error_rate": 0.0008, "latency_p95_s": 0.21, "request_rate": 118.5}),
    ],
    peak_error_rate=0.4731,
    peak_error_rate_at=at(36, 15),
    alerts=[
        {
            "name": "HighErrorRate",
            "labels": {"alertname": "HighErrorRate", "service": "payments", "severity": "critical"},
            "generator_url": GRAPH,
            "starts_at": at(32, 5.25),
            "ends_at": at(45, 30.5),
        }
    ],
    commands=[
        CommandRun(at(34), ONCALL_MENTION, "/status payments", "error rate 45%, p95 1.2 s"),
        CommandRun(
            at(42), ONCALL_MENTION, "/rollback payment-service -n production", "rolled back to 41"
        ),
    ],
    action_items=[
        ActionItem("Gate the canary on the 5xx rate", ONCALL_MENTION, date(2024, 6, 30)),
    ],
    participants=[ONCALL_MENTION, "Zoë", "李雷"],
    chart_filename="INC-7-error-rate.png",
)


def test_draft_matches_golden() -> None:
    check_golden("postmortem.md", render_postmortem(CONTEXT))


def test_draft_fills_in_what_the_bot_knows() -> None:
    draft = render_postmortem(CONTEXT)
    assert draft.startswith("# Post-mortem: INC-7 HighErrorRate on payments")
    assert "**Status: Draft**" in draft
    for line in (
        "| Time to detect | detected - impact start | 2m 5s |",
        "| Time to acknowledge | acknowledged - detected | 1m 5s |",
        "| Time to mitigate | mitigated - impact start (the impact's length) | 15m 30s |",
        "| Time to resolve | resolved - impact start | 20m 0s |",
        "| Mitigated (impact ended) | 2024-06-15T14:45:30Z |",
        "![Error rate and latency](INC-7-error-rate.png)",
        "| 2024-06-15T14:34:00Z | 45% | 1.2 s | 120 req/s |",
    ):
        assert line in draft, line
    assert "**47.31%** at 2024-06-15T14:36:15Z" in draft
    assert "registry.example.com/payments:v2.3.1" in draft
    assert "registry.example.com/payments:v2.3.0" in draft
    assert f"source: <{GRAPH}>" in draft
    # the timeline keeps every event, in order, under its phase
    positions = [draft.index(f"| {e.kind} |", draft.index("## Timeline")) for e in EVENTS[:3]]
    assert positions == sorted(positions)


def test_draft_lists_given_and_noted_action_items() -> None:
    draft = render_postmortem(CONTEXT)
    assert "| 1 | Gate the canary on the 5xx rate | @U0ONCALL1 | 2024-06-30 | action |" in draft
    assert "| 2 | alert on DB pool saturation | @dana | 2024-07-01 | note |" in draft
    assert "| 3 | write the customer email, ünd check refunds | _TODO: owner_ |" in draft


def test_draft_of_a_bare_incident_has_placeholders_not_errors() -> None:
    bare = replace(
        INCIDENT,
        acknowledged_at=None,
        identified_at=None,
        mitigated_at=None,
        resolved_at=None,
        summary=None,
        commander=None,
    )
    draft = render_postmortem(PostmortemContext(incident=bare, events=[], now=at(55)))
    assert "_TODO: two or three sentences" in draft
    assert "| Time to mitigate | mitigated - impact start (the impact's length) | — |" in draft
    assert "No rollback was run through the bot." in draft
    assert "_No events recorded._" in draft
    assert "_TODO: add action items" in draft
    assert "![" not in draft


def test_summary_given_replaces_the_placeholder() -> None:
    incident = replace(INCIDENT, summary="A bad deploy broke payments for 15 minutes.")
    draft = render_postmortem(replace(CONTEXT, incident=incident))
    assert "A bad deploy broke payments for 15 minutes." in draft
    assert "_TODO: two or three sentences" not in draft


def test_user_template_replaces_the_default() -> None:
    template = (
        "{{ incident.ref }} took {{ durations.time_to_mitigate|duration }},"
        " peak {{ peak_error_rate|pct }}\n"
    )
    assert render_postmortem(CONTEXT, template) == "INC-7 took 15m 30s, peak 47.31%\n"


@pytest.mark.parametrize(
    ("template", "reason"),
    [
        ("ok\n{% if %}\n", "line 2: Expected an expression"),
        ("# {{ incident.ref }}\n\n{{ nope }}\n", "line 3: 'nope' is undefined"),
        ("a\n{{ incident.nope }}\n", "line 2: "),
        ("{% for x in events %}\n{{ x.text|utc }}\n{% endfor %}\n", "line 2: "),
        ("\n{{ ''.__class__.__mro__ }}\n", "line 2: "),  # the sandbox refuses
        ("{% for x in [1] %}\n", "line 1: Unexpected end of template"),
    ],
)
def test_template_errors_say_which_line(template: str, reason: str) -> None:
    with pytest.raises(PostmortemTemplateError) as caught:
        render_postmortem(CONTEXT, template)
    message = str(caught.value)
    assert reason in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        # From the whole-second times printed beside them: 14:30:00.5 to 14:32:05.75 is
        # printed 14:30:00 to 14:32:05, so 2m 5s, never 2m 5.25s shown as "2m 5s" elsewhere.
        (
            {},
            {
                "time_to_detect": timedelta(seconds=125),
                "time_to_acknowledge": timedelta(seconds=65),
                "time_to_identify": timedelta(minutes=10),
                "time_to_mitigate": timedelta(minutes=15, seconds=30),
                "time_to_resolve": timedelta(minutes=20),
            },
        ),
        (
            {
                "acknowledged_at": None,
                "identified_at": None,
                "mitigated_at": None,
                "resolved_at": None,
            },
            {
                "time_to_detect": timedelta(seconds=125),
                "time_to_acknowledge": None,
                "time_to_identify": None,
                "time_to_mitigate": None,
                "time_to_resolve": None,
            },
        ),
        (
            {"detected_at": at(30)},
            {
                "time_to_detect": timedelta(0),
                "time_to_acknowledge": timedelta(minutes=3, seconds=10),
            },
        ),
    ],
)
def test_durations(changes: dict[str, object], expected: dict[str, timedelta | None]) -> None:
    got = durations(replace(INCIDENT, **changes))  # type: ignore[arg-type]
    assert {k: got[k] for k in expected} == expected
    assert set(got) == {
        "time_to_detect",
        "time_to_acknowledge",
        "time_to_identify",
        "time_to_mitigate",
        "time_to_resolve",
    }


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "—"),
        (timedelta(0), "0s"),
        (timedelta(seconds=5.9), "5s"),
        (timedelta(minutes=1, seconds=5), "1m 5s"),
        (timedelta(hours=1, minutes=12, seconds=5), "1h 12m 5s"),
        (timedelta(hours=1), "1h 0m 0s"),
        (timedelta(days=2, seconds=7), "2d 0h 0m 7s"),
        (timedelta(seconds=-90), "-1m 30s"),
    ],
)
def test_format_duration(value: timedelta | None, text: str) -> None:
    assert format_duration(value, every_unit=True, unknown="—") == text


@pytest.mark.parametrize(
    ("value", "text"),
    [(None, "—"), (0.45, "45%"), (0.4731, "47.31%"), (0.0012, "0.12%"), (0.0, "0%"), (1, "100%")],
)
def test_format_percent(value: float | None, text: str) -> None:
    assert format_percent(value) == text


@pytest.mark.parametrize(
    ("text", "item"),
    [
        ("fix the pool", ActionItem("fix the pool")),
        ("fix the pool <@U123>", ActionItem("fix the pool", "<@U123>")),
        ("fix the pool <@U123|alice>", ActionItem("fix the pool", "<@U123|alice>")),
        ("fix the pool @alice.b", ActionItem("fix the pool", "@alice.b")),
        ("fix the pool --due 2024-07-01", ActionItem("fix the pool", None, date(2024, 7, 1))),
        ("fix the pool @bob --due=2024-07-01", ActionItem("fix the pool", "@bob", JULY_1)),
        ("fix --due 2024-07-01 the pool <@W9>", ActionItem("fix the pool", "<@W9>", JULY_1)),
        ("ask @bob about   the pool @alice", ActionItem("ask @bob about the pool", "@alice")),
        ('  add alert, "pool" ü 👍  ', ActionItem('add alert, "pool" ü 👍')),
    ],
)
def test_parse_action(text: str, item: ActionItem) -> None:
    assert parse_action(text) == item


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("fix --due 07/01/2024", "--due expects a date as YYYY-MM-DD, got '07/01/2024'"),
        ("fix --due 2024-02-30", "--due expects a real date as YYYY-MM-DD"),
        ("fix --due", "--due expects a date as YYYY-MM-DD, got ''"),
        ("fix --due 2024-07-01 --due 2024-07-02", "give --due once"),
        ("", "the action needs a text"),
        ("@alice --due 2024-07-01", "the action needs a text"),
    ],
)
def test_parse_action_refuses(text: str, message: str) -> None:
    with pytest.raises(ValueError, match="YYYY-MM-DD") as caught:
        parse_action(text)
    assert message in str(caught.value)


def test_action_items_from_notes() -> None:
    def note(text: str, kind: str = "note") -> EventRecord:
        return replace(EVENTS[0], kind=kind, text=text)

    events = [
        note("TODO: add alert @dana --due 2024-07-01"),
        note("todo write the email"),
        note("ToDo:check refunds"),
        note("TODOs are for later"),  # not a TODO marker
        note("TODO:   "),  # nothing to do
        note("TODO fix it --due tomorrow"),  # a note is never refused: kept as written
        note("TODO: not a note", kind="command"),
        note("we should TODO this"),
    ]
    assert action_items_from_notes(events) == [
        ActionItem("add alert", "@dana", date(2024, 7, 1), "note"),
        ActionItem("write the email", None, None, "note"),
        ActionItem("check refunds", None, None, "note"),
        ActionItem("fix it --due tomorrow", None, None, "note"),
    ]


@pytest.mark.parametrize(
    "template",
    [
        '{{ "x" * 10**10 }}',
        "{{ 9 ** 99999999 }}",
        "{% for i in range(99999) %}{{ 'y' * 99 }}{% endfor %}",
        "{{ [1] * 10**9 }}",
        "{{ 10.0 ** 400 }}",
    ],
)
def test_a_runaway_template_is_a_template_error_not_a_crash(template: str) -> None:
    with pytest.raises(PostmortemTemplateError, match="post-mortem template"):
        render_postmortem(CONTEXT, template)
