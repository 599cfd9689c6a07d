"""Who is reading an incident page, and what they may do. Pure.

Two ways in:

- **a signed-in person**: an auth proxy in front of the bot (oauth2-proxy, an
  ingress with auth) sets `WEB_AUTH_USER_HEADER` (for example
  `X-Auth-Request-Email`). The header is believed only when the request's
  direct peer is one of `WEB_TRUSTED_PROXIES` (CIDRs); from anywhere else anyone
  could type it. A signed-in person reads every incident and may curate.
- **a signed link** (`?t=<token>`, `bot.core.web_tokens`): reads that one
  incident, nothing else, and may not curate.

Anything else is refused with the reason the refusal page shows.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from bot.core.web_tokens import TokenCheck

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class Refusal(StrEnum):
    NO_CREDENTIALS = "no_credentials"
    EXPIRED = "expired"
    TAMPERED = "tampered"
    OTHER_INCIDENT = "other_incident"
    NEEDS_PERSON = "needs_person"  # a link reads one incident; lists and writes need a person


REFUSAL_TEXT = {
    Refusal.NO_CREDENTIALS: "This page needs a signed link from the incident's Slack channel "
    "(/incident timeline posts a fresh one) or a sign-in through your company's proxy.",
    Refusal.EXPIRED: "This link has expired. Run /incident timeline in the incident's Slack "
    "channel for a fresh one.",
    Refusal.TAMPERED: "This link is not valid: it was changed or cut short. Copy it again "
    "from Slack, or run /incident timeline for a fresh one.",
    Refusal.OTHER_INCIDENT: "This link is for another incident. Each link opens only the "
    "incident it was posted for.",
    Refusal.NEEDS_PERSON: "This needs a signed-in person: a link reads one incident's page "
    "only. Sign in through your company's proxy.",
}


@dataclass(frozen=True)
class Viewer:
    person: str | None  # the signed-in person (e-mail or name from the proxy), or None: a link

    @property
    def can_curate(self) -> bool:
        return self.person is not None


def parse_networks(text: str | Iterable[str] | None) -> list[Network]:
    """`10.0.0.0/8, 192.168.1.7` -> networks; a bad entry raises ValueError naming it."""
    if text is None:
        return []
    items = text.split(",") if isinstance(text, str) else list(text)
    networks: list[Network] = []
    for item in (i.strip() for i in items):
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ValueError(f"{item!r} is not an IP address or CIDR") from None
    return networks


def peer_trusted(peer: str | None, networks: Sequence[Network]) -> bool:
    if not peer or not networks:
        return False
    try:
        address = ipaddress.ip_address(peer.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in networks)


def signed_in_person(
    peer: str | None, networks: Sequence[Network], header_value: str | None
) -> str | None:
    """The proxy's person, when the header came from a trusted proxy and says someone."""
    if header_value is None or not peer_trusted(peer, networks):
        return None
    person = header_value.strip()
    return person[:200] or None


def decide(person: str | None, link: TokenCheck | None, *, needs_person: bool) -> Viewer | Refusal:
    """The viewer, or why not. `link` is the check of `?t=` for this incident (None: none)."""
    if person is not None:
        return Viewer(person)
    if link is None:
        return Refusal.NEEDS_PERSON if needs_person else Refusal.NO_CREDENTIALS
    if link is TokenCheck.VALID:
        return Refusal.NEEDS_PERSON if needs_person else Viewer(None)
    return {
        TokenCheck.EXPIRED: Refusal.EXPIRED,
        TokenCheck.TAMPERED: Refusal.TAMPERED,
        TokenCheck.OTHER_INCIDENT: Refusal.OTHER_INCIDENT,
    }[link]
