"""Fake Slack: message metadata and channel listing, as strict as Slack.

`chat.postMessage` takes `metadata` (`event_type`, `event_payload`) and
`conversations.history` returns it only with `include_all_metadata`; the bot uses it
to recognise its own earlier post after a crash. `conversations.list` pages with an
opaque cursor, as Slack does.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from standins.fake_slack_state import Args, FakeChannel, SlackError, flag, opt_str

_EVENT_TYPE = re.compile(r"[A-Za-z0-9_]{1,255}")
_TYPES = frozenset({"public_channel", "private_channel", "mpim", "im"})
_CURSOR_PREFIX = "dXNlcjpV"  # Slack's cursors are opaque base64-looking strings


def message_metadata(args: Args) -> dict[str, Any] | None:
    """The `metadata` argument, checked as Slack checks it."""
    value = args.get("metadata")
    if value is None or value == "":
        return None
    if not isinstance(value, dict):
        raise SlackError("invalid_metadata_format")
    event_type = value.get("event_type")
    payload = value.get("event_payload")
    if not isinstance(event_type, str) or not _EVENT_TYPE.fullmatch(event_type):
        raise SlackError("invalid_metadata_format")
    if not isinstance(payload, dict) or set(value) - {"event_type", "event_payload"}:
        raise SlackError("invalid_metadata_format")
    return {"event_type": event_type, "event_payload": payload}


def conversations_list(
    channels: Iterable[FakeChannel], args: Args, to_json: Callable[[FakeChannel], dict[str, Any]]
) -> dict[str, Any]:
    types = {t.strip() for t in (opt_str(args, "types") or "public_channel").split(",")}
    if not types or types - _TYPES:
        raise SlackError("invalid_types")
    limit_text = opt_str(args, "limit") or "100"
    if not limit_text.isdigit() or not 1 <= int(limit_text) <= 1000:
        raise SlackError("invalid_limit")
    cursor = opt_str(args, "cursor")
    start = 0
    if cursor is not None:
        offset = cursor.removeprefix(_CURSOR_PREFIX)
        if not cursor.startswith(_CURSOR_PREFIX) or not offset.isdigit():
            raise SlackError("invalid_cursor")
        start = int(offset)

    def kind(channel: FakeChannel) -> str:
        if channel.is_im:
            return "im"
        return "private_channel" if channel.is_private else "public_channel"

    matching = [
        c
        for c in channels
        if kind(c) in types and not (flag(args, "exclude_archived") and c.is_archived)
    ]
    page = matching[start : start + int(limit_text)]
    after = start + len(page)
    next_cursor = f"{_CURSOR_PREFIX}{after}" if after < len(matching) else ""
    return {
        "channels": [to_json(c) for c in page],
        "response_metadata": {"next_cursor": next_cursor},
    }
