"""The fake Slack's objects (messages, channels, files), its error answer, and the accessors
its methods read arguments with: form bodies carry strings, JSON bodies real types."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from standins.fake_slack_blocks import Refusal

Args = dict[str, Any]
Handler = Callable[[Args], dict[str, Any]]

PERMALINK_ROOT = "https://fake.slack.test"
_CHANNEL_NAME_CHARS = re.compile(r"[a-z0-9_-]+")
_MAX_CHANNEL_NAME = 80


class SlackError(Exception):
    """An `{"ok": false, "error": ...}` answer; `extra` carries Slack's side fields."""

    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra


@dataclass
class FakeMessage:
    ts: str
    channel: str
    user: str
    text: str
    blocks: list[dict[str, Any]] | None = None
    attachments: list[dict[str, Any]] | None = None
    thread_ts: str | None = None
    files: list[str] = field(default_factory=list)
    edits: list[str] = field(default_factory=list)  # earlier texts, oldest first
    reactions: dict[str, list[str]] = field(default_factory=dict)  # emoji -> user ids
    visible_to: str | None = None  # set for ephemeral messages
    bot_id: str | None = None  # set when the bot posted it
    metadata: dict[str, Any] | None = None  # chat.postMessage's `metadata`

    def to_json(self, *, with_metadata: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "message", "ts": self.ts, "user": self.user}
        if with_metadata and self.metadata is not None:
            out["metadata"] = self.metadata
        optional = {
            "text": self.text,
            "bot_id": self.bot_id,
            "blocks": self.blocks,
            "attachments": self.attachments,
            "thread_ts": self.thread_ts,
            "files": [{"id": f} for f in self.files] or None,
            "edited": {"user": self.user, "ts": self.ts} if self.edits else None,
            "reactions": [
                {"name": n, "users": u, "count": len(u)} for n, u in self.reactions.items()
            ]
            or None,
        }
        out.update({k: v for k, v in optional.items() if v is not None})
        return out


@dataclass
class FakeChannel:
    id: str
    name: str
    is_private: bool = False
    is_im: bool = False
    topic: str = ""
    purpose: str = ""
    members: set[str] = field(default_factory=set)
    messages: list[FakeMessage] = field(default_factory=list)
    ephemeral: list[FakeMessage] = field(default_factory=list)
    pins: set[str] = field(default_factory=set)  # message ts
    is_archived: bool = False
    created: int = field(default_factory=lambda: int(time.time()))

    def message(self, ts: str) -> FakeMessage:
        for msg in self.messages:
            if msg.ts == ts:
                return msg
        raise SlackError("message_not_found")


@dataclass
class FakeFile:
    id: str
    filename: str
    length: int
    title: str = ""
    content: bytes = b""
    uploaded: bool = False  # the bytes reached the upload URL
    channels: list[str] = field(default_factory=list)


# -- argument accessors: form bodies carry strings, JSON bodies real types ----------


def opt_str(args: Args, key: str) -> str | None:
    value = args.get(key)
    if value is None or value == "":
        return None
    return value if isinstance(value, str) else str(value)


def req_str(args: Args, key: str, error: str = "invalid_arguments") -> str:
    value = opt_str(args, key)
    if value is None:
        # Slack's newer methods explain what is missing; tests benefit from that.
        raise SlackError(error, response_metadata={"messages": [f"[ERROR] missing {key}"]})
    return value


def flag(args: Args, key: str) -> bool:
    return args.get(key) in (True, 1, "1", "true", "True")


def blocks_arg(args: Args, key: str) -> list[dict[str, Any]] | None:
    value = args.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, str):  # still a string: the JSON inside did not parse
        raise SlackError(f"invalid_{key}_format" if key == "blocks" else "invalid_arguments")
    if not isinstance(value, list) or not all(isinstance(b, dict) for b in value):
        raise SlackError(f"invalid_{key}")
    return value


def refuse(refusal: Refusal | None) -> None:
    """Raise Slack's answer to content it will not show, with its "[ERROR] ..." messages."""
    if refusal is not None:
        error, messages = refusal
        raise SlackError(error, response_metadata={"messages": messages})


def channel_name_error(name: str) -> str | None:
    if not name:
        return "invalid_name_required"
    if len(name) > _MAX_CHANNEL_NAME:
        return "invalid_name_maxlength"
    if not _CHANNEL_NAME_CHARS.fullmatch(name):
        return "invalid_name_specials"
    if not name.strip("-_"):
        return "invalid_name_punctuation"
    return None
