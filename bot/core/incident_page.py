"""What the incident page shows, decided without I/O: kind filters, phase groups, facts.

The shell (`bot.http.pages`) reads one page of events (filtered in SQL, so a
50,000-event incident stays fast) and hands them here; the template only lays
out what these functions return. Text is returned as text: the HTML template
escapes it (Jinja2 autoescape), nothing here builds markup.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from bot.core.alerts import format_timestamp
from bot.core.curation import CORRECTABLE_KINDS, CURATION_KIND
from bot.core.exports import (
    MILESTONES,
    PHASE_DEFINITIONS,
    EventRecord,
    IncidentRecord,
    Phase,
    format_utc_seconds,
    phase_of,
    plain_slack_text,
)
from bot.core.lifecycle import format_duration
from bot.core.postmortem import DURATION_DEFINITIONS, durations

PAGE_EVENTS = 500  # events per page of the timeline
KEPT_IMAGES = "kept_images"  # event detail: urls (on the bot) of a pinned message's images

# The filters a reader picks from, and the event kinds each one shows.
KIND_FILTERS: dict[str, str] = {
    "alerts": "Alerts",
    "commands": "Commands",
    "notes": "Notes",
    "status": "Status changes",
    "rollbacks": "Rollbacks",
    "other": "Other",
}
_EXACT = {
    "note": "notes",
    "pinned_message": "notes",
    "curation": "notes",
    "command": "commands",
    "status_checked": "commands",
    "suspected_deploy": "rollbacks",
    "incident_mitigated": "alerts",
    "incident_reopened": "alerts",
}
_PREFIXES = (
    ("alert", "alerts"),
    ("rollback", "rollbacks"),
    ("rollout", "rollbacks"),
    ("status_", "status"),
    ("severity", "status"),
    ("role", "status"),
    ("acknowledged", "status"),
    ("incident_", "status"),
    ("channel", "status"),
)


def kind_filter(kind: str) -> str:
    """The filter an event kind belongs to (`other` for kinds no filter names)."""
    if kind in _EXACT:
        return _EXACT[kind]
    for prefix, name in _PREFIXES:
        if kind.startswith(prefix):
            return name
    return "other"


def kinds_matching(filters: Iterable[str], known_kinds: Iterable[str]) -> list[str]:
    """The kinds (of those the incident has) that the chosen filters show."""
    chosen = set(filters)
    return sorted(k for k in set(known_kinds) if kind_filter(k) in chosen)


def parse_filters(values: Iterable[str]) -> list[str]:
    """The known filter names among `?kind=` values; unknown ones are ignored (a typo
    or an old bookmark shows more, never an error page)."""
    return [v for v in dict.fromkeys(v.strip().lower() for v in values) if v in KIND_FILTERS]


@dataclass(frozen=True)
class EventView:
    id: int | None
    occurred_at: str  # ISO 8601 UTC with milliseconds and Z
    recorded_at: str
    occurred_label: str  # to the second, for people
    kind: str
    filter: str
    actor: str | None
    text: str
    link: str | None
    images: Sequence[str]  # urls of the images kept for a pinned message
    key_moment: bool = False
    hidden: bool = False
    comment: str | None = None
    original_text: str | None = None  # set when a reviewer corrected the event
    original_at: str | None = None
    correctable: bool = False  # what people entered (a note, a pinned message)
    curatable: bool = True  # not a record of curation itself


@dataclass(frozen=True)
class PhaseGroup:
    phase: Phase
    definition: str
    events: Sequence[EventView]


@dataclass(frozen=True)
class Fact:
    label: str
    value: str | None
    iso: str | None = None  # set for times: the page shows them in local time too


def event_view(event: EventRecord, event_id: int | None = None) -> EventView:
    # Images the bot fetched and keeps for a pinned message (served by the bot itself).
    images = event.details.get(KEPT_IMAGES) if isinstance(event.details, dict) else None
    urls = [str(i) for i in images if isinstance(i, str)] if isinstance(images, list) else []
    curation = event.curation
    corrected = curation is not None and curation.corrected and curation.original_at is not None
    return EventView(
        id=event_id,
        occurred_at=format_timestamp(event.occurred_at),
        recorded_at=format_timestamp(event.recorded_at),
        occurred_label=format_utc_seconds(event.occurred_at),
        kind=event.kind,
        filter=kind_filter(event.kind),
        actor=plain_slack_text(event.who) if event.who else None,
        text=plain_slack_text(event.text),
        link=event.link if event.link and event.link.startswith(("https://", "http://")) else None,
        images=urls,
        key_moment=curation is not None and curation.key_moment,
        hidden=curation is not None and curation.hidden,
        comment=plain_slack_text(curation.comment) if curation and curation.comment else None,
        original_text=curation.original_text if corrected and curation else None,
        original_at=format_timestamp(curation.original_at)
        if corrected and curation and curation.original_at
        else None,
        correctable=event.kind in CORRECTABLE_KINDS,
        curatable=event.kind != CURATION_KIND,
    )


def phase_groups(
    incident: IncidentRecord, events: Iterable[tuple[int | None, EventRecord]]
) -> list[PhaseGroup]:
    """Events in timeline order, one group each time the phase changes."""
    groups: list[PhaseGroup] = []
    current: Phase | None = None
    bucket: list[EventView] = []
    for event_id, event in events:
        phase = phase_of(event, incident)
        if phase is not current:
            if current is not None:
                groups.append(PhaseGroup(current, PHASE_DEFINITIONS[current], bucket))
            current, bucket = phase, []
        bucket.append(event_view(event, event_id))
    if current is not None:
        groups.append(PhaseGroup(current, PHASE_DEFINITIONS[current], bucket))
    return groups


def lifecycle_facts(incident: IncidentRecord) -> list[Fact]:
    facts = []
    for label, name in MILESTONES:
        value: datetime | None = getattr(incident, name)
        facts.append(
            Fact(
                label,
                format_utc_seconds(value) if value else None,
                format_timestamp(value) if value else None,
            )
        )
    return facts


def duration_facts(incident: IncidentRecord, now: datetime) -> list[Fact]:
    """Time to detect / acknowledge / identify / mitigate / resolve; an open incident's
    unreached ones say how long it has been so far."""
    values = durations(incident)
    facts = []
    for key, label, _definition in DURATION_DEFINITIONS:
        value: timedelta | None = values[key]
        facts.append(
            Fact(label, format_duration(value, every_unit=True) if value is not None else None)
        )
    so_far = now - incident.started_at
    if incident.resolved_at is None and so_far >= timedelta(0):
        facts.append(Fact("Open for", format_duration(so_far, every_unit=True)))
    return facts


def role_facts(commander: str | None, roles: dict[str, str]) -> list[Fact]:
    facts = [Fact("Commander", commander)]
    for role, user in sorted(roles.items()):
        if role != "commander" and user:
            facts.append(Fact(role.capitalize(), user))
    return facts


def slack_channel_url(team_id: str | None, channel_id: str | None) -> str | None:
    """A link that opens the channel in Slack (the app, or the browser)."""
    if not channel_id:
        return None
    if team_id:
        return f"https://app.slack.com/client/{team_id}/{channel_id}"
    return f"https://slack.com/app_redirect?channel={channel_id}"


def person_label(user: str | None, names: Mapping[str, str]) -> str | None:
    """`@dana` when Slack told us the name, else the id as `@U0DANA`."""
    if not user:
        return None
    return f"@{names.get(user, user)}"


def parse_page_number(text: str) -> int:
    """`?page=`, from 1; anything else is a ValueError saying so."""
    if not text.strip().isdigit() or int(text) < 1:
        raise ValueError(f"page must be a whole number from 1, not {text[:20]!r}")
    return int(text)


def parse_event_id(text: str | None) -> int:
    """An event id from a form or `Last-Event-ID`; nothing given is 0 (from the start)."""
    if text is None or not text.strip():
        return 0
    if not text.strip().isdigit():
        raise ValueError(f"after must be an event id, not {text[:20]!r}")
    return int(text)


def page_url(incident_id: int, query: Mapping[str, Any], suffix: str = "") -> str:
    """A link within the incident's pages, keeping the query (`t`, filters) given."""
    pairs = [(k, v) for k, v in query.items() if v not in (None, "", [])]
    encoded = urlencode(pairs, doseq=True)
    return f"/incidents/{incident_id}{suffix}" + (f"?{encoded}" if encoded else "")
