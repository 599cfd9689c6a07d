"""Action items as typed: `<text> [@owner] [--due YYYY-MM-DD]`.

The one parser of both places an action item is written: `/incident action`
(`commands.incident`) and a note starting with TODO (`bot.core.postmortem`). It finds the
parts; each caller words its own refusals, since the slash command answers with its
usage line and a TODO note is never refused.

The owner is a mention at the very end (after taking `--due` out), so mentions inside
the text stay part of it: "ask @bob about X @alice". `--dueling` is text, not `--due`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

_DUE = re.compile(r"(?:^|\s)--due(?:[=\s]\s*(\S*))?(?=\s|$)")
# A Slack mention (`<@U123>`, `<@U123|name>`) needs no space before it; a typed `@name` does.
_OWNER = re.compile(r"(?:\s*(<@[UW][A-Z0-9]+(?:\|[^>]*)?>)|(?:^|\s)(@[\w.\-]+))\s*$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class DueProblem(StrEnum):
    TWICE = "twice"  # --due given more than once
    MISSING = "missing"  # --due with no value
    MALFORMED = "malformed"  # not YYYY-MM-DD
    IMPOSSIBLE = "impossible"  # YYYY-MM-DD, but no such day


class DueError(ValueError):
    """`--due` cannot be read; `problem` says why, `value` is what was typed."""

    def __init__(self, problem: DueProblem, value: str = "", detail: str = "") -> None:
        if problem is DueProblem.IMPOSSIBLE:
            message = f"--due expects a real date as YYYY-MM-DD, got {value!r}: {detail}"
        elif problem is DueProblem.TWICE:
            message = "give --due once"
        else:
            message = f"--due expects a date as YYYY-MM-DD, got {value!r}"
        super().__init__(message)
        self.problem, self.value = problem, value


@dataclass(frozen=True)
class ActionParts:
    text: str  # what is left, stripped; the spacing inside as typed (may be empty)
    owner: str | None  # the trailing mention as typed: `<@U123>`, `<@U123|name>` or `@name`
    due: date | None


def parse_action_parts(text: str) -> ActionParts:
    """The parts of `<text> [@owner] [--due YYYY-MM-DD]`; raises `DueError` for a `--due`
    that cannot be read. An empty text is the caller's to refuse."""
    dues = _DUE.findall(text)
    if len(dues) > 1:
        raise DueError(DueProblem.TWICE)
    due = parse_due(dues[0]) if dues else None
    text = _DUE.sub("", text).strip()
    owner: str | None = None
    mention = _OWNER.search(text)
    if mention is not None:
        owner = mention.group(1) or mention.group(2)
        text = text[: mention.start()].strip()
    return ActionParts(text, owner, due)


def parse_due(value: str) -> date:
    if not value:
        raise DueError(DueProblem.MISSING, value)
    if not _ISO_DATE.match(value):
        raise DueError(DueProblem.MALFORMED, value)
    try:
        return date.fromisoformat(value)
    except ValueError as e:
        raise DueError(DueProblem.IMPOSSIBLE, value, str(e)) from e
