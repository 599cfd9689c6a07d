"""Block Kit pieces stay within Slack's limits and say where the rest is."""

from __future__ import annotations

import pytest

from bot.core.block_kit import (
    FIELD_TEXT,
    HEADER_TEXT,
    SECTION_TEXT,
    clip,
    code_section,
    fields,
    header,
    lines_within,
    section,
)


@pytest.mark.parametrize(
    ("text", "limit", "rest", "expected"),
    [
        ("short", 10, None, "short"),
        ("exactly10!", 10, None, "exactly10!"),
        ("eleven char", 10, None, "eleven ch…"),
        ("line one\nline two\nline three", 26, "see X", "line one\n… (cut: see X)"),
        ("", 5, None, ""),
    ],
)
def test_clip(text: str, limit: int, rest: str | None, expected: str) -> None:
    assert clip(text, limit, rest=rest) == expected
    assert len(clip(text, limit, rest=rest)) <= limit


@pytest.mark.parametrize(
    ("lines", "limit", "expected"),
    [
        (["a", "b"], 10, "a\nb"),
        (["aaaa", "bbbb", "cccc", "dddd"], 14, "aaaa\n+3 more"),
        (["x" * 50], 20, "xxxxxxxxxx…"),
        (["x" * 50, "y"], 20, "xxxxxxxxxx…\n+1 more"),
        ([], 5, ""),
    ],
)
def test_lines_within(lines: list[str], limit: int, expected: str) -> None:
    got = lines_within(lines, limit, lambda n: f"+{n} more")
    assert got == expected
    assert len(got) <= limit


def test_blocks_never_exceed_their_limits_or_go_empty() -> None:
    assert len(header("h" * 500)["text"]["text"]) == HEADER_TEXT
    assert header("")["text"]["text"] == " "
    assert section("")["text"]["text"] == " "
    assert len(section("s" * 9000, rest="the timeline")["text"]["text"]) == SECTION_TEXT
    assert section("s" * 9000, rest="the timeline")["text"]["text"].endswith("(cut: the timeline)")
    many = fields({f"k{i}": "v" * 5000 for i in range(12)})
    assert len(many["fields"]) == 10
    assert all(len(f["text"]) <= FIELD_TEXT for f in many["fields"])


def test_a_cut_code_block_is_still_closed() -> None:
    text = code_section("*Log*", ["L" * 500] * 20, rest="kubectl logs p")["text"]["text"]
    assert len(text) <= SECTION_TEXT
    assert text.startswith("*Log*\n```") and text.endswith("```")
    assert "more line(s): kubectl logs p" in text
