"""How one alert, and one alert group, is named to people: pure decisions on labels.

Alertmanager sends the whole group each time; `groupLabels` are what the group was
made by and `commonLabels` what all its alerts share, so the labels outside both are
exactly what tells one alert from the others ("pod=gateway-bbb"). A group of one has
no such labels; it is then named by the labels that usually identify an alert
(pod, instance, ...), and failing those by the group's own labels.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

# Labels that say *which thing* is alerting, most telling first: they lead the name.
IDENTIFYING = (
    "pod",
    "container",
    "instance",
    "node",
    "deployment",
    "statefulset",
    "daemonset",
    "job_name",
    "persistentvolumeclaim",
    "device",
    "mountpoint",
    "job",
    "namespace",
)
HIDDEN = frozenset({"alertname", "__name__"})
MAX_LABELS = 3


def _order(key: str) -> tuple[int, str]:
    rank = IDENTIFYING.index(key) if key in IDENTIFYING else len(IDENTIFYING)
    return rank, key


def _pick(labels: Mapping[str, str], keys: set[str]) -> tuple[tuple[str, str], ...]:
    chosen = sorted(keys, key=_order)[:MAX_LABELS]
    return tuple((k, labels[k]) for k in chosen)


def distinguishing_labels(
    labels: Mapping[str, str],
    *,
    group_labels: Mapping[str, str],
    common_labels: Mapping[str, str],
) -> tuple[tuple[str, str], ...]:
    """The labels that tell this alert apart from the rest of its group, at most three."""
    candidates = {k for k in labels if k not in HIDDEN and k not in group_labels}
    own = {k for k in candidates if k not in common_labels}
    if own:
        return _pick(labels, own)
    identifying = {k for k in candidates if k in IDENTIFYING}
    if identifying:
        return _pick(labels, identifying)
    return _pick(labels, {k for k in labels if k in group_labels and k not in HIDDEN})


def alert_identity(
    labels: Mapping[str, str],
    *,
    group_labels: Mapping[str, str],
    common_labels: Mapping[str, str],
) -> str:
    """`pod=gateway-bbb`, `pod=a, container=b`, or "" when the alert has no labels to show."""
    found = distinguishing_labels(labels, group_labels=group_labels, common_labels=common_labels)
    return ", ".join(f"{k}={v}" for k, v in found)


def group_title(
    alertname: str,
    *,
    summary: str | None,
    service: str | None,
    group_labels: Mapping[str, str],
    service_label: str = "service",
) -> str:
    """An incident's title: the group's summary, else its alertname; then the service and the
    group's other labels, each left out when the words before already name it."""
    subject = (summary or "").strip() or alertname
    title = subject
    if service and not _mentions(subject, service):
        title += f" on {service}"
    others = {
        k
        for k, v in group_labels.items()
        if k not in HIDDEN and k != service_label and v and not _mentions(subject, v)
    }
    if others:
        title += " (" + ", ".join(f"{k}={v}" for k, v in _pick(group_labels, others)) + ")"
    return title


def _mentions(text: str, value: str) -> bool:
    """`value` as a whole word of `text` ("payments" is in "Payments down", not "PaymentsDown")."""
    pattern = rf"(?<![\w-]){re.escape(value.casefold())}(?![\w-])"
    return re.search(pattern, text.casefold()) is not None
