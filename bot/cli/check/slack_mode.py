"""`incident-bot check`: which way Slack reaches the bot, and whether that way works.

HTTP mode needs nothing from Slack to check here (Slack calls us; the signing secret is
checked with the settings). Socket Mode needs the app-level token to open a socket:
`apps.connections.open` is asked for a URL, which proves the token and its
`connections:write` scope without connecting (the URL is simply never used).
"""

from __future__ import annotations

import asyncio

import aiohttp
from slack_sdk.errors import SlackApiError

from bot.cli.check.results import CheckResult, mask_url, ok, problem, reason
from bot.settings import Settings
from integrations.slack import make_client

CHECK = "slack: mode"
_APP_LEVEL_FIX = (
    "SLACK_APP_TOKEN is wrong or revoked: create an app-level token with connections:write "
    "(Basic Information > App-Level Tokens, xapp-...) and enable Socket Mode"
)


async def check_slack_mode(settings: Settings, *, timeout: float) -> list[CheckResult]:
    token = settings.slack_app_token
    if token is None:
        return [ok(CHECK, "HTTP: Slack POSTs to /slack/events (SLACK_APP_TOKEN not set)")]
    api = mask_url(settings.slack_api_url)
    client = make_client(token.get_secret_value(), settings.slack_api_url)
    client.timeout = max(1, int(timeout))
    client.retry_handlers = []  # one honest try: the answer is the report
    try:
        async with asyncio.timeout(timeout):
            await client.apps_connections_open(app_token=token.get_secret_value())
    except SlackApiError as e:
        error = str(e.response.get("error", "")) if e.response is not None else ""
        if error == "not_allowed_token_type":
            fix = "SLACK_APP_TOKEN must be the app-level token (xapp-...), not a bot token"
        elif error in ("invalid_auth", "not_authed", "token_revoked", "missing_scope"):
            fix = _APP_LEVEL_FIX
        else:
            fix = f"Slack at {api} refused it; check SLACK_API_URL and Slack's status"
        detail = f"Socket Mode: apps.connections.open failed: {error or 'no answer'}"
        return [problem(CHECK, detail, fix)]
    except (aiohttp.ClientError, TimeoutError, OSError) as e:
        return [
            problem(
                CHECK,
                f"Socket Mode: Slack API at {api} unreachable: {reason(e)}",
                "check SLACK_API_URL, the network and any proxy between the bot and Slack",
            )
        ]
    return [ok(CHECK, "Socket Mode: the app token opens a socket (apps.connections.open)")]
