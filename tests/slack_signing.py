"""Sign requests into the bot exactly as Slack signs them (v0 HMAC-SHA256)."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any
from urllib.parse import urlencode


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


def event_body(event: dict[str, Any], *, event_id: str = "Ev0001", team_id: str = "T0TEST") -> str:
    return json.dumps(
        {"type": "event_callback", "team_id": team_id, "event_id": event_id, "event": event,
         "event_time": int(time.time()), "api_app_id": "A0TEST"}
    )  # fmt: skip


def command_body(
    command: str, text: str, *, user_id: str = "U0ONCALL1", channel_id: str = "C0GENERAL"
) -> str:
    return urlencode(
        {"command": command, "text": text, "user_id": user_id, "channel_id": channel_id,
         "team_id": "T0TEST", "response_url": "http://127.0.0.1:9/response" }
    )  # fmt: skip


def interaction_body(payload: dict[str, Any]) -> str:
    return urlencode({"payload": json.dumps(payload)})


def button_click(action_id: str, value: str, *, user_id: str, channel_id: str) -> str:
    return interaction_body(
        {"type": "block_actions", "team": {"id": "T0TEST"}, "user": {"id": user_id},
         "api_app_id": "A0TEST", "token": "x", "trigger_id": "4.5.6",
         "channel": {"id": channel_id}, "container": {"type": "message", "channel_id": channel_id},
         "actions": [{"type": "button", "action_id": action_id, "value": value,
                      "block_id": "b", "action_ts": str(time.time())}]}
    )  # fmt: skip
