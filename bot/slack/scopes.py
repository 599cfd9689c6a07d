"""Which Slack scopes the bot needs: the one table of Web API method -> bot scope.

`REQUIRED_BOT_SCOPES` says which Slack Web API method needs which bot scope and
`REQUIRED_EVENT_SCOPES` which Events API subscription needs which. `incident-bot check`
(`bot.cli.check.checks`) compares the token's scopes with `BOT_SCOPES`, and
`tests/test_slack_manifest.py` proves that `BOT_SCOPES` and the scopes in
`slack-app-manifest.yaml` are exactly those of the methods the code calls and the events
it subscribes to. `bot.cli.check.checks` re-exports all four names.
"""

from __future__ import annotations

from collections.abc import Mapping

# Web API method -> the bot token scopes it needs (empty: none). Incident channels are
# public (conversations.create without is_private), so channel management is
# `channels:manage` only; `groups:write` would be needed to manage private channels.
# History is read in public and private channels alike (a team may convert an incident
# channel to private), matching the message.channels + message.groups subscriptions.
# Methods not called yet are listed so that the next one used needs no lookup; the
# manifest asks only for the scopes of the methods the code really calls.
REQUIRED_BOT_SCOPES: Mapping[str, tuple[str, ...]] = {
    "auth.test": (),
    "chat.postMessage": ("chat:write",),
    "chat.postEphemeral": ("chat:write",),
    "chat.update": ("chat:write",),
    "chat.delete": ("chat:write",),
    "chat.getPermalink": (),
    "conversations.create": ("channels:manage",),
    "conversations.setTopic": ("channels:manage",),
    "conversations.setPurpose": ("channels:manage",),
    "conversations.invite": ("channels:manage",),
    "conversations.archive": ("channels:manage",),
    "conversations.unarchive": ("channels:manage",),
    "conversations.rename": ("channels:manage",),
    "conversations.join": ("channels:join",),
    "conversations.info": ("channels:read",),
    "conversations.members": ("channels:read",),
    "conversations.list": ("channels:read",),
    "conversations.history": ("channels:history", "groups:history"),
    "conversations.replies": ("channels:history", "groups:history"),
    "conversations.open": ("im:write",),
    "usergroups.list": ("usergroups:read",),
    "usergroups.users.list": ("usergroups:read",),
    "users.info": ("users:read",),
    "users.list": ("users:read",),
    "users.lookupByEmail": ("users:read.email",),
    "pins.add": ("pins:write",),
    "pins.remove": ("pins:write",),
    "pins.list": ("pins:read",),
    "reactions.add": ("reactions:write",),
    "reactions.remove": ("reactions:write",),
    "reactions.get": ("reactions:read",),
    "reactions.list": ("reactions:read",),
    "files.getUploadURLExternal": ("files:write",),
    "files.completeUploadExternal": ("files:write",),
    "files.info": ("files:read",),
    # Not a Web API method: fetching a file's url_private with the bot token
    # (`SlackGateway.download`, the images of pinned messages kept for the incident page).
    "files.download": ("files:read",),
    "bookmarks.add": ("bookmarks:write",),
    "bookmarks.list": ("bookmarks:read",),
    "views.open": (),
    "views.update": (),
    "views.push": (),
    "views.publish": (),
    # Socket Mode: called with the app-level token, whose scope (connections:write) is not a
    # bot scope; the manifest cannot grant it, Basic Information > App-Level Tokens does.
    "apps.connections.open": (),
}

# Events API subscriptions (slack-app-manifest.yaml, settings.event_subscriptions.bot_events)
# -> the scope Slack requires for each.
REQUIRED_EVENT_SCOPES: Mapping[str, str] = {
    "pin_added": "pins:read",
    "pin_removed": "pins:read",
    "reaction_added": "reactions:read",
    "reaction_removed": "reactions:read",
    "message.channels": "channels:history",
    "message.groups": "groups:history",
    "app_mention": "app_mentions:read",
    "member_joined_channel": "channels:read",
}

# Slash commands and shortcuts need `commands`, which no Web API method asks for.
COMMANDS_SCOPE = "commands"

# What the bot asks for: exactly oauth_config.scopes.bot of slack-app-manifest.yaml
# (tests/test_slack_manifest.py keeps the two equal, and both equal to what the code uses).
BOT_SCOPES: tuple[str, ...] = (
    "channels:history",
    "channels:manage",
    "channels:read",
    "chat:write",
    "commands",
    "files:read",
    "files:write",
    "groups:history",
    "pins:read",
    "pins:write",
    "reactions:read",
    "usergroups:read",
    "users:read",
    "users:read.email",
)
