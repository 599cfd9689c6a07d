"""Signed, expiring tokens for the incident pages: read links and CSRF tokens. Pure.

A **read link** lets whoever holds it read one incident's page until it
expires. Its token is `<incident id>.<expiry, unix seconds>.<signature>`, the
signature an HMAC-SHA256 (key `WEB_SECRET`) over a purpose label, the incident
and the expiry, base64url without padding. The incident is inside the token, so
a link to INC-7 opens nothing else; the expiry is inside the signature, so it
cannot be stretched. Comparison is constant-time.

A **CSRF token** binds a write (curation) to the signed-in person and the
incident: the same construction with another purpose label and the person in
the signed message. A page renders it into its forms; a write without it, with
one for somebody else, another incident, or an expired one is refused.

`now` is passed in; nothing here reads a clock.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

LINK_TTL = timedelta(days=7)
CSRF_TTL = timedelta(hours=12)
MIN_SECRET_LENGTH = 32
_LINK = "incident-page-link"
_CSRF = "incident-page-csrf"


class TokenCheck(StrEnum):
    VALID = "valid"
    EXPIRED = "expired"
    TAMPERED = "tampered"  # malformed, or the signature does not match
    OTHER_INCIDENT = "other_incident"  # genuine, but for another incident


@dataclass(frozen=True)
class LinkToken:
    incident_id: int
    expires_at: datetime
    token: str


def _signature(secret: str, *parts: str) -> str:
    message = "\x1f".join(parts).encode("utf-8")
    digest = hmac.new(secret.encode("utf-8"), message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _epoch(value: datetime) -> int:
    return int(value.astimezone(UTC).timestamp())


def sign_link(secret: str, incident_id: int, now: datetime, ttl: timedelta = LINK_TTL) -> LinkToken:
    expires = _epoch(now + ttl)
    signature = _signature(secret, _LINK, str(incident_id), str(expires))
    return LinkToken(
        incident_id, datetime.fromtimestamp(expires, UTC), f"{incident_id}.{expires}.{signature}"
    )


def check_link(secret: str, token: str, incident_id: int, now: datetime) -> TokenCheck:
    """What a link's token says about reading `incident_id` at `now`.

    The signature is checked before anything the token claims is believed, so a
    forged expiry or incident reads as tampered, never as expired.
    """
    parts = token.strip().split(".")
    if len(parts) != 3 or not parts[0].isdigit() or not parts[1].isdigit():
        return TokenCheck.TAMPERED
    claimed, expires, signature = parts
    expected = _signature(secret, _LINK, claimed, expires)
    if not hmac.compare_digest(signature.encode("ascii", "replace"), expected.encode("ascii")):
        return TokenCheck.TAMPERED
    if int(claimed) != incident_id:
        return TokenCheck.OTHER_INCIDENT
    if int(expires) <= _epoch(now):
        return TokenCheck.EXPIRED
    return TokenCheck.VALID


def sign_csrf(
    secret: str, person: str, incident_id: int, now: datetime, ttl: timedelta = CSRF_TTL
) -> str:
    expires = _epoch(now + ttl)
    return f"{expires}.{_signature(secret, _CSRF, person, str(incident_id), str(expires))}"


def check_csrf(secret: str, token: str, person: str, incident_id: int, now: datetime) -> bool:
    expires, _, signature = token.strip().partition(".")
    if not expires.isdigit():
        return False
    expected = _signature(secret, _CSRF, person, str(incident_id), expires)
    same = hmac.compare_digest(signature.encode("ascii", "replace"), expected.encode("ascii"))
    return same and int(expires) > _epoch(now)


def secret_problem(secret: str | None) -> str | None:
    """Why a `WEB_SECRET` cannot sign links (None: it can, or it is unset: pages off)."""
    if secret is None:
        return None
    if not secret.strip():
        return "WEB_SECRET is blank; unset it (pages off) or set a random value"
    if len(secret) < MIN_SECRET_LENGTH:
        return f"WEB_SECRET is {len(secret)} characters; use at least {MIN_SECRET_LENGTH}"
    return None
