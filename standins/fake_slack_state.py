"""Workspace state and Web API method semantics of the fake Slack.

Transport lives in `fake_slack.py`; this module only turns decoded arguments
into Slack-shaped answers, so the rules can be read without the HTTP plumbing.
Handlers are deliberately as strict as Slack: a fake that accepts what Slack
rejects would let the bot's bugs through to production.
"""

from __future__ import annotations

from standins.fake_slack_conversations import ConversationMethods
from standins.fake_slack_files import FileAndViewMethods
from standins.fake_slack_messages import MessageMethods
from standins.fake_slack_objects import (
    Args,
    FakeChannel,
    FakeFile,
    FakeMessage,
    Handler,
    SlackError,
    flag,
    opt_str,
)

# The objects are importable from here too, beside the workspace that holds them.
__all__ = [
    "Args",
    "FakeChannel",
    "FakeFile",
    "FakeMessage",
    "FakeWorkspace",
    "SlackError",
    "flag",
    "opt_str",
]


class FakeWorkspace(ConversationMethods, MessageMethods, FileAndViewMethods):
    """One Slack workspace as seen through a single bot token: its state and the Web API
    methods by name (`handlers`), one module per family of methods."""

    def __init__(self, *, bot_token: str, team_id: str, bot_user_id: str) -> None:
        super().__init__(bot_token=bot_token, team_id=team_id, bot_user_id=bot_user_id)
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
