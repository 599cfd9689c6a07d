"""People by name in documents read outside Slack: pure helpers, no I/O.

Slack renders `<@U0DANA>` as the person's name; a Markdown file, a CSV or a printed
post-mortem does not. The shell looks the names up (`bot.services.people`); these functions
put them into the text as Slack's own labelled mention, `<@U0DANA|dana>`, which
keeps the id (for the JSON export and for Slack) and reads as `@dana` once a
renderer makes Slack markup plain.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping
from typing import Any

USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
_MENTION = re.compile(r"<@(?P<id>[UW][A-Z0-9]{2,})(?:\|[^>]*)?>")


def mentioned_ids(texts: Iterable[str | None]) -> set[str]:
    """The user ids mentioned (`<@U123>`, `<@U123|old label>`) in `texts`."""
    return {m["id"] for text in texts if text for m in _MENTION.finditer(text)}


def label_mentions(text: str, names: Mapping[str, str]) -> str:
    """Each mention of a known person labelled with their name: `<@U1>` -> `<@U1|dana>`."""
    if not names or "<@" not in text:
        return text

    def label(match: re.Match[str]) -> str:
        name = names.get(match["id"])
        return f"<@{match['id']}|{_safe_label(name)}>" if name else match[0]

    return _MENTION.sub(label, text)


def _safe_label(name: str) -> str:
    # A label ends at `>` and may not hold `|`: keep the mention one piece of markup.
    return name.replace(">", "").replace("<", "").replace("|", "")


def with_names(value: Any, names: Mapping[str, str]) -> Any:
    """`value` with every mention inside it labelled: strings, and recursively the
    fields of frozen dataclasses, named tuples, mappings and lists of them."""
    if not names:
        return value
    if isinstance(value, str):
        return label_mentions(value, names)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {
            f.name: with_names(getattr(value, f.name), names)
            for f in dataclasses.fields(value)
            if f.init
        }
        return dataclasses.replace(value, **changes)
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # a NamedTuple
        return type(value)(*(with_names(v, names) for v in value))
    if isinstance(value, Mapping):
        return {k: with_names(v, names) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(with_names(v, names) for v in value)
    return value
