"""Which stored deliveries repeat the group state their group's previous delivery left.

Every Alertmanager notification carries its group's whole state, so a delivery equal to
the previous one of its group in everything processing reads changes nothing: it is
recorded as a repeat ("folded") without being validated into models or diffed against
the store. Repeats are most of a storm (Alertmanager re-sends each group every
`group_interval`, HA peers send the same group twice), so they must cost next to nothing.

The comparison is on the JSON values, not the parsed models: equal JSON gives an equal
parse (parsing is a function of the JSON), so a fold never hides a change; JSON that
differs but parses equal is only processed in full, which changes nothing either.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import NamedTuple

# What processing reads of a notification; externalURL, receiver and status are left out
# (they only go into a new incident's first message, or follow from the alerts).
_READ = ("groupKey", "alerts", "groupLabels", "commonLabels", "commonAnnotations")
_TRUNCATED = "truncatedAlerts"

View = tuple[object, ...]


class Seen(NamedTuple):
    """A group's previous delivery in this pass: its id, body, and what processing read."""

    delivery_id: int
    body: str
    view: View | None


def processing_view(body: str) -> View | None:
    """What processing reads of a body, as plain JSON values (None: no JSON object)."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict):
        return None
    return (*(data.get(k) for k in _READ), data.get(_TRUNCATED) or 0)


def fold(previous: Seen | None, delivery_id: int, body: str) -> tuple[str | None, Seen]:
    """(the outcome of a repeat, or None when the delivery must be processed; what the
    group's next delivery compares with)."""
    if previous is not None and previous.body == body:
        return f"same as delivery {previous.delivery_id}", previous
    view = processing_view(body)
    if previous is not None and view is not None and previous.view == view:
        return f"same alerts as delivery {previous.delivery_id}", Seen(delivery_id, body, view)
    return None, Seen(delivery_id, body, view)


def fold_batch(
    previous: Mapping[str, Seen], deliveries: Iterable[tuple[int, str, str]]
) -> tuple[list[str | None], dict[str, Seen]]:
    """`fold` over (id, group key, body) in order: each delivery's outcome (None: process
    it in full), and each group's last delivery after them.

    Folding reads only the bodies, never what processing stores, so a batch is folded
    before any of it is written: on SQLite the write lock is then held for the writes
    alone, not for the JSON reads of a storm's repeats.
    """
    seen = dict(previous)
    outcomes: list[str | None] = []
    for delivery_id, group_key, body in deliveries:
        outcome, seen[group_key] = fold(seen.get(group_key), delivery_id, body)
        outcomes.append(outcome)
    return outcomes, seen


def still_newest(carried: Mapping[str, Seen], taken: Iterable[str]) -> dict[str, Seen]:
    """What a batch folds against, of the last deliveries its pass processed before it:
    all but those of groups (`taken`) one of whose deliveries in the batch another
    replica processed first. That replica stored a newer state of the group, which the
    carried delivery no longer tells, so the group starts afresh."""
    gone = set(taken)
    return {group: seen for group, seen in carried.items() if group not in gone}
