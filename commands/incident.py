"""`/incident ...`: the text Slack sends, parsed into a typed command.

Pure, no Slack. Anything that is not a command raises `UsageError` (the one all slash
commands raise), whose message is the usage line to type instead (after a short reason when
one helps).

Slack sends mentions picked from its autocomplete as `<@U123ABC>` or
`<@U123ABC|name>` (the slash command needs "Escape channels, users, and links"
turned on); a typed `@name` carries no user id, so it is refused with a hint.
Slack also escapes `&`, `<` and `>` in free text as `&amp;`, `&lt;`, `&gt;`;
titles, notes and summaries are given back unescaped.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from bot.core.action_items import DueError, DueProblem, parse_action_parts
from bot.core.incident_rules import IncidentStatus
from bot.core.silences import (
    DEFAULT_DURATION,
    SilenceRefused,
    looks_like_duration,
    parse_duration,
)
from commands.common import UsageError
from commands.incident_commands import (
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
    Silence,
    Silences,
    Similar,
    Timeline,
    TimelineFormat,
    Unsilence,
)
from commands.incident_help import GENERAL_USAGE, USAGE, help_text

# The typed commands and the usage lines are importable from here, beside the parser.
__all__ = [
    "GENERAL_USAGE",
    "USAGE",
    "Action",
    "AssignRole",
    "Close",
    "Declare",
    "Help",
    "IncidentCommand",
    "List",
    "Note",
    "Postmortem",
    "Reopen",
    "SetSeverity",
    "SetStatus",
    "Silence",
    "Silences",
    "Similar",
    "Timeline",
    "TimelineFormat",
    "Unsilence",
    "help_text",
    "parse_incident_command",
]

_MENTION = re.compile(r"^<@([UW][A-Z0-9]+)(?:\|[^>]*)?>$")
_SEVERITY = re.compile(r"^(?:sev)?([1-4])$", re.IGNORECASE)
_ROLE_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")
_OPTION = re.compile(r"^--[a-z][a-z-]*(?:=.*)?$", re.IGNORECASE)
_TOKEN = re.compile(r'"([^"]*)"|\u201c([^\u201d]*)\u201d|(\S+)')
_STATUS_ALIASES = {"mitigated": "monitoring"}
_OPEN_STATUSES = tuple(s for s in IncidentStatus if s.is_open)


def parse_incident_command(text: str) -> IncidentCommand:
    """The text after `/incident`, as Slack sends it."""
    verb, rest = _split(text)
    verb = verb.lower()
    if not verb:
        return Help()
    verb = _VERB_ALIASES.get(verb, verb)
    parser = _PARSERS.get(verb)
    if parser is None:
        raise UsageError(GENERAL_USAGE, f"Unknown command {verb!r}")
    return parser(rest.strip())


def _declare(rest: str) -> Declare:
    usage = USAGE["declare"]
    title: list[str] = []
    options: dict[str, str] = {}
    tokens = _tokens(rest)
    while tokens:
        value, quoted = tokens.pop(0)
        if quoted or not _OPTION.match(value):
            title.append(value)
            continue
        name, eq, inline = value.partition("=")
        name = {"--severity": "--sev"}.get(name.lower(), name.lower())
        if name not in ("--sev", "--service") or name in options:
            raise UsageError(usage, f"Unknown or repeated option {name} (quote a title with --)")
        if not eq and not tokens:
            raise UsageError(usage, f"{name} needs a value")
        options[name] = inline if eq else tokens.pop(0)[0]
    if not title or not " ".join(title).strip():
        raise UsageError(usage)
    severity = options.get("--sev")
    service = options.get("--service")
    return Declare(
        title=_unescape(" ".join(title).strip()),
        severity=None if severity is None else _severity(severity, usage),
        service=None if service is None else _nonempty(service, usage),
    )


def _status(rest: str) -> IncidentCommand:
    word, summary = _split(rest)
    word = _STATUS_ALIASES.get(word.lower(), word.lower())
    if word == IncidentStatus.CLOSED:
        return _close(summary)
    try:
        status = IncidentStatus(word)
    except ValueError:
        raise UsageError(USAGE["status"]) from None
    return SetStatus(status, _unescape(summary) or None)


def _close(rest: str) -> Close:
    if rest:
        raise UsageError(USAGE["close"])
    return Close()


def _reopen(rest: str) -> Reopen:
    if not rest:
        return Reopen()
    word = rest.lower()
    if word not in _OPEN_STATUSES:
        raise UsageError(USAGE["reopen"])
    return Reopen(IncidentStatus(word))


def _sev(rest: str) -> SetSeverity:
    return SetSeverity(_severity(rest, USAGE["sev"]))


def _lead(rest: str) -> AssignRole:
    return AssignRole("commander", _user(rest, USAGE["lead"]))


def _role(rest: str) -> AssignRole:
    usage = USAGE["role"]
    role, user = _split(rest)
    role = role.lower()
    if not _ROLE_NAME.match(role):
        raise UsageError(usage)
    return AssignRole(role, _user(user, usage))


def _note(rest: str) -> Note:
    return Note(_nonempty(_unescape(rest), USAGE["note"]))


def _action(rest: str) -> Action:
    usage = USAGE["action"]
    try:
        parts = parse_action_parts(rest)
    except DueError as e:
        raise UsageError(usage, _DUE_REASONS.get(e.problem) or _bad_date(e.value)) from None
    owner = None
    if parts.owner is not None:
        mention = _MENTION.match(parts.owner)
        if mention is None:  # a typed @name: no user id to give the item to
            raise UsageError(usage, _PICK_USER)
        owner = mention.group(1)
    return Action(_nonempty(_unescape(parts.text), usage), owner, parts.due)


def _timeline(rest: str) -> Timeline:
    word = rest.lower().removeprefix("--format").strip().lstrip("=")
    word = {"": "md", "markdown": "md"}.get(word, word)
    try:
        return Timeline(TimelineFormat(word))
    except ValueError:
        raise UsageError(USAGE["timeline"]) from None


def _silence(rest: str) -> Silence:
    usage = USAGE["silence"]
    words = rest.split()
    keep = any(w.lower() == "--keep" for w in words)
    words = [w for w in words if w.lower() != "--keep"]
    unknown = [w for w in words if _OPTION.match(w)]
    if unknown:
        raise UsageError(usage, f"Unknown option {unknown[0]}")
    duration = DEFAULT_DURATION
    if words and looks_like_duration(words[0]):
        try:
            duration = parse_duration(words.pop(0))
        except SilenceRefused as e:
            raise UsageError(usage, str(e)) from None
    reason = _unescape(" ".join(words)).strip() or None
    return Silence(duration, reason, keep)


def _no_arguments(verb: str, command: IncidentCommand) -> Callable[[str], IncidentCommand]:
    def parse(rest: str) -> IncidentCommand:
        if rest:
            raise UsageError(USAGE[verb])
        return command

    return parse


_PICK_USER = "Couldn't tell who that is: type @ and pick the person from Slack's autocomplete list"


def _user(text: str, usage: str) -> str:
    match = _MENTION.match(text)
    if match:
        return match.group(1)
    if text.startswith("<!subteam^"):
        raise UsageError(usage, "A role goes to one person, not a user group")
    if text.startswith("@") and " " not in text:
        raise UsageError(usage, _PICK_USER)
    raise UsageError(usage)


def _severity(text: str, usage: str) -> str:
    match = _SEVERITY.match(text.strip())
    if match is None:
        raise UsageError(usage)
    return f"sev{match.group(1)}"


_DUE_REASONS = {DueProblem.TWICE: "Give one --due date", DueProblem.MISSING: "--due needs a date"}


def _bad_date(text: str) -> str:
    return f"--due wants a date like 2026-12-01, not {text!r}"


def _nonempty(text: str, usage: str) -> str:
    if not text.strip():
        raise UsageError(usage)
    return text.strip()


def _tokens(text: str) -> list[tuple[str, bool]]:
    """Words, with "double-quoted" (also “curly”) runs kept whole and marked quoted."""
    tokens = []
    for match in _TOKEN.finditer(text):
        plain = match.group(3)
        quoted = match.group(1) if match.group(1) is not None else match.group(2)
        tokens.append((plain, False) if plain is not None else (quoted or "", True))
    return tokens


def _split(text: str) -> tuple[str, str]:
    """The first word and the rest (newlines and spacing inside the rest kept)."""
    parts = text.strip().split(maxsplit=1)
    return (parts[0], parts[1].strip()) if len(parts) == 2 else (text.strip(), "")


def _unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


_VERB_ALIASES = {
    "severity": "sev",
    "commander": "lead",
    "ic": "lead",
    "post-mortem": "postmortem",
    "pm": "postmortem",
    "mute": "silence",
    "unmute": "unsilence",
    "related": "similar",
}
_PARSERS: dict[str, Callable[[str], IncidentCommand]] = {
    "declare": _declare,
    "status": _status,
    "close": _close,
    "reopen": _reopen,
    "sev": _sev,
    "lead": _lead,
    "role": _role,
    "note": _note,
    "action": _action,
    "timeline": _timeline,
    "postmortem": _no_arguments("postmortem", Postmortem()),
    "list": _no_arguments("list", List()),
    "silence": _silence,
    "silences": _no_arguments("silences", Silences()),
    "unsilence": _no_arguments("unsilence", Unsilence()),
    "similar": _no_arguments("similar", Similar()),
    "help": lambda _rest: Help(),
}
