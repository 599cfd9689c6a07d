"""Block Kit pieces that always fit Slack's limits: pure, no I/O.

Slack refuses a whole message (`invalid_blocks`, `msg_too_long`) when one part is too
long, and a refused incident message is an incident nobody hears about. So every
renderer builds its blocks here, where anything too long is cut on a line boundary
when it can be, and says so, and where the rest can be read.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from bot.core.escaping import preformatted

Block = dict[str, Any]

SECTION_TEXT = 3_000
FIELD_TEXT = 2_000
HEADER_TEXT = 150
BUTTON_TEXT = 75
CONFIRM_TITLE = 100
CONFIRM_TEXT = 300
CONTEXT_TEXT = 3_000
MESSAGE_TEXT = 40_000  # chat.* text and slash-command answers
MESSAGE_BLOCKS = 50
_FENCE = "```"


def clip(text: str, limit: int, *, rest: str | None = None) -> str:
    """`text` if it fits, else its start and a marker saying it was cut (and where the rest is).

    Cut at the last line break in the kept part when there is one not too far back, so a
    list loses whole lines rather than half a word.
    """
    if len(text) <= limit:
        return text
    marker = f"\n… (cut: {rest})" if rest else "…"
    keep = text[: max(0, limit - len(marker))]
    newline = keep.rfind("\n")
    if newline >= len(keep) // 2:
        keep = keep[:newline]
    return (keep + marker)[:limit]


def plain(text: str, limit: int) -> dict[str, str]:
    """A plain_text object; Slack refuses an empty one, so there is always a character."""
    return {"type": "plain_text", "text": clip(text, limit) or " "}


def section(text: str, *, rest: str | None = None) -> Block:
    body = clip(text, SECTION_TEXT, rest=rest) or " "
    return {"type": "section", "text": {"type": "mrkdwn", "text": body}}


def header(text: str) -> Block:
    return {"type": "header", "text": plain(text, HEADER_TEXT)}


def fields(values: Mapping[str, str]) -> Block:
    """Up to 10 `*label*\\nvalue` fields (Slack's maximum), each within its 2,000 characters."""
    items = list(values.items())[:10]
    return {
        "type": "section",
        "fields": [{"type": "mrkdwn", "text": clip(f"*{k}*\n{v}", FIELD_TEXT)} for k, v in items],
    }


def context(text: str) -> Block:
    body = clip(text, CONTEXT_TEXT) or " "
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": body}]}


def code_section(title: str, lines: Sequence[str], *, rest: str) -> Block:
    """A title and a code block of whole lines; the fence is closed even when lines are cut."""
    room = SECTION_TEXT - len(title) - 2 * len(_FENCE) - 1
    # Lines from outside (logs, diffs) are escaped, and a ``` in them cannot end the block.
    safe = [preformatted(line) for line in lines]
    body = lines_within(safe, room, lambda n: f"… {n} more line(s): {rest}")
    return section(f"{title}\n{_FENCE}{body}{_FENCE}")


def lines_within(lines: Sequence[str], limit: int, more: Callable[[int], str]) -> str:
    """As many whole lines as fit in `limit` characters, then `more(n)` for the n left out."""
    text = "\n".join(lines)
    if len(text) <= limit:
        return text
    reserve = len(more(len(lines))) + 1  # the longest "n more" line this can need
    kept: list[str] = []
    used = 0
    for line in lines:
        if used + len(line) + 1 > limit - reserve:
            break
        kept.append(line)
        used += len(line) + 1
    if not kept and lines:  # one huge first line: show its start rather than nothing
        kept.append(clip(lines[0], max(1, limit - reserve - 1)))
    if len(kept) < len(lines):
        kept.append(more(len(lines) - len(kept)))
    return clip("\n".join(kept), limit)
