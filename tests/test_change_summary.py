"""The room's message about a batch of alert changes: lines for a few, one summary for many."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from bot.core.alerts import Alert, AlertStatus
from bot.core.block_kit import HEADER_TEXT, MESSAGE_BLOCKS, MESSAGE_TEXT, SECTION_TEXT
from bot.core.change_summary import MAX_LISTED, changes_post
from bot.core.incident_rules import AlertChange, ChangeKind

T0 = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


def change(i: int, kind: ChangeKind = ChangeKind.RESOLVED, name: str = "NodeDown") -> AlertChange:
    alert = Alert(
        status=AlertStatus.RESOLVED if kind is ChangeKind.RESOLVED else AlertStatus.FIRING,
        labels={"alertname": name, "node": f"node-{i:04d}", "pool": "batch", "zone": f"z{i % 3}"},
        startsAt=T0,
        endsAt=T0 + timedelta(minutes=5) if kind is ChangeKind.RESOLVED else None,
        fingerprint=f"fp{i:05d}",
    )
    return AlertChange(kind, alert, T0 + timedelta(minutes=5), identity=f"node=node-{i:04d}")


def limits_hold(blocks: list[dict]) -> None:
    assert len(blocks) <= MESSAGE_BLOCKS
    for block in blocks:
        if block["type"] == "header":
            assert len(block["text"]["text"]) <= HEADER_TEXT
        if block["type"] == "section":
            assert len(block.get("text", {}).get("text", "")) <= SECTION_TEXT
            assert len(block.get("fields", [])) <= 10


@pytest.mark.parametrize("count", [1, MAX_LISTED])
def test_a_few_changes_get_a_line_each(count: int) -> None:
    post = changes_post(
        [change(i) for i in range(count)], all_resolved=False, truncated=0, ref="INC-3"
    )
    assert post.blocks is None
    assert post.text.count("\n") == count - 1
    assert "node=node-0000" in post.text


def test_1500_resolutions_are_one_summary_within_block_kit_limits() -> None:
    changes = [change(i) for i in range(1500)]
    changes += [change(i, ChangeKind.FIRING, name="PoolShrinking") for i in range(1500, 1503)]
    post = changes_post(changes, all_resolved=True, truncated=2, ref="INC-3")
    assert post.blocks is not None
    limits_hold(post.blocks)
    assert len(post.text) <= MESSAGE_TEXT
    assert post.blocks[0]["text"]["text"] == "1,503 alert changes: 3 firing, 1,500 resolved"
    rendered = json.dumps(post.blocks, ensure_ascii=False)
    assert "NodeDown: 1,500 resolved" in rendered
    assert "PoolShrinking: 3 firing" in rendered
    assert "`node`, 1,503 values" in rendered
    assert "`zone`, 3 values" in rendered
    assert "`pool`" not in rendered  # the same on every alert: says nothing
    assert "node=node-0000" in rendered  # the first alerts, by name
    assert "… and 1,498 more" in rendered
    assert "All alerts of this group resolved" in post.text
    assert "left out 2 more alert" in post.text
    assert "/incident timeline" in post.text


def test_huge_label_values_and_many_names_still_fit() -> None:
    changes = [change(i, name=f"Alert{i}-" + "x" * 500) for i in range(300)]
    post = changes_post(changes, all_resolved=False, truncated=0, ref="INC-3")
    assert post.blocks is not None
    limits_hold(post.blocks)
    assert "… and 290 more alert names" in json.dumps(post.blocks, ensure_ascii=False)


def test_names_and_labels_from_outside_are_escaped() -> None:
    changes = [change(i, name="<!channel> <http://evil|x>") for i in range(20)]
    for c in changes[:3]:
        object.__setattr__(c.alert, "labels", {**c.alert.labels, "team`x": "<!here>"})
    post = changes_post(changes, all_resolved=False, truncated=0, ref="INC-3")
    rendered = json.dumps(post.blocks, ensure_ascii=False)
    for raw in ("<!channel>", "<http://evil|x>", "<!here>", "team`x"):
        assert raw not in rendered
