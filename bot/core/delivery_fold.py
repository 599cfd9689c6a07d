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
from dataclasses import dataclass

# What processing reads of a notification; externalURL, receiver and status are left out
# (they only go into a new incident's first message, or follow from the alerts).
_READ = ("groupKey", "alerts", "groupLabels", "commonLabels", "commonAnnotations")
_TRUNCATED = "truncatedAlerts"

View = tuple[object, ...]


@dataclass(frozen=True)
class Seen:
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
