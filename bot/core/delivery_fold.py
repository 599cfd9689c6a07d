"""Which stored deliveries repeat the group state their group's previous delivery left.

Every Alertmanager notification carries its group's whole state, so a delivery equal to
the previous one of its group in everything processing reads changes nothing: it is
recorded as a repeat ("folded") without being diffed against the store. Repeats are most
of a storm (Alertmanager re-sends each group every `group_interval`, HA peers send the
same group twice), so they must cost next to nothing: a byte-identical body is known
without parsing it.

Otherwise the comparison is on the parsed notifications, of the fields processing reads:
processing is a function of those, so a fold never hides a change. A body is parsed at
most once here, and what was parsed is handed on to processing (`Folded.notification`);
the parse itself is given (`Parse`): the intake hands over what it parsed on receipt.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import NamedTuple

from bot.core.alerts import Notification, PayloadError, parse_notification

View = tuple[object, ...]
# (delivery id, body) -> the notification, or None when the body does not parse
Parse = Callable[[int, str], Notification | None]


class Seen(NamedTuple):
    """A group's previous delivery in this pass: its id, body, and what processing read."""

    delivery_id: int
    body: str
    view: View | None


class Folded(NamedTuple):
    """What becomes of one delivery: a repeat (why), or processing (of what was parsed)."""

    repeat: str | None  # None: process it in full
    notification: Notification | None = None  # parsed for processing; None: does not parse


def parsed_or_none(_delivery_id: int, body: str) -> Notification | None:
    """The `Parse` of a body nothing was known of: parsed here, None when refused."""
    try:
        return parse_notification(body)
    except PayloadError:
        return None


def processing_view(notification: Notification | None) -> View | None:
    """What processing reads of a notification (None: it did not parse).

    externalURL, receiver and status are left out: they only go into a new incident's
    first message, or follow from the alerts."""
    if notification is None:
        return None
    n = notification
    return (
        n.group_key,
        n.alerts,
        n.group_labels,
        n.common_labels,
        n.common_annotations,
        n.truncated_alerts,
    )


def fold(
    previous: Seen | None, delivery_id: int, body: str, parse: Parse = parsed_or_none
) -> tuple[Folded, Seen]:
    """(what becomes of the delivery; what the group's next delivery compares with)."""
    if previous is not None and previous.body == body:
        return Folded(f"same as delivery {previous.delivery_id}"), previous
    notification = parse(delivery_id, body)
    view = processing_view(notification)
    seen = Seen(delivery_id, body, view)
    if previous is not None and view is not None and previous.view == view:
        return Folded(f"same alerts as delivery {previous.delivery_id}"), seen
    return Folded(None, notification), seen


def fold_batch(
    previous: Mapping[str, Seen],
    deliveries: Iterable[tuple[int, str, str]],
    parse: Parse = parsed_or_none,
) -> tuple[list[Folded], dict[str, Seen]]:
    """`fold` over (id, group key, body) in order: what becomes of each delivery, and each
    group's last delivery after them.

    Folding reads only the bodies, never what processing stores, so a batch is folded
    before any of it is written: on SQLite the write lock is then held for the writes
    alone, not for the parsing of a storm's bodies.
    """
    seen = dict(previous)
    outcomes: list[Folded] = []
    for delivery_id, group_key, body in deliveries:
        outcome, seen[group_key] = fold(seen.get(group_key), delivery_id, body, parse)
        outcomes.append(outcome)
    return outcomes, seen


def still_newest(carried: Mapping[str, Seen], taken: Iterable[str]) -> dict[str, Seen]:
    """What a batch folds against, of the last deliveries its pass processed before it:
    all but those of groups (`taken`) one of whose deliveries in the batch another
    replica processed first. That replica stored a newer state of the group, which the
    carried delivery no longer tells, so the group starts afresh."""
    gone = set(taken)
    return {group: seen for group, seen in carried.items() if group not in gone}
