"""The typed `/incident` commands `commands.incident.parse_incident_command` returns."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from typing import TypeAlias

from bot.core.incident_rules import IncidentStatus
from bot.core.silences import DEFAULT_DURATION


class TimelineFormat(StrEnum):
    MD = "md"
    CSV = "csv"
    JSON = "json"


@dataclass(frozen=True)
class Declare:
    title: str
    severity: str | None = None
    service: str | None = None


@dataclass(frozen=True)
class SetStatus:
    status: IncidentStatus
    summary: str | None = None


@dataclass(frozen=True)
class Close:
    pass


@dataclass(frozen=True)
class Reopen:
    status: IncidentStatus = IncidentStatus.INVESTIGATING


@dataclass(frozen=True)
class SetSeverity:
    severity: str


@dataclass(frozen=True)
class AssignRole:
    role: str
    user: str


@dataclass(frozen=True)
class Note:
    text: str


@dataclass(frozen=True)
class Action:
    text: str
    owner: str | None = None
    due: date | None = None


@dataclass(frozen=True)
class Timeline:
    fmt: TimelineFormat = TimelineFormat.MD


@dataclass(frozen=True)
class Postmortem:
    pass


@dataclass(frozen=True)
class List:
    pass


@dataclass(frozen=True)
class Help:
    pass


@dataclass(frozen=True)
class Silence:
    duration: timedelta = DEFAULT_DURATION
    reason: str | None = None
    keep: bool = False


@dataclass(frozen=True)
class Silences:
    pass


@dataclass(frozen=True)
class Unsilence:
    pass


@dataclass(frozen=True)
class Similar:
    pass


IncidentCommand: TypeAlias = (
    Declare
    | SetStatus
    | Close
    | Reopen
    | SetSeverity
    | AssignRole
    | Note
    | Action
    | Timeline
    | Postmortem
    | List
    | Help
    | Silence
    | Silences
    | Unsilence
    | Similar
)
