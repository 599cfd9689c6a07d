"""Secrets out of text the bot shows: log lines in /status, errors in Slack and in logs.

Two rules: a value after a key that names a secret (`password=`, `"client_secret": "..."`,
`Authorization: Bearer ...`) is masked, and so is anything shaped like a known token
(Slack `xox.-`, AWS `AKIA...`, GitHub `ghp_...`, JWTs, private keys); the password in
a URL's userinfo (`redis://:pw@host`, `https://user:pw@prometheus`) is masked too.
`strip_url_credentials` removes the whole userinfo, for URLs in error messages.
"""

from __future__ import annotations

import re

MASK = "****"
# A key that names a secret: any word containing one of these (DB_PASSWORD, access_token,
# client_secret, secret_key, x-api-key, aws_secret_access_key, credentials, authorization).
_KEY = r"[\w.-]*(?:password|passwd|pwd|secret|token|key|credential|auth)[\w.-]*"
# key = value, key: value, "key": "value", key="value", key 'value' ...
_KEY_VALUE = re.compile(
    rf"""(?ix)
    (?P<key>["']?\b{_KEY}["']?)          # the key, maybe quoted
    (?P<sep>\s*[:=]\s*|\s+(?=["']))      # = or : (or a space before a quoted value)
    (?:(?P<scheme>bearer|basic|token|digest)\s+)?  # Authorization: Bearer xyz
    (?P<value>"[^"]*"|'[^']*'|[^\s,;&"'}}\])]+)
    """
)
_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)([^/\s:@]*)(:[^/\s@]*)?@")
_AUTH_SCHEME = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}")
_TOKEN_SHAPES = re.compile(
    r"""(?x)
    \bxox[abposre]-[A-Za-z0-9-]{6,}            # Slack bot, user, app-config tokens
    | \bxapp-[A-Za-z0-9-]{6,}                  # Slack app-level tokens
    | \b(?:AKIA|ASIA)[A-Z0-9]{16}\b            # AWS access key ids
    | \bgh[pousr]_[A-Za-z0-9]{30,}             # GitHub tokens
    | \bgithub_pat_[A-Za-z0-9_]{40,}
    | \beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}  # JWTs
    | \bsk-[A-Za-z0-9]{20,}                    # OpenAI-style keys
    | \bglpat-[A-Za-z0-9_-]{20,}               # GitLab tokens
    | -----BEGIN[A-Z ]*PRIVATE\ KEY-----.*?(?:-----END[A-Z ]*PRIVATE\ KEY-----|$)
    """,
    re.DOTALL,
)


def mask_secrets(text: str) -> str:
    """`text` with every secret-looking value replaced by `****`."""
    text = _URL_USERINFO.sub(_mask_userinfo, text)
    text = _TOKEN_SHAPES.sub(MASK, text)
    text = _AUTH_SCHEME.sub(lambda m: f"{m.group(1)} {MASK}", text)
    return _KEY_VALUE.sub(_mask_value, text)


def redact(text: str) -> str:
    """An error message fit to show: URLs without their credentials, secrets masked."""
    return mask_secrets(strip_url_credentials(text))


def strip_url_credentials(text: str) -> str:
    """Every URL in `text` without its `user:password@` (errors name a server, not a login)."""
    return _URL_USERINFO.sub(lambda m: m.group(1), text)


def _mask_userinfo(match: re.Match[str]) -> str:
    scheme, user, password = match.group(1), match.group(2), match.group(3)
    if password is None:
        return match.group(0)  # `ssh://git@host`: a user name, no secret
    return f"{scheme}{user}:{MASK}@"


def _mask_value(match: re.Match[str]) -> str:
    value = match["value"]
    if value == MASK or value.strip("\"'") in ("", MASK):
        return match.group(0)
    quote = value[0] if value[0] in "\"'" else ""
    scheme = f"{match['scheme']} " if match["scheme"] else ""
    return f"{match['key']}{match['sep']}{scheme}{quote}{MASK}{quote}"
