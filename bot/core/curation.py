"""Curating a timeline for the review: key moments, hidden events, comments, corrections. Pure.

A reviewer (a signed-in person on the incident page) may, for each event:

- mark it a **key moment** (the draft lists key moments in their own section at the top),
- **hide** it from the post-mortem draft (the exports keep it, flagged `hidden`),
- add a **reviewer's comment**,
- **correct** a human-entered event (a note, a pinned message) whose time or text was
  wrong; the original stays beside the correction.

Nothing is deleted: the timeline row is never changed, the curation is a row of its
own, every action is undoable (unmark, unhide, an empty comment, revert) and each is
recorded as a `curation` timeline event saying who did what. `apply_action` decides
whether an action is allowed and what the new state and the audit line are;
`curated_timeline` applies curations to an export's stream of events.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum

from bot.core.exports import Curation, EventRecord, format_utc_seconds

CURATION_KIND = "curation"
CORRECTABLE_KINDS = frozenset({"note", "pinned_message"})  # what people typed, not machines
MAX_COMMENT = 2000
MAX_TEXT = 4000


class CurationError(ValueError):
    """The action cannot be done; the message says why, for the page."""


class Action(StrEnum):
    KEY = "key"
    UNKEY = "unkey"
    HIDE = "hide"
    UNHIDE = "unhide"
    COMMENT = "comment"  # an empty comment removes it
    CORRECT = "correct"
    UNCORRECT = "uncorrect"


@dataclass(frozen=True)
class Request:
    action: Action
    text: str | None = None  # the comment, or the corrected text
    at: datetime | None = None  # the corrected time


def parse_request(action: str, text: str | None, at: str | None) -> Request:
    """The form's fields: `action`, `text`, `at` (ISO 8601; no offset means UTC)."""
    try:
        chosen = Action(action.strip().lower())
    except ValueError:
        names = ", ".join(a.value for a in Action)
        raise CurationError(f"unknown action {action[:40]!r}; one of {names}") from None
    when: datetime | None = None
    if at is not None and at.strip():
        try:
            when = datetime.fromisoformat(at.strip().replace("Z", "+00:00"))
        except ValueError:
            raise CurationError(
                f"time {at[:40]!r} is not ISO 8601, e.g. 2024-06-15T14:38:00Z"
            ) from None
        when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    return Request(chosen, text, when)


def _short(text: str, size: int = 80) -> str:
    line = " ".join(text.split())
    return line if len(line) <= size else line[: size - 1] + "…"


def apply_action(
    state: Curation, event: EventRecord, request: Request, person: str
) -> tuple[Curation, str]:
    """The curation after `request`, and the audit line; or CurationError saying why not."""
    if event.kind == CURATION_KIND:
        raise CurationError("a curation record cannot itself be curated")
    what = f'"{_short(event.text, 60)}"'
    action = request.action
    if action is Action.KEY:
        if state.key_moment:
            raise CurationError("already a key moment")
        return replace(state, key_moment=True), f"Marked key moment by {person}: {what}"
    if action is Action.UNKEY:
        if not state.key_moment:
            raise CurationError("not a key moment")
        return replace(state, key_moment=False), f"Unmarked key moment by {person}: {what}"
    if action is Action.HIDE:
        if state.hidden:
            raise CurationError("already hidden")
        return replace(state, hidden=True), f"Hidden from the post-mortem by {person}: {what}"
    if action is Action.UNHIDE:
        if not state.hidden:
            raise CurationError("not hidden")
        return replace(state, hidden=False), f"Shown again in the post-mortem by {person}: {what}"
    if action is Action.COMMENT:
        comment = (request.text or "").strip()
        if len(comment) > MAX_COMMENT:
            raise CurationError(f"a comment is at most {MAX_COMMENT} characters")
        if not comment:
            if state.comment is None:
                raise CurationError("there is no comment to remove")
            return replace(state, comment=None), f"Comment removed by {person} on {what}"
        return (
            replace(state, comment=comment),
            f"Comment by {person} on {what}: {_short(comment)}",
        )
    if action is Action.CORRECT:
        return _correct(state, event, request, person, what)
    if state.corrected_text is None and state.corrected_at is None:
        raise CurationError("nothing to revert: this event was not corrected")
    reverted = replace(state, corrected_text=None, corrected_at=None)
    return reverted, f"Correction reverted by {person} on {what}"


def _correct(
    state: Curation, event: EventRecord, request: Request, person: str, what: str
) -> tuple[Curation, str]:
    if event.kind not in CORRECTABLE_KINDS:
        raise CurationError(
            f"only what people entered (notes, pinned messages) can be corrected, not {event.kind}"
        )
    text = (request.text or "").strip() or None
    if text is not None and len(text) > MAX_TEXT:
        raise CurationError(f"a corrected text is at most {MAX_TEXT} characters")
    if text == event.text:
        text = None
    at = request.at if request.at != event.occurred_at else None
    if text is None and at is None:
        raise CurationError("give a corrected time or text that differs from the original")
    changes = []
    if at is not None:
        changes.append(f"time {format_utc_seconds(event.occurred_at)} -> {format_utc_seconds(at)}")
    if text is not None:
        changes.append(f"text -> {_short(text)}")
    corrected = replace(state, corrected_text=text, corrected_at=at)
    return corrected, f"Corrected by {person} on {what}: {'; '.join(changes)}"


def curate(event: EventRecord, curation: Curation | None) -> EventRecord:
    """The event as the exports show it: corrected values, the original kept beside them."""
    if curation is None or curation == Curation():
        return event
    if not curation.corrected:
        return replace(event, curation=curation)
    occurred = curation.corrected_at or event.occurred_at
    text = curation.corrected_text if curation.corrected_text is not None else event.text
    return replace(
        event,
        occurred_at=occurred,
        text=text,
        curation=replace(curation, original_text=event.text, original_at=event.occurred_at),
    )


def curated_timeline(
    events: Iterable[tuple[int | None, EventRecord]],
    curations: Mapping[int, Curation],
    moved: Mapping[int, EventRecord],
) -> Iterator[EventRecord]:
    """The stream with curations applied, still in time order.

    `moved` holds the events whose time was corrected (read up front: they are few);
    they are skipped where the stream meets them and merged in at their corrected time.
    """
    queue = sorted(
        (curate(event, curations.get(event_id)) for event_id, event in moved.items()),
        key=lambda e: e.occurred_at,
    )

    def rest() -> Iterator[EventRecord]:
        for event_id, event in events:
            if event_id is not None and event_id in moved:
                continue
            yield curate(event, curations.get(event_id)) if event_id is not None else event

    yield from heapq.merge(rest(), queue, key=lambda e: e.occurred_at)
