"""What the room hears about a batch of alert changes: every line, or one summary.

A node pool going away resolves 1,500 alerts in one notification; 1,500 lines are
one message Slack refuses (`msg_too_long`) and nobody could read anyway. Past a
handful of changes the room gets one summary within Block Kit's limits: counts by
alertname and by the labels that vary, the first few alerts, and where the full
list is (the timeline keeps a row for every alert).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bot.core.alert_identity import HIDDEN
from bot.core.block_kit import MESSAGE_TEXT, Block, clip, context, header, lines_within, section
from bot.core.escaping import code, mrkdwn
from bot.core.incident_rules import AlertChange, ChangeKind
from bot.core.messages import all_resolved_note, change_text, changes_message, truncated_note

MAX_LISTED = 10  # up to this many changes, each gets its own line
FIRST_SHOWN = 5
TOP_NAMES = 10
TOP_LABELS = 5
TOP_VALUES = 5
SECTION_ROOM = 2_900  # below Slack's 3,000 with room for the title line


@dataclass(frozen=True)
class ChangesPost:
    text: str
    blocks: list[Block] | None = None

    def payload(self) -> dict[str, Any]:
        return (
            {"text": self.text}
            if self.blocks is None
            else {"text": self.text, "blocks": self.blocks}
        )


def _counts(changes: Sequence[AlertChange]) -> tuple[int, int]:
    resolved = sum(1 for c in changes if c.kind is ChangeKind.RESOLVED)
    return len(changes) - resolved, resolved


def _headline(changes: Sequence[AlertChange]) -> str:
    firing, resolved = _counts(changes)
    parts = [f"{firing:,} firing" if firing else "", f"{resolved:,} resolved" if resolved else ""]
    return f"{len(changes):,} alert changes: " + ", ".join(p for p in parts if p)


def _by_name(changes: Sequence[AlertChange]) -> list[str]:
    firing: Counter[str] = Counter()
    resolved: Counter[str] = Counter()
    for change in changes:
        (resolved if change.kind is ChangeKind.RESOLVED else firing)[change.alert.name] += 1
    names = (firing + resolved).most_common()
    lines = []
    for name, _ in names[:TOP_NAMES]:
        parts = [
            f"{firing[name]:,} firing" if firing[name] else "",
            f"{resolved[name]:,} resolved" if resolved[name] else "",
        ]
        lines.append(f"• {mrkdwn(clip(name, 100))}: " + ", ".join(p for p in parts if p))
    if len(names) > TOP_NAMES:
        lines.append(f"… and {len(names) - TOP_NAMES:,} more alert names")
    return lines


def _varying_labels(changes: Sequence[AlertChange]) -> list[str]:
    """Labels whose values differ between the alerts, most distinct values first."""
    values: dict[str, Counter[str]] = {}
    for change in changes:
        for key, value in change.alert.labels.items():
            if key not in HIDDEN:
                values.setdefault(key, Counter())[value] += 1
    total = len(changes)
    varying = [
        (key, seen) for key, seen in values.items() if len(seen) > 1 or sum(seen.values()) < total
    ]
    varying.sort(key=lambda item: (-len(item[1]), item[0]))
    lines = []
    for key, seen in varying[:TOP_LABELS]:
        top = ", ".join(f"{mrkdwn(clip(v, 60))}: {n:,}" for v, n in seen.most_common(TOP_VALUES))
        more = f", … {len(seen) - TOP_VALUES:,} more" if len(seen) > TOP_VALUES else ""
        lines.append(f"• {code(clip(key, 60))}, {len(seen):,} values ({top}{more})")
    return lines


def _more(count: int) -> str:
    return f"… {count:,} more"


def changes_post(
    changes: Sequence[AlertChange], *, all_resolved: bool, truncated: int, ref: str
) -> ChangesPost:
    """One line per change for a few; past MAX_LISTED, one summary that Slack accepts."""
    if len(changes) <= MAX_LISTED:
        text = changes_message(changes, all_resolved=all_resolved, truncated=truncated)
        return ChangesPost(clip(text, MESSAGE_TEXT, rest=f"the timeline of {ref}"))
    where = f"Every alert is on the timeline: `/incident timeline` in this channel ({ref})."
    blocks: list[Block] = [header(_headline(changes))]
    blocks.append(section("*By alert*\n" + lines_within(_by_name(changes), SECTION_ROOM, _more)))
    labels = _varying_labels(changes)
    if labels:
        blocks.append(section("*Labels that vary*\n" + lines_within(labels, SECTION_ROOM, _more)))
    first = [change_text(c) for c in changes[:FIRST_SHOWN]]
    left = len(changes) - len(first)
    blocks.append(
        section(
            f"*First {len(first)} of {len(changes):,}*\n"
            + lines_within(first, SECTION_ROOM, _more)
            + f"\n… and {left:,} more"
        )
    )
    notes = [truncated_note(truncated)] if truncated else []
    if all_resolved:
        notes.append(all_resolved_note())
    if notes:
        blocks.append(section("\n".join(notes)))
    blocks.append(context(where))
    text = "\n".join([_headline(changes), *notes, where])
    return ChangesPost(clip(text, MESSAGE_TEXT), blocks)
