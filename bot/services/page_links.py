"""Signed links to incident pages, built on PUBLIC_URL, for Slack messages.

No links while either PUBLIC_URL (where browsers reach the bot) or WEB_SECRET
(which signs them) is unset: the pages are off, or nobody could open a link.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import SecretStr

from bot.clock import Clock
from bot.core.alerts import format_timestamp
from bot.core.web_tokens import LINK_TTL, sign_link


@dataclass(frozen=True)
class PageLinks:
    public_url: str | None
    secret: SecretStr | None
    clock: Clock

    @property
    def enabled(self) -> bool:
        return bool(self.public_url) and self.secret is not None

    def incident_url(self, incident_id: int) -> str | None:
        if not self.enabled:
            return None
        assert self.public_url is not None
        assert self.secret is not None
        token = sign_link(self.secret.get_secret_value(), incident_id, self.clock(), LINK_TTL)
        return f"{self.public_url.rstrip('/')}/incidents/{incident_id}?t={token.token}"

    def slack_line(self, incident_id: int, ref: str) -> str | None:
        """`<url|INC-7 incident page> (read-only link, valid until ...)`, Slack mrkdwn."""
        url = self.incident_url(incident_id)
        if url is None:
            return None
        until = format_timestamp(self.clock() + LINK_TTL).split(".")[0] + "Z"
        return (
            f":globe_with_meridians: <{url}|{ref} incident page> "
            f"(timeline, live; read-only link, valid until {until})"
        )
