"""The bot's own metrics, on a registry per app so tests and replicas never share one."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class BotMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.webhooks_received = Counter(
            "incident_bot_webhooks_received",
            "Alertmanager webhooks accepted and stored",
            registry=self.registry,
        )
        self.webhook_commits = Counter(
            "incident_bot_webhook_commits",
            "Commits that stored webhook bodies: bodies arriving together share one (group commit)",
            registry=self.registry,
        )
        self.webhooks_rejected = Counter(
            "incident_bot_webhooks_rejected",
            "Alertmanager webhooks refused, by reason",
            ["reason"],
            registry=self.registry,
        )
        self.deliveries_failed = Counter(
            "incident_bot_deliveries_failed",
            "Alertmanager deliveries parked as failed after their last attempt",
            registry=self.registry,
        )
        self.deliveries_pending = Gauge(
            "incident_bot_deliveries_pending",
            "Stored Alertmanager deliveries not yet processed",
            registry=self.registry,
        )
        self.deliveries_parked = Gauge(
            "incident_bot_deliveries_parked",
            "Alertmanager deliveries parked as failed, to replay: incident-bot deliveries --retry",
            registry=self.registry,
        )
        self.incidents_opened = Counter(
            "incident_bot_incidents_opened", "Incidents opened", ["source"], registry=self.registry
        )
        self.slack_calls = Counter(
            "incident_bot_slack_calls",
            "Slack Web API calls, by method and outcome",
            ["method", "outcome"],
            registry=self.registry,
        )
        self.slack_retries = Counter(
            "incident_bot_slack_retries",
            "Slack calls retried in place by slack-sdk's handlers",
            registry=self.registry,
        )
        self.slack_socket_reconnects = Counter(
            "incident_bot_slack_socket_reconnects",
            "Socket Mode connections made after the first (Slack rotated or dropped one)",
            registry=self.registry,
        )
        self.pending_work = Gauge(
            "incident_bot_pending_work",
            "Deliveries and Slack jobs not yet done",
            ["queue"],
            registry=self.registry,
        )
        self.command_latency = Histogram(
            "incident_bot_command_latency_seconds",
            "Slash command handling time",
            ["command"],
            registry=self.registry,
        )

    def observe_slack_call(self, method: str, outcome: str) -> None:
        self.slack_calls.labels(method=method, outcome=outcome).inc()
