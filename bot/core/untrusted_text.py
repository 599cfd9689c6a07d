"""Strings from outside, made storable and showable without losing what they say.

Alertmanager passes label values through as Prometheus got them, so a payload can
carry lone surrogates (`"\\ud800"`, which UTF-8 cannot encode), NUL (which
PostgreSQL text refuses) or other control characters. Content is never a reason
to lose an alert: such characters become U+FFFD when a delivery is processed.

A group key is an identity, not text to show: replacing characters would merge
two groups, so it is stored in a form that round-trips any string instead.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

REPLACEMENT = "\ufffd"
# C0 controls except tab, newline and carriage return; DEL; C1 controls; lone surrogates
# (json.loads joins valid pairs, so any surrogate left in a str is a lone one).
_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
# The JSON escapes of those characters (an escaped backslash before "u" may match too:
# that only costs a walk).
_UNSAFE_ESCAPE = re.compile(r"\\u(?:00[01][0-9a-f]|007f|00[89][0-9a-f]|d[89a-f][0-9a-f]{2})", re.I)
_ESCAPED_PREFIX = "json:"
_HASHED_PREFIX = "sha256:"
# PostgreSQL refuses btree index rows over ~2,700 bytes; group keys are indexed.
MAX_KEY_BYTES = 1000
MAX_DEPTH = 32


class TooDeep(ValueError):
    """A JSON document nested deeper than any Alertmanager payload ever is."""


def clean_text(value: str) -> str:
    """`value` with every character that cannot be stored or shown replaced by U+FFFD."""
    return _UNSAFE.sub(REPLACEMENT, value)


def may_need_cleaning(json_text: str) -> bool:
    """False when decoded JSON of this text cannot hold an unsafe character: those come
    only from their `\\u` escapes or raw DEL/C1 (JSON refuses raw C0 in strings). The
    common case, Go's `\\u003e` included, skips the walk of `clean_tree`."""
    if json_text.isascii():
        # Known without a scan (a str knows whether it is ASCII): no C1 or surrogate can
        # stand raw, the JSON parser refuses raw C0 characters, so of the unsafe ones only
        # DEL may, and an escape needs a backslash-u. Most bodies are answered here.
        return "\x7f" in json_text or (
            "\\u" in json_text and _UNSAFE_ESCAPE.search(json_text) is not None
        )
    return _UNSAFE_ESCAPE.search(json_text) is not None or _UNSAFE.search(json_text) is not None


def clean_tree(value: Any, *, depth: int = 0) -> Any:
    """`clean_text` applied to every string (keys too) of decoded JSON.

    The depth limit turns a hostile document into a clear error here rather
    than a RecursionError somewhere later.
    """
    if depth > MAX_DEPTH:
        raise TooDeep(f"JSON nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {clean_text(str(k)): clean_tree(v, depth=depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [clean_tree(v, depth=depth + 1) for v in value]
    return value


def storable_key(key: str) -> str:
    """A form of `key` that any database stores and indexes, distinct for distinct keys.

    Ordinary keys are kept as they are, so stored rows stay readable. A key with a
    character the database refuses (or that merely looks like an escaped one) is
    JSON-escaped behind a prefix, which `key_from_storable` undoes; a key too long
    to index is replaced by its SHA-256.
    """
    stored = key
    if _UNSAFE.search(key) or key.startswith((_ESCAPED_PREFIX, _HASHED_PREFIX)):
        stored = _ESCAPED_PREFIX + json.dumps(key)
    if len(stored.encode()) > MAX_KEY_BYTES:
        digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
        return _HASHED_PREFIX + digest
    return stored


def key_from_storable(stored: str) -> str:
    """The original key of an escaped one (a hashed key stays its hash)."""
    if stored.startswith(_ESCAPED_PREFIX):
        original = json.loads(stored.removeprefix(_ESCAPED_PREFIX))
        if isinstance(original, str):
            return original
    return stored
