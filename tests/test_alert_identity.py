"""Naming an alert within its group, and naming the group: tables of cases."""

from __future__ import annotations

import pytest

from bot.core.alert_identity import alert_identity, group_title

GROUP = {"alertname": "KubePodNotReady", "service": "gateway"}
POD_A = {**GROUP, "pod": "gateway-aaa", "namespace": "prod", "severity": "warning"}
POD_B = {**GROUP, "pod": "gateway-bbb", "namespace": "prod", "severity": "warning"}
COMMON_AB = {**GROUP, "namespace": "prod", "severity": "warning"}


@pytest.mark.parametrize(
    ("labels", "group", "common", "identity"),
    [
        # Two pods in the group: the pod is what differs.
        (POD_B, GROUP, COMMON_AB, "pod=gateway-bbb"),
        (POD_A, GROUP, COMMON_AB, "pod=gateway-aaa"),
        # A group of one (every label common): its identifying labels, best first.
        (POD_A, GROUP, POD_A, "pod=gateway-aaa, namespace=prod"),
        # Nothing identifying outside the group: the group's own labels, as before.
        (
            {**GROUP, "severity": "critical"},
            GROUP,
            {**GROUP, "severity": "critical"},
            "service=gateway",
        ),
        # Alerts that differ by severity only.
        ({**GROUP, "severity": "critical"}, GROUP, GROUP, "severity=critical"),
        # Several differing labels: identifying ones lead, at most three.
        (
            {**GROUP, "pod": "p", "container": "c", "zone": "z", "code": "500"},
            GROUP,
            GROUP,
            "pod=p, container=c, code=500",
        ),
        # No commonLabels sent at all: still bounded and ordered.
        ({**POD_A, "team": "edge"}, GROUP, {}, "pod=gateway-aaa, namespace=prod, severity=warning"),
        # group_by: [...] makes every label a group label: nothing left but those.
        (POD_A, POD_A, POD_A, "pod=gateway-aaa, namespace=prod, service=gateway"),
        ({"alertname": "Watchdog"}, {}, {"alertname": "Watchdog"}, ""),
    ],
)
def test_alert_identity(
    labels: dict[str, str], group: dict[str, str], common: dict[str, str], identity: str
) -> None:
    assert alert_identity(labels, group_labels=group, common_labels=common) == identity


@pytest.mark.parametrize(
    ("alertname", "summary", "service", "group", "title"),
    [
        # No summary: the alertname and the group's labels, never the alertname twice.
        ("KubePodNotReady", None, "gateway", GROUP, "KubePodNotReady on gateway"),
        ("KubePodNotReady", "", "gateway", GROUP, "KubePodNotReady on gateway"),
        ("KubePodNotReady", "KubePodNotReady", "gateway", GROUP, "KubePodNotReady on gateway"),
        # A summary replaces the alertname; the service is added unless it already says it.
        (
            "HighErrorRate",
            "High error rate detected",
            "payments",
            {"alertname": "HighErrorRate", "service": "payments"},
            "High error rate detected on payments",
        ),
        (
            "PaymentsDown",
            "Payments service is down",
            "payments",
            {"alertname": "PaymentsDown", "service": "payments"},
            "Payments service is down",
        ),
        # Other group labels in brackets, unless the words already name them.
        (
            "HighErrorRate",
            None,
            "payments",
            {"alertname": "HighErrorRate", "service": "payments", "cluster": "eu-1"},
            "HighErrorRate on payments (cluster=eu-1)",
        ),
        (
            "DiskFull",
            "Disk full on eu-1",
            None,
            {"alertname": "DiskFull", "cluster": "eu-1"},
            "Disk full on eu-1",
        ),
        # No service, no group labels.
        ("Watchdog", None, None, {}, "Watchdog"),
    ],
)
def test_group_title(
    alertname: str, summary: str | None, service: str | None, group: dict[str, str], title: str
) -> None:
    assert group_title(alertname, summary=summary, service=service, group_labels=group) == title
