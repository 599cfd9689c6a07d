"""What the bot says in Slack about an incident: pure rendering, no I/O.

Block Kit for people, plus a plain `text` fallback that notifications and
screen readers use.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.core.alert_identity import group_title
from bot.core.alerts import Notification, format_timestamp
from bot.core.block_kit import Block, context, fields, header, section
from bot.core.escaping import code, link, mention, mrkdwn
from bot.core.incident_rules import AlertChange, ChangeKind, IncidentStatus

# Where a cut alert text can be read whole: the timeline keeps labels and annotations.
ALERT_REST = "the whole alert is in `/incident timeline json`"

_STATUS_EMOJI = {
    IncidentStatus.INVESTIGATING: ":red_circle:",
    IncidentStatus.IDENTIFIED: ":large_orange_circle:",
    IncidentStatus.MONITORING: ":large_yellow_circle:",
    IncidentStatus.RESOLVED: ":large_green_circle:",
    IncidentStatus.CLOSED: ":white_circle:",
}
_HIDDEN_LABELS = frozenset({"alertname", "__name__"})


@dataclass(frozen=True)
class IncidentCard:
    """An incident as the messages show it."""

    ref: str
    title: str
    severity: str
    status: IncidentStatus
    service: str | None
    channel_id: str | None
    started_at: datetime
    mitigated_at: datetime | None = None


def incident_title(notification: Notification, service_label: str = "service") -> str:
    """The group's summary, else its alertname, with the service and the other group labels.
    Only a summary shared by the whole group names it (one alert's would mislead)."""
    return group_title(
        notification.label("alertname") or "Alert",
        summary=notification.common_annotations.get("summary"),
        service=notification.label(service_label),
        group_labels=notification.group_labels,
        service_label=service_label,
    )


def status_line(card: IncidentCard) -> str:
    mitigated = " (alerts resolved)" if card.mitigated_at and card.status.is_open else ""
    return f"{card.status.value}{mitigated}"


def channel_topic(card: IncidentCard) -> str:
    service = f" | {mrkdwn(card.service)}" if card.service else ""
    topic = (
        f"{card.ref} | {mrkdwn(card.severity)} | {status_line(card)}{service}"
        f" | {mrkdwn(card.title)}"
    )
    return _cut(topic, 250)


def channel_purpose(card: IncidentCard) -> str:
    return _cut(f"Incident {card.ref}: {mrkdwn(card.title)}", 250)


def _cut(text: str, limit: int) -> str:
    """At most `limit` characters, never ending inside an `&amp;`-style escape."""
    if len(text) <= limit:
        return text
    cut = text[:limit]
    amp = cut.rfind("&")
    return cut[:amp] if amp != -1 and ";" not in cut[amp:] else cut


def digest_text(card: IncidentCard) -> str:
    where = f" in <#{card.channel_id}>" if card.channel_id else " (channel pending)"
    return (
        f"{_STATUS_EMOJI[card.status]} *{card.ref}* {mrkdwn(card.severity)} {mrkdwn(card.title)}"
        f" | {status_line(card)} | since {format_timestamp(card.started_at)}{where}"
    )


def digest_blocks(card: IncidentCard) -> list[Block]:
    return [section(digest_text(card))]


def alert_message_text(card: IncidentCard, notification: Notification) -> str:
    return f"{card.ref} {mrkdwn(card.severity)}: {mrkdwn(card.title)}"


def alert_message_blocks(
    card: IncidentCard, notification: Notification, *, runbook: str | None
) -> list[Block]:
    alert = notification.alerts[0]
    summary = notification.common_annotations.get("summary") or alert.annotations.get("summary")
    description = notification.common_annotations.get("description") or alert.annotations.get(
        "description"
    )
    blocks: list[Block] = [
        header(card.title),
        fields(
            {
                "Incident": card.ref,
                "Severity": mrkdwn(card.severity),
                "Service": mrkdwn(card.service or "unknown"),
                "Started": format_timestamp(alert.starts_at),
                "Alert": mrkdwn(notification.label("alertname") or "unnamed alert"),
            }
        ),
    ]
    text = "\n".join(mrkdwn(t) for t in (summary, description) if t)
    if text:
        blocks.append(section(text, rest=ALERT_REST))
    labels = _labels(notification.common_labels or alert.labels)
    blocks.append(section("*Labels*\n" + labels, rest=ALERT_REST))
    if notification.truncated_alerts:
        blocks.append(section(truncated_note(notification.truncated_alerts)))
    links = _links(notification, runbook)
    if links:
        blocks.append(context(links))
    return blocks


def truncated_note(count: int) -> str:
    return f":warning: Alertmanager left out {count} more alert(s) of this group (max_alerts)."


def change_text(change: AlertChange) -> str:
    at = format_timestamp(change.occurred_at)
    icon = ":large_green_circle:" if change.kind is ChangeKind.RESOLVED else ":red_circle:"
    return f"{icon} {change.text} at {at}"


def changes_message(changes: Sequence[AlertChange], *, all_resolved: bool, truncated: int) -> str:
    lines = [change_text(c) for c in changes]
    if truncated:
        lines.append(truncated_note(truncated))
    if all_resolved:
        lines.append(all_resolved_note())
    return "\n".join(lines)


def all_resolved_note() -> str:
    return (
        ":white_check_mark: All alerts of this group resolved: incident marked mitigated. "
        "A human resolves it with `/incident status resolved`."
    )


def _labels(labels: Mapping[str, str]) -> str:
    shown = [code(f"{k}={v}") for k, v in sorted(labels.items()) if k not in _HIDDEN_LABELS]
    return " ".join(shown) or "none"


def _links(notification: Notification, runbook: str | None) -> str:
    alert = notification.alerts[0]
    runbook = (
        notification.common_annotations.get("runbook_url")
        or alert.annotations.get("runbook_url")
        or alert.annotations.get("runbook")
        or runbook
    )
    links = []
    # Only http(s) links without `|<>`; anything else is left out rather than shown broken.
    for url, label in (
        (alert.generator_url, "Prometheus graph"),
        (runbook, "Runbook"),
        (notification.external_url, "Alertmanager"),
    ):
        if url and link(url, label) != label:
            links.append(link(url, label))
    return " | ".join(links)


def declared_message(
    card: IncidentCard, reporter: str | None, *, runbook: str | None
) -> tuple[str, list[Block]]:
    blocks: list[Block] = [
        header(card.title),
        fields(
            {
                "Incident": card.ref,
                "Severity": mrkdwn(card.severity),
                "Service": mrkdwn(card.service or "unknown"),
                "Declared": format_timestamp(card.started_at),
            }
        ),
    ]
    if reporter:  # the field values are escaped text; the mention is markup, added after
        blocks[1]["fields"][-1]["text"] += f" by {mention(reporter)}"
    if runbook and link(runbook, "Runbook") != "Runbook":
        blocks.append(context(link(runbook, "Runbook")))
    return f"{card.ref} {mrkdwn(card.severity)}: {mrkdwn(card.title)}", blocks


def postmortem_blocks(text: str, ref: str) -> list[Block]:
    return [
        section(text, rest="the whole summary is in `/incident timeline`"),
        {
            "type": "actions",
            "elements": [
                {
                    "type": "button",
                    "action_id": "postmortem_draft",
                    "text": {"type": "plain_text", "text": "Draft the post-mortem"},
                    "value": ref,
                }
            ],
        },
    ]


def suspected_deploy_blocks(text: str, button: Block | None) -> list[Block]:
    blocks: list[Block] = [section(f":mag: {text}")]
    if button is not None:
        blocks.append({"type": "actions", "elements": [button]})
    return blocks
