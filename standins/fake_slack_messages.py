"""The fake Slack's message methods (post, update, ephemeral, permalink), pins, history,
channel listing and reactions, as strict as Slack."""

from __future__ import annotations

import re
from typing import Any

from standins.fake_slack_base import WorkspaceBase
from standins.fake_slack_blocks import message_refusal
from standins.fake_slack_objects import (
    PERMALINK_ROOT,
    Args,
    FakeChannel,
    FakeMessage,
    SlackError,
    blocks_arg,
    flag,
    opt_str,
    refuse,
    req_str,
)

_EMOJI_NAME = re.compile(r"[a-z0-9_+'-]+")


class MessageMethods(WorkspaceBase):
    # -- messages --------------------------------------------------------------------

    def _message_content(self, args: Args) -> tuple[str, list[dict[str, Any]] | None, Any]:
        text = opt_str(args, "text") or ""
        blocks = blocks_arg(args, "blocks")
        attachments = blocks_arg(args, "attachments")
        if not text and blocks is None and attachments is None:
            raise SlackError("no_text")
        refuse(message_refusal(text, blocks))
        return text, blocks, attachments

    def _chat_post_message(self, args: Args) -> dict[str, Any]:
        channel = self._joined_channel(args, by_name=True)
        text, blocks, attachments = self._message_content(args)
        from standins.fake_slack_lookups import message_metadata  # it imports this module

        metadata = message_metadata(args)
        msg = self.post(
            channel,
            text,
            blocks=blocks,
            attachments=attachments,
            thread_ts=opt_str(args, "thread_ts"),
        )
        msg.metadata = metadata
        return {"channel": channel.id, "ts": msg.ts, "message": msg.to_json(with_metadata=True)}

    def _chat_update(self, args: Args) -> dict[str, Any]:
        channel = self._channel(args)  # Slack wants an id here, so names are not resolved
        msg = channel.message(req_str(args, "ts", "message_not_found"))
        if msg.user != self.bot_user_id:
            raise SlackError("cant_update_message")
        text, blocks, attachments = self._message_content(args)
        msg.edits.append(msg.text)
        msg.text = text
        msg.blocks = blocks if blocks is not None else msg.blocks
        msg.attachments = attachments if attachments is not None else msg.attachments
        message = msg.to_json()
        return {"channel": channel.id, "ts": msg.ts, "text": text, "message": message}

    def _chat_post_ephemeral(self, args: Args) -> dict[str, Any]:
        channel = self._joined_channel(args, by_name=True)
        user_id = req_str(args, "user")
        self._user(user_id)
        if user_id not in channel.members:
            raise SlackError("user_not_in_channel")
        msg = self._ephemeral(channel, user_id, args, thread_ts=opt_str(args, "thread_ts"))
        return {"message_ts": msg.ts}

    def _ephemeral(
        self, channel: FakeChannel, user_id: str, content: Args, *, thread_ts: str | None = None
    ) -> FakeMessage:
        """A message in `channel` that only `user_id` sees."""
        text, blocks, attachments = self._message_content(content)
        msg = FakeMessage(
            ts=self._new_ts(),
            channel=channel.id,
            user=self.bot_user_id,
            text=text,
            blocks=blocks,
            attachments=attachments,
            thread_ts=thread_ts,
            visible_to=user_id,
            bot_id=self.bot_id,
        )
        channel.ephemeral.append(msg)
        return msg

    def _respond(self, target: tuple[str, str], body: Args) -> None:
        """A response_url post: in the channel when asked, else seen by the user alone."""
        channel_id, user_id = target
        channel = self.channels.get(channel_id)
        if channel is None:
            raise SlackError("channel_not_found")
        if body.get("response_type") == "in_channel":
            text, blocks, attachments = self._message_content(body)
            self.post(channel, text, blocks=blocks, attachments=attachments)
            return
        self._ephemeral(channel, user_id, body)

    def _chat_get_permalink(self, args: Args) -> dict[str, Any]:
        channel = self._channel(args)
        msg = channel.message(req_str(args, "message_ts", "message_not_found"))
        link = f"{PERMALINK_ROOT}/archives/{channel.id}/p{msg.ts.replace('.', '')}"
        return {"channel": channel.id, "permalink": link}

    # -- pins and reactions ----------------------------------------------------------

    def _pinned_target(self, args: Args) -> tuple[FakeChannel, FakeMessage]:
        channel = self._joined_channel(args)
        return channel, channel.message(req_str(args, "timestamp", "no_item_specified"))

    def _pins_add(self, args: Args) -> dict[str, Any]:
        channel, msg = self._pinned_target(args)
        if msg.ts in channel.pins:
            raise SlackError("already_pinned")
        channel.pins.add(msg.ts)
        return {}

    def _pins_remove(self, args: Args) -> dict[str, Any]:
        channel, msg = self._pinned_target(args)
        if msg.ts not in channel.pins:
            raise SlackError("no_pin")
        channel.pins.discard(msg.ts)
        return {}

    def _conversations_history(self, args: Args) -> dict[str, Any]:
        """Newest first, between `oldest` and `latest` (inclusive only when asked), as Slack."""
        channel = self._joined_channel(args)
        latest = float(opt_str(args, "latest") or "inf")
        oldest = float(opt_str(args, "oldest") or "0")
        inclusive = flag(args, "inclusive")
        limit = int(opt_str(args, "limit") or "100")

        def within(ts: float) -> bool:
            if inclusive:
                return oldest <= ts <= latest
            return oldest < ts < latest

        found = [m for m in channel.messages if m.visible_to is None and within(float(m.ts))]
        found.sort(key=lambda m: float(m.ts), reverse=True)
        meta = flag(args, "include_all_metadata")
        shown = [m.to_json(with_metadata=meta) for m in found[:limit]]
        return {"messages": shown, "has_more": len(found) > limit}

    def _conversations_list(self, args: Args) -> dict[str, Any]:
        from standins.fake_slack_lookups import conversations_list  # it imports this module

        return conversations_list(list(self.channels.values()), args, self.channel_json)

    def _pins_list(self, args: Args) -> dict[str, Any]:
        channel = self._channel(args)
        items = [
            {"type": "message", "channel": channel.id, "message": m.to_json()}
            for m in channel.messages
            if m.ts in channel.pins
        ]
        return {"items": items}

    def _reactions_add(self, args: Args) -> dict[str, Any]:
        channel = self._joined_channel(args)
        msg = channel.message(req_str(args, "timestamp", "no_item_specified"))
        name = req_str(args, "name", "invalid_name").strip(":")
        if not _EMOJI_NAME.fullmatch(name):
            raise SlackError("invalid_name")
        users = msg.reactions.setdefault(name, [])
        if self.bot_user_id in users:
            raise SlackError("already_reacted")
        users.append(self.bot_user_id)
        return {}
