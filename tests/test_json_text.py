"""json_text: what `json.dumps(ensure_ascii=False)` writes, with times and mappings made JSON."""

from __future__ import annotations

import json
import math
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime
from types import MappingProxyType
from typing import Any

import pytest

from bot.core.json_text import json_text

PLAIN: list[Any] = [
    {"i": 1, "service": "payments"},
    {"text": 'ünïcode ✓ "quoted" \\ back\nline\ttab\x00\x7f', "emoji": "🔥"},
    {"nested": {"list": [1, 2.5, None, True, False, [], {}], "big": 10**40}},
    {"floats": [0.1, 1e-07, 1e300, -0.0, math.inf, -math.inf]},
    [1, "two", {"3": [4]}],
    "a string \u2028 with a line separator",
    42,
    None,
    True,
    {},
]


@pytest.mark.parametrize("value", PLAIN)
def test_plain_values_are_written_as_json_dumps_writes_them(value: Any) -> None:
    assert json_text(value) == json.dumps(value, ensure_ascii=False)


def test_nan_is_written_as_json_dumps_writes_it() -> None:
    assert json_text({"x": math.nan}) == '{"x": NaN}'


def test_times_dates_and_read_only_mappings_are_made_json() -> None:
    value = {
        "at": datetime(2024, 6, 15, 14, 32, 5, 123456, tzinfo=UTC),
        "day": date(2024, 6, 15),
        "labels": MappingProxyType({"a": "b"}),
    }
    assert json.loads(json_text(value)) == {
        "at": "2024-06-15T14:32:05.123Z",
        "day": "2024-06-15",
        "labels": {"a": "b"},
    }


def test_anything_else_is_refused_with_its_type() -> None:
    with pytest.raises(TypeError, match="set is not JSON serialisable"):
        json_text({"x": {1, 2}})


def test_one_value_written_by_many_threads_at_once() -> None:
    # The export threads share the encoder: one of them must never take another's value
    # for a circular reference.
    shared = {"labels": {f"k{i}": list(range(50)) for i in range(50)}}
    expected = json.dumps(shared, ensure_ascii=False)
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: json_text(shared), range(200)))
    assert set(results) == {expected}
