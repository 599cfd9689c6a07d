"""Requests into the bot exactly as Slack sends them: signed (v0 HMAC-SHA256), shaped alike.

Used by the tests and by `incident-bot demo`, which both play Slack's part.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import time
import uuid
from typing import Any
from urllib.parse import urlencode

import aiohttp

from standins.fake_slack import FakeSlack
from standins.fake_slack_blocks import ack_refusal, describe


def signed_headers(
    secret: str, body: str, *, timestamp: int | None = None, content_type: str = "application/json"
) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    base = f"v0:{ts}:{body}".encode()
    digest = hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": f"v0={digest}",
        "Content-Type": content_type,
    }


def event_payload(
    event: dict[str, Any], *, event_id: str = "Ev0001", team_id: str = "T0TEST"
) -> dict[str, Any]:
    return {
        "type": "event_callback",
        "team_id": team_id,
        "event_id": event_id,
        "event": event,
        "event_time": int(time.time()),
        "api_app_id": "A0TEST",
    }


def event_body(event: dict[str, Any], *, event_id: str = "Ev0001", team_id: str = "T0TEST") -> str:
    return json.dumps(event_payload(event, event_id=event_id, team_id=team_id))


NO_RESPONSE_URL = "http://127.0.0.1:9/response"  # nothing listens on port 9


def command_payload(
    command: str,
    text: str,
    *,
    user_id: str = "U0ONCALL1",
    channel_id: str = "C0GENERAL",
    response_url: str = NO_RESPONSE_URL,
) -> dict[str, str]:
    """A slash command's fields, as Slack sends them (form-encoded over HTTP, JSON in a socket)."""
    return {
        "command": command,
        "text": text,
        "user_id": user_id,
        "user_name": user_id.lower(),
        "channel_id": channel_id,
        "team_id": "T0TEST",
        "response_url": response_url,
        "trigger_id": f"t{uuid.uuid4().hex}",
    }


def command_body(
    command: str,
    text: str,
    *,
    user_id: str = "U0ONCALL1",
    channel_id: str = "C0GENERAL",
    response_url: str = NO_RESPONSE_URL,
) -> str:
    payload = command_payload(
        command, text, user_id=user_id, channel_id=channel_id, response_url=response_url
    )
    return urlencode(payload)


class AckRefused(AssertionError):
    """The bot acknowledged with a body Slack would refuse to show (and the user sees an error)."""


def check_ack(what: str, body: Any) -> None:
    refusal = ack_refusal(body)
    if refusal is not None:
        raise AckRefused(f"{what}: Slack would refuse this ack body: {describe(refusal)}")


def interaction_body(payload: dict[str, Any]) -> str:
    return urlencode({"payload": json.dumps(payload)})


def button_payload(action_id: str, value: str, *, user_id: str, channel_id: str) -> dict[str, Any]:
    return {
        "type": "block_actions",
        "team": {"id": "T0TEST"},
        "user": {"id": user_id, "username": user_id.lower(), "name": user_id.lower()},
        "api_app_id": "A0TEST",
        "token": "x",
        "trigger_id": "4.5.6",
        "channel": {"id": channel_id},
        "container": {"type": "message", "channel_id": channel_id},
        "actions": [
            {
                "type": "button",
                "action_id": action_id,
                "value": value,
                "block_id": "b",
                "action_ts": str(time.time()),
            }
        ],
    }


def button_click(action_id: str, value: str, *, user_id: str, channel_id: str) -> str:
    payload = button_payload(action_id, value, user_id=user_id, channel_id=channel_id)
    return interaction_body(payload)


FORM = "application/x-www-form-urlencoded"


class SlackRequests:
    """Plays Slack towards a running bot: slash commands, button clicks, events."""

    def __init__(
        self, bot_url: str, signing_secret: str, *, response_urls: FakeSlack | None = None
    ) -> None:
        self.url = bot_url.rstrip("/") + "/slack/events"
        self.secret = signing_secret
        self.response_urls = response_urls  # where a late answer to a command lands

    async def post(self, body: str, content_type: str) -> tuple[int, dict[str, Any]]:
        headers = signed_headers(self.secret, body, content_type=content_type)
        async with (
            aiohttp.ClientSession() as session,
            session.post(self.url, data=io.BytesIO(body.encode()), headers=headers) as response,
        ):
            text = await response.text()
            return response.status, (json.loads(text) if text.startswith("{") else {"text": text})

    async def slash(self, command: str, text: str, *, channel: str, user: str) -> str:
        """Runs a slash command; returns the ephemeral text of the ack ("" when none)."""
        url = self.response_urls.response_url(channel, user) if self.response_urls else None
        body = command_body(
            command, text, user_id=user, channel_id=channel, response_url=url or NO_RESPONSE_URL
        )
        status, answer = await self.post(body, FORM)
        if status != 200:
            raise RuntimeError(f"{command} {text!r}: HTTP {status} {answer}")
        check_ack(f"{command} {text[:80]!r}", answer)
        return str(answer.get("text", ""))

    async def click(self, action_id: str, value: str, *, channel: str, user: str) -> None:
        status, answer = await self.post(
            button_click(action_id, value, user_id=user, channel_id=channel), FORM
        )
        if status != 200:
            raise RuntimeError(f"click {action_id}: HTTP {status} {answer}")

    async def event(self, payload: dict[str, Any], *, event_id: str | None = None) -> str:
        """Posts the event; returns its id (Slack retries an event with the same id)."""
        event_id = event_id or f"Ev{uuid.uuid4().hex[:12].upper()}"
        body = event_body(payload, event_id=event_id)
        status, answer = await self.post(body, "application/json")
        if status != 200:
            raise RuntimeError(f"event {payload.get('type')}: HTTP {status} {answer}")
        return event_id


class SocketRequests:
    """Plays Slack towards a bot in Socket Mode: the same envelopes, over the fake's socket.

    Same methods as `SlackRequests`, so one test runs in both modes.
    """

    def __init__(self, fake: FakeSlack, *, timeout: float = 10.0) -> None:
        self.fake = fake
        self.timeout = timeout

    async def slash(self, command: str, text: str, *, channel: str, user: str) -> str:
        url = self.fake.response_url(channel, user)
        payload = command_payload(command, text, user_id=user, channel_id=channel, response_url=url)
        envelope = await self.fake.deliver("slash_commands", payload, accepts_response_payload=True)
        ack = await self.fake.wait_for_ack(envelope, timeout=self.timeout)
        check_ack(f"{command} {text[:80]!r}", ack.payload)
        return str((ack.payload or {}).get("text", ""))

    async def click(self, action_id: str, value: str, *, channel: str, user: str) -> None:
        payload = button_payload(action_id, value, user_id=user, channel_id=channel)
        envelope = await self.fake.deliver("interactive", payload)
        await self.fake.wait_for_ack(envelope, timeout=self.timeout)

    async def resend(self, envelope_id: str) -> dict[str, Any] | None:
        """The same envelope again, as Slack sends it when unsure; returns the new ack's payload."""
        before = len([a for a in self.fake.socket.acks if a.envelope_id == envelope_id])
        await self.fake.resend(envelope_id)
        ack = await self.fake.wait_for_ack(envelope_id, count=before + 1, timeout=self.timeout)
        return ack.payload

    async def event(self, payload: dict[str, Any], *, event_id: str | None = None) -> str:
        """Delivers the event; returns its envelope id (to send it again, as Slack may)."""
        body = event_payload(payload, event_id=event_id or f"Ev{uuid.uuid4().hex[:12].upper()}")
        envelope = await self.fake.deliver("events_api", body)
        await self.fake.wait_for_ack(envelope, timeout=self.timeout)
        return envelope
