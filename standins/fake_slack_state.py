"""Workspace state and Web API method semantics of the fake Slack.

Transport lives in `fake_slack.py`; this module only turns decoded arguments
into Slack-shaped answers, so the rules can be read without the HTTP plumbing.
Handlers are deliberately as strict as Slack: a fake that accepts what Slack
rejects would let the bot's bugs through to production.
"""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from standins.fake_slack_blocks import Refusal, message_refusal, view_refusal

Args = dict[str, Any]
Handler = Callable[[Args], dict[str, Any]]

PERMALINK_ROOT = "https://fake.slack.test"
_CHANNEL_NAME_CHARS = re.compile(r"[a-z0-9_-]+")
_EMOJI_NAME = re.compile(r"[a-z0-9_+'-]+")
_MAX_CHANNEL_NAME = 80
_MAX_TOPIC = 250
_MAX_INVITEES = 1000


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


def _blocks(args: Args, key: str) -> list[dict[str, Any]] | None:
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


def _channel_name_error(name: str) -> str | None:
    if not name:
        return "invalid_name_required"
    if len(name) > _MAX_CHANNEL_NAME:
        return "invalid_name_maxlength"
    if not _CHANNEL_NAME_CHARS.fullmatch(name):
        return "invalid_name_specials"
    if not name.strip("-_"):
        return "invalid_name_punctuation"
    return None


class FakeWorkspace:
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
        self.handlers: dict[str, Handler] = {
            "auth.test": self._auth_test,
            "conversations.create": self._conversations_create,
            "conversations.info": self._conversations_info,
            "conversations.join": self._conversations_join,
            "conversations.archive": self._conversations_archive,
            "conversations.setTopic": self._conversations_set_topic,
            "conversations.setPurpose": self._conversations_set_purpose,
            "conversations.invite": self._conversations_invite,
            "conversations.members": self._conversations_members,
            "conversations.open": self._conversations_open,
            "conversations.history": self._conversations_history,
            "conversations.list": self._conversations_list,
            "usergroups.users.list": self._usergroups_users_list,
            "users.info": self._users_info,
            "users.lookupByEmail": self._users_lookup_by_email,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.getPermalink": self._chat_get_permalink,
            "pins.add": self._pins_add,
            "pins.remove": self._pins_remove,
            "pins.list": self._pins_list,
            "reactions.add": self._reactions_add,
            "files.getUploadURLExternal": self._files_get_upload_url,
            "files.completeUploadExternal": self._files_complete_upload,
            "views.open": self._views_open,
            "views.update": self._views_update,
            "views.publish": self._views_publish,
        }

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
        error = _channel_name_error(name)
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

    # -- messages --------------------------------------------------------------------

    def _message_content(self, args: Args) -> tuple[str, list[dict[str, Any]] | None, Any]:
        text = opt_str(args, "text") or ""
        blocks = _blocks(args, "blocks")
        attachments = _blocks(args, "attachments")
        if not text and blocks is None and attachments is None:
            raise SlackError("no_text")
        refuse(message_refusal(text, blocks))
        return text, blocks, attachments

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
        text, blocks, attachments = self._message_content(args)
        msg = FakeMessage(
            ts=self._new_ts(),
            channel=channel.id,
            user=self.bot_user_id,
            text=text,
            blocks=blocks,
            attachments=attachments,
            thread_ts=opt_str(args, "thread_ts"),
            visible_to=user_id,
            bot_id=self.bot_id,
        )
        channel.ephemeral.append(msg)
        return {"message_ts": msg.ts}

    def _respond(self, target: tuple[str, str], body: Args) -> None:
        """A response_url post: in the channel when asked, else seen by the user alone."""
        channel_id, user_id = target
        channel = self.channels.get(channel_id)
        if channel is None:
            raise SlackError("channel_not_found")
        text, blocks, attachments = self._message_content(body)
        if body.get("response_type") == "in_channel":
            self.post(channel, text, blocks=blocks, attachments=attachments)
            return
        msg = FakeMessage(
            ts=self._new_ts(),
            channel=channel.id,
            user=self.bot_user_id,
            text=text,
            blocks=blocks,
            attachments=attachments,
            visible_to=user_id,
            bot_id=self.bot_id,
        )
        channel.ephemeral.append(msg)

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

    # -- files (the v2 three-step upload) --------------------------------------------

    def _files_get_upload_url(self, args: Args) -> dict[str, Any]:
        filename = req_str(args, "filename")
        length = req_str(args, "length")
        if not length.isdigit() or int(length) == 0:
            raise SlackError("invalid_arguments")
        file = FakeFile(id=self._new_id("F"), filename=filename, length=int(length))
        self.files[file.id] = file
        return {"upload_url": f"{self.upload_root}/upload/{file.id}", "file_id": file.id}

    def _files_complete_upload(self, args: Args) -> dict[str, Any]:
        entries = args.get("files")
        if not isinstance(entries, list) or not entries:
            raise SlackError("invalid_arguments")
        if not all(isinstance(e, dict) and e.get("id") in self.files for e in entries):
            raise SlackError("file_not_found")
        targets = [self._joined_channel(args, "channel_id")] if opt_str(args, "channel_id") else []
        for ref in (opt_str(args, "channels") or "").split(","):
            if ref.strip():
                targets.append(self._joined_channel({"channel": ref.strip()}))
        shared = [self.files[e["id"]] for e in entries]
        for file, entry in zip(shared, entries, strict=True):
            file.title = str(entry.get("title") or file.filename)
        for channel in targets:
            for file in shared:
                file.channels.append(channel.id)
            self.post(
                channel,
                opt_str(args, "initial_comment") or "",
                files=[f.id for f in shared],
                thread_ts=opt_str(args, "thread_ts"),
            )
        return {"files": [self._file_json(f) for f in shared]}

    @staticmethod
    def _file_json(file: FakeFile) -> dict[str, Any]:
        return {
            "id": file.id,
            "name": file.filename,
            "title": file.title,
            "size": len(file.content),
            "channels": list(file.channels),
        }

    # -- views: just enough for modals and the App Home ------------------------------

    def _store_view(self, view_id: str, args: Args) -> dict[str, Any]:
        view = args.get("view")
        refuse(view_refusal(view))
        assert isinstance(view, dict)  # view_refusal refused anything else
        self.views[view_id] = {**view, "id": view_id, "team_id": self.team_id}
        return {"view": dict(self.views[view_id])}

    def _views_open(self, args: Args) -> dict[str, Any]:
        req_str(args, "trigger_id")
        return self._store_view(self._new_id("V"), args)

    def _views_update(self, args: Args) -> dict[str, Any]:
        view_id = opt_str(args, "view_id")
        external_id = opt_str(args, "external_id")
        if view_id is None and external_id is not None:
            matches = (k for k, v in self.views.items() if v.get("external_id") == external_id)
            view_id = next(matches, None)
            if view_id is None:
                raise SlackError("not_found")
        if view_id is None:
            raise SlackError("invalid_arguments")
        if view_id not in self.views:
            raise SlackError("not_found")
        return self._store_view(view_id, args)

    def _views_publish(self, args: Args) -> dict[str, Any]:
        self._user(req_str(args, "user_id"))
        return self._store_view(self._new_id("V"), args)
