from datetime import date

import pytest

from bot.core.incident_rules import IncidentStatus
from bot.core.lifecycle import ROLE_DUTIES, SEVERITY_DEFINITIONS
from commands.common import UsageError
from commands.incident import (
    GENERAL_USAGE,
    USAGE,
    Action,
    AssignRole,
    Close,
    Declare,
    Help,
    IncidentCommand,
    List,
    Note,
    Postmortem,
    Reopen,
    SetSeverity,
    SetStatus,
    Timeline,
    TimelineFormat,
    help_text,
    parse_incident_command,
)

S = IncidentStatus


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", Help()),
        ("   ", Help()),
        ("help", Help()),
        ("HELP sev", Help()),
        # declare
        ("declare Payments 5xx spike", Declare("Payments 5xx spike")),
        (
            "declare Payments 5xx spike --sev 1 --service payments",
            Declare("Payments 5xx spike", "sev1", "payments"),
        ),
        (
            "declare --service payments --sev SEV2 Checkout down",
            Declare("Checkout down", "sev2", "payments"),
        ),
        (
            "declare check-out - broken again --sev=sev3",
            Declare("check-out - broken again", "sev3"),
        ),
        (
            'declare "Checkout -- broken --sev 1" --sev 2',
            Declare("Checkout -- broken --sev 1", "sev2"),
        ),
        (
            "declare \u201cDB latency &gt; 5s &amp; rising\u201d --severity 4",
            Declare("DB latency > 5s & rising", "sev4"),
        ),
        ("declare  Login broken   for <@U1>  ", Declare("Login broken for <@U1>")),
        ("declare a - b", Declare("a - b")),
        ("declare payments can't connect", Declare("payments can't connect")),
        ("declare x --service=payments", Declare("x", None, "payments")),
        # status
        ("status investigating", SetStatus(S.INVESTIGATING)),
        (
            "status identified bad deploy of payment-service",
            SetStatus(S.IDENTIFIED, "bad deploy of payment-service"),
        ),
        ("Status MONITORING", SetStatus(S.MONITORING)),
        ("status mitigated", SetStatus(S.MONITORING)),
        ("status resolved", SetStatus(S.RESOLVED)),
        (
            "status resolved rolled back &lt;v42&gt; &amp; verified",
            SetStatus(S.RESOLVED, "rolled back <v42> & verified"),
        ),
        ("status  identified\n  cause found", SetStatus(S.IDENTIFIED, "cause found")),
        ("status closed", Close()),
        ("close", Close()),
        ("reopen", Reopen()),
        ("reopen monitoring", Reopen(S.MONITORING)),
        ("reopen Identified", Reopen(S.IDENTIFIED)),
        # severity
        ("sev 1", SetSeverity("sev1")),
        ("sev 4", SetSeverity("sev4")),
        ("sev sev2", SetSeverity("sev2")),
        ("sev SEV3", SetSeverity("sev3")),
        ("severity 2", SetSeverity("sev2")),
        # roles
        ("lead <@U123ABC>", AssignRole("commander", "U123ABC")),
        ("lead <@U123ABC|alice>", AssignRole("commander", "U123ABC")),
        ("commander <@W0ENT>", AssignRole("commander", "W0ENT")),
        ("role scribe <@U9>", AssignRole("scribe", "U9")),
        ("role Communications <@U9|bob>", AssignRole("communications", "U9")),
        ("role lead <@U9>", AssignRole("lead", "U9")),
        ("role customer-liaison <@U9>", AssignRole("customer-liaison", "U9")),
        # notes and actions
        ("note rolled back to v41", Note("rolled back to v41")),
        ("note line one\nline two", Note("line one\nline two")),
        ("note error rate &lt; 1% &amp; falling", Note("error rate < 1% & falling")),
        ("action add a canary stage", Action("add a canary stage")),
        ("action add a canary stage <@U2>", Action("add a canary stage", "U2")),
        (
            "action add a canary stage <@U2|bob> --due 2026-12-01",
            Action("add a canary stage", "U2", date(2026, 12, 1)),
        ),
        (
            "action --due=2026-12-01 add a canary stage",
            Action("add a canary stage", None, date(2026, 12, 1)),
        ),
        ("action ask <@U3> about retries", Action("ask <@U3> about retries")),
        ("action fix --dueling retries", Action("fix --dueling retries")),
        # exports and lists
        ("timeline", Timeline()),
        ("timeline md", Timeline(TimelineFormat.MD)),
        ("timeline markdown", Timeline(TimelineFormat.MD)),
        ("timeline CSV", Timeline(TimelineFormat.CSV)),
        ("timeline json", Timeline(TimelineFormat.JSON)),
        ("timeline --format json", Timeline(TimelineFormat.JSON)),
        ("timeline --format=csv", Timeline(TimelineFormat.CSV)),
        ("postmortem", Postmortem()),
        ("post-mortem", Postmortem()),
        ("list", List()),
    ],
)
def test_parse(text: str, expected: IncidentCommand) -> None:
    assert parse_incident_command(text) == expected


PICK = "Couldn't tell who that is: type @ and pick the person from Slack's autocomplete list"


@pytest.mark.parametrize(
    ("text", "usage", "reason"),
    [
        ("frobnicate", GENERAL_USAGE, "Unknown command 'frobnicate'"),
        ("resolve it", GENERAL_USAGE, "Unknown command 'resolve'"),
        ("declare", USAGE["declare"], None),
        ('declare ""', USAGE["declare"], None),
        ("declare --sev 1", USAGE["declare"], None),
        ("declare x --sev", USAGE["declare"], "--sev needs a value"),
        ("declare x --service", USAGE["declare"], "--service needs a value"),
        ("declare x --sev 5", USAGE["declare"], None),
        ("declare x --sev high", USAGE["declare"], None),
        (
            "declare x --sev 1 --sev 2",
            USAGE["declare"],
            "Unknown or repeated option --sev (quote a title with --)",
        ),
        (
            "declare x --force",
            USAGE["declare"],
            "Unknown or repeated option --force (quote a title with --)",
        ),
        ("status", USAGE["status"], None),
        ("status fixed", USAGE["status"], None),
        ("status closed now", USAGE["close"], None),
        ("close now", USAGE["close"], None),
        ("reopen resolved", USAGE["reopen"], None),
        ("reopen closed", USAGE["reopen"], None),
        ("sev", USAGE["sev"], None),
        ("sev 0", USAGE["sev"], None),
        ("sev 5", USAGE["sev"], None),
        ("sev critical", USAGE["sev"], None),
        ("sev 1 2", USAGE["sev"], None),
        ("lead", USAGE["lead"], None),
        ("lead @alice", USAGE["lead"], PICK),
        ("lead alice", USAGE["lead"], None),
        ("lead <@U1> <@U2>", USAGE["lead"], None),
        ("lead <#C123|general>", USAGE["lead"], None),
        (
            "lead <!subteam^S0PAY|@payments>",
            USAGE["lead"],
            "A role goes to one person, not a user group",
        ),
        ("role", USAGE["role"], None),
        ("role scribe", USAGE["role"], None),
        ("role scribe @bob", USAGE["role"], PICK),
        ("role <@U9> scribe", USAGE["role"], None),
        ("role 1st <@U9>", USAGE["role"], None),
        ("note", USAGE["note"], None),
        ("note   ", USAGE["note"], None),
        ("action", USAGE["action"], None),
        ("action <@U2>", USAGE["action"], None),
        ("action --due 2026-12-01", USAGE["action"], None),
        ("action fix retries @bob", USAGE["action"], PICK),
        ("action fix --due", USAGE["action"], "--due needs a date"),
        ("action fix --due=", USAGE["action"], "--due needs a date"),
        (
            "action fix --due tomorrow",
            USAGE["action"],
            "--due wants a date like 2026-12-01, not 'tomorrow'",
        ),
        (
            "action fix --due 2026-13-01",
            USAGE["action"],
            "--due wants a date like 2026-12-01, not '2026-13-01'",
        ),
        (
            "action fix --due 2026-1-5",
            USAGE["action"],
            "--due wants a date like 2026-12-01, not '2026-1-5'",
        ),
        ("action fix --due 2026-12-01 --due 2026-12-02", USAGE["action"], "Give one --due date"),
        ("timeline pdf", USAGE["timeline"], None),
        ("timeline md csv", USAGE["timeline"], None),
        ("postmortem now", USAGE["postmortem"], None),
        ("list all", USAGE["list"], None),
    ],
)
def test_parse_errors_say_what_to_type(text: str, usage: str, reason: str | None) -> None:
    with pytest.raises(UsageError) as error:
        parse_incident_command(text)
    assert error.value.usage == usage
    assert error.value.reason == reason
    assert str(error.value) == (f"{reason}. {usage}" if reason else usage)


@pytest.mark.parametrize(
    ("verb", "line"),
    [
        ("declare", "Usage: /incident declare <title> [--sev 1..4] [--service <service>]"),
        ("sev", "Usage: /incident sev 1..4"),
        ("lead", "Usage: /incident lead @user"),
        ("role", "Usage: /incident role <role> @user"),
        ("action", "Usage: /incident action <text> [@owner] [--due YYYY-MM-DD]"),
        ("timeline", "Usage: /incident timeline [md|csv|json]"),
    ],
)
def test_usage_lines(verb: str, line: str) -> None:
    assert USAGE[verb] == line


@pytest.mark.parametrize(
    ("extra", "present", "absent"),
    [
        ((), ["*commander* (`lead`)", "*communications*", "*scribe*"], ["liaison"]),
        (("liaison",), ["*liaison*: Does what the commander asks"], []),
    ],
)
def test_help_lists_commands_severities_and_roles(
    extra: tuple[str, ...], present: list[str], absent: list[str]
) -> None:
    text = help_text(extra)
    for usage in USAGE.values():
        assert usage.removeprefix("Usage: ") in text
    for sev, definition in SEVERITY_DEFINITIONS.items():
        assert f"*{sev}*: {definition}" in text
    for duties in ROLE_DUTIES.values():
        assert duties in text
    for snippet in present:
        assert snippet in text
    for snippet in absent:
        assert snippet not in text
