"""`/incident` usage lines, one a subcommand, and the text `/incident help` shows."""

from __future__ import annotations

from collections.abc import Sequence

from bot.core.lifecycle import SEVERITY_DEFINITIONS, known_roles, role_duties

USAGE = {
    "declare": "Usage: /incident declare <title> [--sev 1..4] [--service <service>]",
    "status": "Usage: /incident status investigating|identified|monitoring|resolved [summary]",
    "sev": "Usage: /incident sev 1..4",
    "lead": "Usage: /incident lead @user",
    "role": "Usage: /incident role <role> @user",
    "note": "Usage: /incident note <text>",
    "action": "Usage: /incident action <text> [@owner] [--due YYYY-MM-DD]",
    "timeline": "Usage: /incident timeline [md|csv|json]",
    "postmortem": "Usage: /incident postmortem",
    "list": "Usage: /incident list",
    "close": "Usage: /incident close",
    "reopen": "Usage: /incident reopen [investigating|identified|monitoring]",
    "silence": "Usage: /incident silence [30m|1h|4h] [reason] [--keep]",
    "silences": "Usage: /incident silences",
    "unsilence": "Usage: /incident unsilence",
    "similar": "Usage: /incident similar",
    "help": "Usage: /incident help",
}
GENERAL_USAGE = (
    "Usage: /incident declare|status|sev|lead|role|note|action|timeline|postmortem"
    "|list|close|reopen|silence|silences|unsilence|similar|help (/incident help explains each)"
)
_DESCRIPTIONS = {
    "declare": "open an incident by hand, with its own channel",
    "status": "move the lifecycle on; resolving needs a one-line summary",
    "sev": "change the severity",
    "lead": "make someone the incident commander",
    "role": "give someone a role",
    "note": "add an entry to the timeline",
    "action": "record a follow-up action item",
    "timeline": "upload the timeline into the channel",
    "postmortem": "upload a post-mortem draft",
    "list": "open incidents, with severity, age and commander",
    "close": "close a resolved incident (after the post-mortem)",
    "reopen": "work on a resolved incident again",
    "silence": "silence this alert group in Alertmanager (default 1h; --keep: past resolve)",
    "silences": "this incident's silences",
    "unsilence": "expire this incident's silences",
    "similar": "past incidents of the same alert group, and what fixed them",
    "help": "this help",
}


def help_text(extra_roles: Sequence[str] = ()) -> str:
    """What `/incident help` shows: commands, severities, roles and their duties."""
    lines = ["*/incident* commands"]
    lines += [f"• `{USAGE[v].removeprefix('Usage: ')}`: {d}" for v, d in _DESCRIPTIONS.items()]
    lines += ["", "*Severities*"]
    lines += [f"• *{sev}*: {text}" for sev, text in SEVERITY_DEFINITIONS.items()]
    lines += ["", "*Roles* (`/incident role <role> @user`)"]
    for role in known_roles(extra_roles):
        name = "commander* (`lead`)" if role == "commander" else f"{role}*"
        lines.append(f"• *{name}: {role_duties(role)}")
    return "\n".join(lines)
