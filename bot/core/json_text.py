"""`json_text`: the JSON the exports write for a value (details, an incident's fields)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime
from json.encoder import encode_basestring
from typing import Any

from bot.core.alerts import format_timestamp


def _json_default(value: Any) -> Any:
    # Details come from a JSON column, but a caller may hand in times or read-only mappings.
    if isinstance(value, datetime):
        return format_timestamp(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


_ENCODER = json.JSONEncoder(ensure_ascii=False, default=_json_default, check_circular=False)
# `JSONEncoder.encode` makes a new C encoder for each value it writes; a 50,000-event export
# writes 50,000 details. This is that C encoder, made once, with the arguments
# `JSONEncoder.iterencode` gives it (None where the interpreter has none: `encode` then).
# No circular check: the values are decoded JSON and plain fields, never circular, and a
# check shared between the export threads would see another thread's value as a cycle.
_c_make_encoder: Callable[..., Callable[[Any, int], Iterable[str]]] | None = getattr(
    json.encoder, "c_make_encoder", None
)
_ENCODE = (
    _c_make_encoder(None, _json_default, encode_basestring, None, ": ", ", ", False, False, True)
    if _c_make_encoder is not None
    else None
)


def json_text(value: Any) -> str:
    """`json.dumps(value, ensure_ascii=False, default=_json_default)`."""
    if _ENCODE is None or isinstance(value, str):
        return _ENCODER.encode(value)
    return "".join(_ENCODE(value, 0))
