"""Block Kit limits as Slack enforces them, for the fake Slack and the fake's ack checks.

Slack refuses a message whose blocks break its limits with `invalid_blocks` (and says
where, as a JSON pointer), text over 40,000 characters with `msg_too_long`, and a modal
that breaks the view limits with `invalid_arguments`. The limits come from
`slack_sdk.models` (Slack's own SDK carries them); the few it leaves out are listed
here. A fake that accepted what Slack refuses would let a too-long alert reach
production, where it would be lost.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

MAX_TEXT = 40_000  # msg_too_long above this
MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_FIELD_TEXT = 2_000  # Slack's limit for each section field; slack_sdk does not check it

Refusal = tuple[str, list[str]]  # (Slack's error code, its "[ERROR] ..." messages)


def _text_objects(value: Any, pointer: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every text object (`{"type": "plain_text"|"mrkdwn", "text": ...}`) inside a block."""
    if isinstance(value, dict):
        if value.get("type") in ("plain_text", "mrkdwn") and "text" in value:
            yield pointer, value
        for key, inner in value.items():
            yield from _text_objects(inner, f"{pointer}/{key}")
    elif isinstance(value, list):
        for i, inner in enumerate(value):
            yield from _text_objects(inner, f"{pointer}/{i}")


def _extra_errors(block: dict[str, Any], pointer: str) -> list[str]:
    """The limits Slack enforces that slack_sdk's models do not."""
    errors = []
    for where, obj in _text_objects(block, pointer):
        if not isinstance(obj["text"], str) or not obj["text"]:
            errors.append(f"must be more than 0 characters [json-pointer:{where}/text]")
    for i, field in enumerate(block.get("fields") or []):
        text = field.get("text") if isinstance(field, dict) else None
        if isinstance(text, str) and len(text) > MAX_FIELD_TEXT:
            errors.append(
                f"must be less than {MAX_FIELD_TEXT + 1} characters "
                f"[json-pointer:{pointer}/fields/{i}/text]"
            )
    return errors


def block_errors(blocks: Any, *, pointer: str = "/blocks", limit: int) -> list[str]:
    """Slack's complaints about a list of blocks, each naming where; [] when valid."""
    if not isinstance(blocks, list):
        return [f"must be an array [json-pointer:{pointer}]"]
    errors = []
    if len(blocks) > limit:
        errors.append(f"no more than {limit} items allowed [json-pointer:{pointer}]")
    for i, raw in enumerate(blocks):
        where = f"{pointer}/{i}"
        if not isinstance(raw, dict) or "type" not in raw:
            errors.append(f"missing required field: type [json-pointer:{where}]")
            continue
        try:
            block = Block.parse(dict(raw))
            if block is None:
                errors.append(f"unsupported type: {raw['type']} [json-pointer:{where}]")
                continue
            block.to_dict()  # runs the validators of the block and everything inside it
        except SlackObjectFormationError as e:
            errors.append(f"{e} [json-pointer:{where}]")
            continue
        except (TypeError, AttributeError, KeyError, ValueError) as e:
            errors.append(f"invalid block: {e} [json-pointer:{where}]")
            continue
        errors += _extra_errors(raw, where)
    return errors


def message_refusal(text: str | None, blocks: Any) -> Refusal | None:
    """What Slack answers to chat.postMessage/update/postEphemeral and response_url posts."""
    if text is not None and len(text) > MAX_TEXT:
        return "msg_too_long", [f"[ERROR] text is {len(text)} characters, over {MAX_TEXT}"]
    if blocks is None:
        return None
    errors = block_errors(blocks, limit=MAX_MESSAGE_BLOCKS)
    return ("invalid_blocks", [f"[ERROR] {e}" for e in errors]) if errors else None


def view_refusal(view: Any) -> Refusal | None:
    """What Slack answers to views.open/update/push/publish with a view it will not show."""
    if not isinstance(view, dict) or "type" not in view:
        return "invalid_arguments", ["[ERROR] missing required field: type [json-pointer:/view]"]
    errors = block_errors(view.get("blocks") or [], pointer="/view/blocks", limit=MAX_VIEW_BLOCKS)
    try:
        # The blocks were checked above (Slack accepts an empty modal; slack_sdk does not),
        # so one placeholder stands in for them while the view's own limits are checked.
        placeholder = [{"type": "divider"}]
        View(**{**view, "blocks": placeholder}).to_dict()
    except SlackObjectFormationError as e:
        errors.append(f"{e} [json-pointer:/view]")
    except (TypeError, AttributeError, KeyError, ValueError) as e:
        errors.append(f"invalid view: {e} [json-pointer:/view]")
    return ("invalid_arguments", [f"[ERROR] {e}" for e in errors]) if errors else None


def ack_refusal(body: Any) -> Refusal | None:
    """An ack body (HTTP answer or Socket Mode ack payload) Slack would not show."""
    if not isinstance(body, dict):
        return None
    text = body.get("text")
    return message_refusal(text if isinstance(text, str) else None, body.get("blocks"))


def describe(refusal: Refusal) -> str:
    """One readable line for test failures: the error code and where Slack points."""
    error, messages = refusal
    shown = "; ".join(messages[:5])
    more = f" (+{len(messages) - 5} more)" if len(messages) > 5 else ""
    return f"{error}: {shown}{more}"
