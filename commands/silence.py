"""`/incident silence|silences|unsilence`: the messages and buttons (no I/O).

Parsing lives with the other `/incident` subcommands (`commands.incident`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from bot.core.alerts import format_timestamp
from bot.core.block_kit import Block, clip, lines_within, section
from bot.core.escaping import code, mrkdwn
from bot.core.lifecycle import format_duration
from bot.core.silences import SilenceView, format_matchers, state

SILENCE_BUTTON = "silence_group"  # "Silence 1h" on the pinned alert message
UNSILENCE_BUTTON = "silence_expire"  # on each silence message
BUTTON_MINUTES = 60
LINE_TEXT = 1_000  # one silence, its reason cut
LIST_TEXT = 6_000


def silence_button(incident_id: int) -> Block:
    return {
        "type": "button",
        "action_id": SILENCE_BUTTON,
        "text": {"type": "plain_text", "text": "Silence 1h"},
        "value": f"{incident_id}:{BUTTON_MINUTES}",
    }


def parse_silence_button(value: str) -> tuple[int, int]:
    incident_id, minutes = value.split(":")
    return int(incident_id), int(minutes)


def silence_line(s: SilenceView, now: datetime) -> str:
    until = format_timestamp(s.ends_at)
    what = code(format_matchers(s.matchers))
    head = f"<@{s.created_by}> silenced {what} until {until}"
    keep = " (kept after resolve)" if s.keep else ""
    reason = f": {mrkdwn(s.reason)}" if s.reason else ""
    current = state(s, now)
    if current == "expired" and s.expired_at is not None:
        by = f" by <@{s.expired_by}>" if s.expired_by and s.expired_by[0] in "UW" else ""
        tail = f" · expired{by} at {format_timestamp(s.expired_at)}"
    else:
        tail = f" · {current}"
    return f"{head}{keep}{reason}{tail}"


def silence_message(s: SilenceView, now: datetime) -> tuple[str, list[Block]]:
    """The channel message for a silence, with its Unsilence button while active."""
    duration = format_duration(s.ends_at - s.starts_at)
    text = f":no_bell: {silence_line(s, now)} ({duration}, Alertmanager silence `{s.silence_id}`)"
    blocks: list[Block] = [section(text)]
    if state(s, now) == "active":
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "action_id": UNSILENCE_BUTTON,
                        "text": {"type": "plain_text", "text": "Unsilence"},
                        "value": str(s.row_id),
                    }
                ],
            }
        )
    return text, blocks


def silences_list(silences: Sequence[SilenceView], now: datetime) -> str:
    if not silences:
        return "No silences were made for this incident. `/incident silence [30m|1h|4h] [reason]`"
    lines = ["*Silences of this incident*"]
    lines += [f"• {clip(silence_line(s, now), LINE_TEXT)}" for s in silences]
    # Slack refuses a reply over 40,000 characters; a couple of screens is what gets read.
    return lines_within(lines, LIST_TEXT, lambda n: f"… and {n} more in Alertmanager")
