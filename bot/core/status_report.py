"""What `/status` reports about a service: pure data and the judgements on it."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from bot.core.escaping import mrkdwn
from bot.core.pod_health import PodTrouble
from bot.core.pod_logs import LogLine
from bot.core.rollout import EventLine, Revision, RolloutStatus

# The project brief's alert rules, per service (DESIGN.md, catalog `queries`).
DEFAULT_QUERIES: Mapping[str, str] = {
    "error_rate": (
        'sum(rate(http_requests_total{service="{service}",status=~"5.."}[5m]))'
        ' / sum(rate(http_requests_total{service="{service}"}[5m]))'
    ),
    "latency_p95": (
        "histogram_quantile(0.95, sum by (le) "
        '(rate(http_request_duration_seconds_bucket{service="{service}"}[5m])))'
    ),
    "request_rate": 'sum(rate(http_requests_total{service="{service}"}[5m]))',
}
LABELS = {"error_rate": "Error rate", "latency_p95": "p95 latency", "request_rate": "Requests"}
# The brief's HighErrorRate (> 5%) and HighLatency (> 1 s) thresholds.
THRESHOLDS: Mapping[str, float] = {"error_rate": 0.05, "latency_p95": 1.0}
_STEADY = 0.10  # a change under 10% (relative) is not a trend


def service_queries(service: str, overrides: Mapping[str, str | None]) -> dict[str, str]:
    """The catalog's queries where given, else the defaults; `{service}` filled in."""
    chosen = {key: overrides.get(key) or default for key, default in DEFAULT_QUERIES.items()}
    return {key: query.replace("{service}", service) for key, query in chosen.items()}


def format_value(key: str, value: float | None) -> str:
    if value is None:
        return "no data"
    if key == "error_rate":
        return f"{value * 100:.1f}%"
    if key == "latency_p95":
        return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"
    return f"{value:.1f} req/s"


@dataclass(frozen=True)
class MetricReading:
    key: str
    now: float | None
    before: float | None  # 30 minutes earlier

    @property
    def label(self) -> str:
        return LABELS.get(self.key, self.key)

    @property
    def breached(self) -> bool:
        limit = THRESHOLDS.get(self.key)
        return limit is not None and self.now is not None and self.now > limit

    @property
    def trend(self) -> str | None:
        if self.now is None or self.before is None:
            return None
        base = max(abs(self.before), 1e-9)
        change = (self.now - self.before) / base
        if abs(change) < _STEADY or abs(self.now - self.before) < 1e-6:
            return "steady"
        return "rising" if change > 0 else "falling"


@dataclass(frozen=True)
class FiringAlert:
    name: str
    severity: str | None
    since: datetime | None


@dataclass(frozen=True)
class ActiveSilence:
    """An Alertmanager silence muting some of the service's alerts."""

    matchers: str
    created_by: str
    ends_at: datetime | None
    comment: str


@dataclass(frozen=True)
class StatusReport:
    service: str
    namespace: str | None
    deployment: str | None
    generated_at: datetime
    metrics: tuple[MetricReading, ...] = ()
    alerts: tuple[FiringAlert, ...] = ()
    silences: tuple[ActiveSilence, ...] = ()
    rollout: RolloutStatus | None = None
    revisions: tuple[Revision, ...] = ()
    pods: tuple[PodTrouble, ...] = ()
    events: tuple[EventLine, ...] = ()
    log_lines: tuple[LogLine, ...] = ()
    # part -> why it is missing: "Prometheus", "Alerts", "Kubernetes" (not configured), or one
    # Kubernetes read: "Deployment", "Revisions", "Pods", "Events", "Logs".
    missing: Mapping[str, str] = field(default_factory=dict)
    metric_errors: Mapping[str, str] = field(default_factory=dict)  # metric -> query + message

    def key_figures(self) -> dict[str, object]:
        """The numbers worth keeping in the timeline ("14:38 error rate 45%")."""
        figures: dict[str, object] = {m.key: m.now for m in self.metrics if m.now is not None}
        if self.rollout is not None:
            figures["ready_replicas"] = self.rollout.ready
            figures["desired_replicas"] = self.rollout.desired
            figures["rollout"] = self.rollout.state
        if self.revisions:
            figures["revision"] = self.revisions[0].number
            figures["images"] = list(self.revisions[0].images)
        figures["pods_in_trouble"] = len(self.pods)
        figures["firing_alerts"] = [a.name for a in self.alerts]
        return figures

    def summary_line(self) -> str:
        parts = [f"{m.label} {format_value(m.key, m.now)}" for m in self.metrics]
        if self.rollout is not None:
            parts.append(f"{self.rollout.ready}/{self.rollout.desired} ready")
        if self.alerts:
            parts.append(f"{len(self.alerts)} alert(s) firing")
        # Slack mrkdwn, like every timeline text: the service name came from the user.
        return f"/status {mrkdwn(self.service)}: " + ", ".join(parts or ["no data"])


@dataclass(frozen=True)
class Target:
    """Where a service lives: what /status and /rollback look at."""

    service: str
    namespace: str
    deployment: str
    in_catalog: bool


class UnknownService(ValueError):
    """The message lists the known services or says how to add one."""


def resolve_target(
    catalog: Mapping[str, tuple[str, str | None]],
    requested: str | None,
    *,
    namespace: str | None,
    incident_service: str | None,
    extra_namespaces: Collection[str] = (),
    default_namespace: str | None = None,
) -> Target:
    """`catalog` maps service -> (namespace, deployment); the incident's service is the default.

    `-n` may name only a namespace the catalog knows (its services' and `extra_namespaces`,
    the rollback namespaces): any Slack user can run /status, and not every namespace's pod
    logs and events are theirs to read. A name the catalog does not know is taken as a
    deployment in `default_namespace`, the bot's own (where kubectl would look), which `-n`
    may therefore name too; without one, in `default`.
    """
    known_namespaces = {ns for ns, _ in catalog.values()} | set(extra_namespaces)
    if default_namespace is not None:
        known_namespaces.add(default_namespace)
    if namespace is not None and namespace not in known_namespaces:
        listed = ", ".join(f"`{n}`" for n in sorted(known_namespaces)) or "none"
        raise UnknownService(
            f"/status reads only the namespaces in the catalog ({listed}), "
            f"not `{mrkdwn(namespace)}`. Add a service there to the catalog (INCIDENT_BOT_CONFIG)."
        )
    name = requested or incident_service
    if not name:
        raise UnknownService(
            "Which service? Type /status <service>, or run it inside an incident channel."
        )
    if name in catalog:
        ns, deployment = catalog[name]
        return Target(name, namespace or ns, deployment or name, True)
    if catalog and requested is not None:
        known = ", ".join(sorted(catalog))
        raise UnknownService(f"Unknown service `{name}`. Known services: {known}.")
    # No catalog entry: take the name as a deployment, as kubectl would.
    return Target(name, namespace or default_namespace or "default", name, False)


def how_to_add(target: Target) -> str:
    return (
        f"No catalog entry and no deployment `{target.deployment}` in namespace "
        f"`{target.namespace}`. Add it to the catalog (INCIDENT_BOT_CONFIG):\n"
        f"```services:\n  {target.service}:\n    namespace: <namespace>\n"
        f"    deployment: <deployment name>```"
    )
