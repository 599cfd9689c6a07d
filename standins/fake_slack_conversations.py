"""The fake Slack's auth, conversations and users methods, as strict as Slack."""

from __future__ import annotations

from typing import Any

from standins.fake_slack_base import WorkspaceBase
from standins.fake_slack_objects import (
    PERMALINK_ROOT,
    Args,
    SlackError,
    channel_name_error,
    flag,
    opt_str,
    req_str,
)

_MAX_TOPIC = 250
_MAX_INVITEES = 1000


class ConversationMethods(WorkspaceBase):
    # -- auth, conversations, users --------------------------------------------------

    def _auth_test(self, args: Args) -> dict[str, Any]:
        return {
            "url": f"{PERMALINK_ROOT}/",
            "team": "Fake Team",
            "user": self.users.get(self.bot_user_id, {}).get("name", "incident-bot"),
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
        }

    def _conversations_create(self, args: Args) -> dict[str, Any]:
        name = opt_str(args, "name") or ""
        error = channel_name_error(name)
        if error is not None:
            raise SlackError(error)
        if self.channel_by_name(name) is not None:  # archived names stay taken, as in Slack
            raise SlackError("name_taken")
        channel = self.add_channel(name, is_private=flag(args, "is_private"))
        return {"channel": self.channel_json(channel)}

    def _conversations_info(self, args: Args) -> dict[str, Any]:
        channel = self._channel(args)
        if channel.is_private and self.bot_user_id not in channel.members:
            raise SlackError("channel_not_found")  # private channels are invisible to outsiders
        return {"channel": self.channel_json(channel)}

    def _conversations_join(self, args: Args) -> dict[str, Any]:
        channel = self._channel(args)
        if channel.is_private or channel.is_im:
            raise SlackError("method_not_supported_for_channel_type")
        if channel.is_archived:
            raise SlackError("is_archived")
        already = self.bot_user_id in channel.members
        channel.members.add(self.bot_user_id)
        extra = {"warning": "already_in_channel", "already_in_channel": True} if already else {}
        return {"channel": self.channel_json(channel), **extra}

    def _conversations_archive(self, args: Args) -> dict[str, Any]:
        channel = self._channel(args)
        if channel.is_archived:
            raise SlackError("already_archived")
        if self.bot_user_id not in channel.members:
            raise SlackError("not_in_channel")
        channel.is_archived = True
        return {}

    def _set_text_field(self, args: Args, key: str) -> dict[str, Any]:
        channel = self._joined_channel(args)
        value = opt_str(args, key) or ""
        if len(value) > _MAX_TOPIC:
            raise SlackError("too_long")
        setattr(channel, key, value)
        return {"channel": self.channel_json(channel)}

    def _conversations_set_topic(self, args: Args) -> dict[str, Any]:
        return self._set_text_field(args, "topic")

    def _conversations_set_purpose(self, args: Args) -> dict[str, Any]:
        return self._set_text_field(args, "purpose")

    def _conversations_invite(self, args: Args) -> dict[str, Any]:
        channel = self._joined_channel(args)
        user_ids = [u.strip() for u in req_str(args, "users").split(",") if u.strip()]
        if not user_ids or len(user_ids) > _MAX_INVITEES:
            raise SlackError("invalid_arguments")
        failures: list[dict[str, Any]] = []
        valid: list[str] = []
        for user_id in user_ids:
            if user_id == self.bot_user_id:
                failures.append({"user": user_id, "ok": False, "error": "cant_invite_self"})
            elif user_id not in self.users:
                failures.append({"user": user_id, "ok": False, "error": "user_not_found"})
            elif user_id in channel.members:
                failures.append({"user": user_id, "ok": False, "error": "already_in_channel"})
            else:
                valid.append(user_id)
        if failures and not flag(args, "force"):
            # Slack invites nobody when any invitee fails, and names the first failure.
            raise SlackError(failures[0]["error"], errors=failures)
        if failures and not valid:
            raise SlackError(failures[0]["error"], errors=failures)
        channel.members.update(valid)
        extra = {"errors": failures} if failures else {}
        return {"channel": self.channel_json(channel), **extra}

    def _conversations_members(self, args: Args) -> dict[str, Any]:
        channel = self._channel(args)
        return {"members": sorted(channel.members), "response_metadata": {"next_cursor": ""}}

    def _conversations_open(self, args: Args) -> dict[str, Any]:
        user_id = req_str(args, "users")
        self._user(user_id)
        return {"channel": {"id": self._dm_with(user_id).id}}

    def _usergroups_users_list(self, args: Args) -> dict[str, Any]:
        group = req_str(args, "usergroup")
        if group not in self.usergroups:
            raise SlackError("no_such_subteam")
        return {"users": list(self.usergroups[group])}

    def _users_info(self, args: Args) -> dict[str, Any]:
        return {"user": self._user(req_str(args, "user", "user_not_found"))}

    def _users_lookup_by_email(self, args: Args) -> dict[str, Any]:
        email = req_str(args, "email", "users_not_found").lower()
        for user in self.users.values():
            if str((user.get("profile") or {}).get("email", "")).lower() == email:
                return {"user": user}
        raise SlackError("users_not_found")
