"""WorkspaceBase: one fake Slack workspace's state (channels, users, user groups, files,
views), the seeding helpers tests call, and the lookups every method family shares."""

from __future__ import annotations

import itertools
import time
from typing import Any

from standins.fake_slack_objects import (
    Args,
    FakeChannel,
    FakeFile,
    FakeMessage,
    SlackError,
    req_str,
)


class WorkspaceBase:
    """One Slack workspace as seen through a single bot token."""

    def __init__(self, *, bot_token: str, team_id: str, bot_user_id: str) -> None:
        self.bot_token = bot_token
        self.team_id = team_id
        self.bot_user_id = bot_user_id
        self.bot_id = "B" + bot_user_id.removeprefix("U")
        self.channels: dict[str, FakeChannel] = {}
        self.usergroups: dict[str, list[str]] = {}
        self.users: dict[str, dict[str, Any]] = {
            bot_user_id: {"id": bot_user_id, "name": "incident-bot", "is_bot": True}
        }
        self.files: dict[str, FakeFile] = {}
        self.views: dict[str, dict[str, Any]] = {}
        self.upload_root = ""  # "http://host:port", known once the server listens
        self._ids = itertools.count(1)
        self._ts_counter = itertools.count(1)
        self._last_second = 0

    # -- seeding helpers for tests ---------------------------------------------------

    def add_channel(
        self, name: str, *, bot_is_member: bool = True, is_private: bool = False
    ) -> FakeChannel:
        channel = FakeChannel(id=self._new_id("C"), name=name, is_private=is_private)
        if bot_is_member:
            channel.members.add(self.bot_user_id)
        self.channels[channel.id] = channel
        return channel

    def add_user(
        self,
        user_id: str,
        name: str,
        *,
        real_name: str | None = None,
        display_name: str = "",
        tz: str = "UTC",
        email: str | None = None,
    ) -> dict[str, Any]:
        # As Slack: `display_name` is often empty, `real_name` is always there.
        profile = {"display_name": display_name, "real_name": real_name or name}
        if email is not None:
            profile["email"] = email
        user = {
            "id": user_id,
            "name": name,
            "real_name": real_name or name,
            "tz": tz,
            "profile": profile,
        }
        self.users[user_id] = user
        return user

    def channel_by_name(self, name: str) -> FakeChannel | None:
        name = name.removeprefix("#")
        return next((c for c in self.channels.values() if c.name == name and not c.is_im), None)

    def post(
        self,
        channel: FakeChannel,
        text: str,
        *,
        user: str | None = None,
        blocks: list[dict[str, Any]] | None = None,
        attachments: list[dict[str, Any]] | None = None,
        thread_ts: str | None = None,
        files: list[str] | None = None,
    ) -> FakeMessage:
        """Append a message (the bot's unless `user` is given); tests seed history with it."""
        msg = FakeMessage(
            ts=self._new_ts(),
            channel=channel.id,
            user=user or self.bot_user_id,
            text=text,
            blocks=blocks,
            attachments=attachments,
            thread_ts=thread_ts,
            files=files or [],
            bot_id=None if user else self.bot_id,
        )
        channel.messages.append(msg)
        return msg

    # -- shared lookups ----------------------------------------------------------------

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):08X}"

    def _new_ts(self) -> str:
        # The counter alone keeps ts unique and increasing even when the clock stalls.
        self._last_second = max(self._last_second, int(time.time()))
        return f"{self._last_second}.{next(self._ts_counter):06d}"

    def _channel(self, args: Args, key: str = "channel", *, by_name: bool = False) -> FakeChannel:
        ref = req_str(args, key)
        channel = self.channels.get(ref)
        if channel is None and by_name:
            channel = self.channel_by_name(ref)
            if channel is None and ref in self.users:  # posting to a user id means a DM
                channel = self._dm_with(ref)
        if channel is None:
            raise SlackError("channel_not_found")
        return channel

    def _joined_channel(
        self, args: Args, key: str = "channel", *, by_name: bool = False
    ) -> FakeChannel:
        """A channel the bot may write to: it must be live and the bot a member."""
        channel = self._channel(args, key, by_name=by_name)
        if channel.is_archived:
            raise SlackError("is_archived")
        if self.bot_user_id not in channel.members:
            raise SlackError("not_in_channel")
        return channel

    def _dm_with(self, user_id: str) -> FakeChannel:
        for channel in self.channels.values():
            if channel.is_im and channel.members == {self.bot_user_id, user_id}:
                return channel
        channel = FakeChannel(id=self._new_id("D"), name="", is_im=True)
        channel.members = {self.bot_user_id, user_id}
        self.channels[channel.id] = channel
        return channel

    def _user(self, user_id: str) -> dict[str, Any]:
        user = self.users.get(user_id)
        if user is None:
            raise SlackError("user_not_found")
        return {"id": user_id, "team_id": self.team_id, "is_bot": False, **user}

    def channel_json(self, channel: FakeChannel) -> dict[str, Any]:
        def text_field(value: str) -> dict[str, Any]:
            return {"value": value, "creator": self.bot_user_id if value else "", "last_set": 0}

        return {
            "id": channel.id,
            "name": channel.name,
            "name_normalized": channel.name,
            "is_channel": not channel.is_private and not channel.is_im,
            "is_group": False,
            "is_im": channel.is_im,
            "is_private": channel.is_private or channel.is_im,
            "is_archived": channel.is_archived,
            "is_member": self.bot_user_id in channel.members,
            "created": channel.created,
            "creator": self.bot_user_id,
            "topic": text_field(channel.topic),
            "purpose": text_field(channel.purpose),
            "num_members": len(channel.members),
        }
