"""The Bolt AsyncApp: signature checks, and the listeners the commands register."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient


def make_bolt_app(*, client: AsyncWebClient, signing_secret: str | None) -> AsyncApp:
    # Socket Mode has no signatures to check; HTTP mode always checks them (and their age).
    if signing_secret is not None and not signing_secret.strip():
        raise ValueError("an empty signing secret would accept requests signed with it")
    return AsyncApp(
        client=client,
        signing_secret=signing_secret or "",
        request_verification_enabled=signing_secret is not None,
        process_before_response=False,
    )
