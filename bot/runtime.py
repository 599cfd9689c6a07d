"""The composition root: builds every part from Settings and runs the server."""

from __future__ import annotations

import socket
from dataclasses import dataclass

from aiohttp import web
from kubernetes.client import ApiClient
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.clock import Clock, system_clock
from bot.core.reminders import ReminderPolicy
from bot.core.retention import RetentionPolicy
from bot.core.web_access import parse_networks
from bot.http.api import ApiDeps
from bot.http.live_timeline import LiveTimeline
from bot.http.pages import PageDeps
from bot.http.web import WebDeps, make_web_app
from bot.metrics import BotMetrics
from bot.services.curations import Curator
from bot.services.incident import IncidentService
from bot.services.page_links import PageLinks
from bot.services.people import PeopleDirectory
from bot.services.pinned_images import ImageKeeper
from bot.services.reports import Reports
from bot.services.rollback import RollbackService
from bot.services.silence import SilenceService
from bot.services.similar import SimilarIncidents
from bot.services.status import StatusService
from bot.services.suspected_deploy import SuspectedDeploy
from bot.settings import Catalog, Settings, load_catalog
from bot.slack.app import make_bolt_app
from bot.slack.listeners.capture import Capture, register_capture
from bot.slack.listeners.commands import CommandDeps, register_commands
from bot.slack.listeners.incident import IncidentDeps, register_incident
from bot.slack.listeners.silence import SilenceDeps, register_silence_buttons
from bot.slack.socket_mode import EnvelopeClaims, SocketMode
from bot.storage.db import make_engine, migrate
from bot.storage.group_commit import GroupCommit
from bot.storage.models import Incident
from bot.storage.store import IncidentStore
from bot.workers.background import BackgroundWork
from bot.workers.intake import AlertIntake, RetryPolicy
from bot.workers.reminders import ReminderWorker
from bot.workers.retention import RetentionWorker
from bot.workers.slack_outbox import SlackWorker
from bot.workers.tasks import TaskSet
from integrations.alertmanager import AlertmanagerAPI
from integrations.kubernetes import (
    KubernetesSource,
    api_client_from_environment,
    current_namespace,
)
from integrations.prometheus import PrometheusSource
from integrations.slack import SlackGateway, make_client


@dataclass
class Tuning:
    """Timings that tests shorten; production keeps the defaults."""

    poll_interval: float = 1.0
    backoff_base: float = 1.0
    backoff_cap: float = 60.0
    backend_timeout: float = 5.0  # each of Prometheus, Kubernetes, Alertmanager, per command
    rollout_poll: float = 2.0  # how often a rollback's rollout is looked at
    reminder_poll: float = 30.0  # how often open incidents are checked for due nudges
    delivery_attempts: int = 8  # a delivery that fails this often is parked as failed
    live_poll: float = 0.5  # how often an open incident page looks for new events (SQLite)
    socket_ping: float = 5.0  # Socket Mode: pings; a silently dead socket is noticed by then
    retention_poll: float = 600.0  # how often a replica tries to claim this hour's purge


class BotRuntime:
    """Every part, built once from `Settings`, each given its collaborators when it is made.

    Read top to bottom: storage, the outside systems, the services, the workers that run
    after the answer, then the two ways in (Slack and HTTP)."""

    def __init__(
        self,
        settings: Settings,
        *,
        catalog: Catalog | None = None,
        clock: Clock = system_clock,
        tuning: Tuning | None = None,
    ) -> None:
        tuning = tuning or Tuning()
        self.settings, self.clock = settings, clock
        self.catalog = catalog = catalog or load_catalog(settings.incident_bot_config)
        self.metrics = BotMetrics()
        self.tasks = TaskSet()

        # Storage.
        self.engine = make_engine(settings.database_url)
        self.store = store = IncidentStore(self.engine)
        self.group_commit = GroupCommit(self.engine, on_commit=self.metrics.webhook_commits.inc)

        # The outside systems.
        self.slack_client = _slack_client(settings, self.metrics)
        self.chat = chat = SlackGateway(self.slack_client, observe=self.metrics.observe_slack_call)
        self.kubernetes_api = api_client_from_environment(settings.kubeconfig)
        kubernetes = _kubernetes(self.kubernetes_api, tuning)
        alertmanager = _alertmanager(settings, tuning)
        prometheus = _prometheus(settings, tuning)
        self.links = PageLinks(settings.public_url, settings.web_secret, clock)

        # The services.
        self.similar = SimilarIncidents(store, clock, page_url=self.links.incident_url)
        self.silences = SilenceService(store, chat, alertmanager, catalog, clock)
        self.rollback = RollbackService(
            store, chat, kubernetes, catalog, clock, watch_interval=tuning.rollout_poll
        )
        self.status = StatusService(
            catalog, prometheus, kubernetes, alertmanager, clock, timeout=tuning.backend_timeout
        )
        self.images = ImageKeeper(store, chat, settings.slack_api_url, clock)
        self.reports = self._reports(tuning, prometheus)

        # The workers: what runs after the answer.
        self.intake = self._alert_intake(tuning)
        self.worker = self._slack_worker(tuning, kubernetes, alertmanager)
        self.reminders = ReminderWorker(store, clock, _reminder_policy(catalog))
        self.retention = RetentionWorker(store, clock, _retention_policy(settings))
        self.background = BackgroundWork(
            self.intake,
            self.worker,
            poll_interval=tuning.poll_interval,
            periodic=[
                (self.reminders.run_due, tuning.reminder_poll),
                (self.retention.run_due, tuning.retention_poll),
            ],
        )
        self.incidents = IncidentService(
            store, catalog, clock, self.background.wake_jobs, on_resolved=[self._expire_silences]
        )

        # The ways in: Slack's listeners and the HTTP routes.
        # The kept copies of pinned images are for the incident page only.
        self.capture = Capture(
            store, chat, clock, images=self.images if settings.web_enabled else None
        )
        self.commands = self._command_deps()
        self.incident_deps = self._incident_deps()
        self.live = LiveTimeline(store, poll=tuning.live_poll)
        self.bolt, self.socket = self._slack_way_in(tuning)
        self.web_app = make_web_app(self._web_deps())
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    def _expire_silences(self, incident: Incident, actor: str) -> None:
        """After a resolve: the silences made for the incident end (in the background)."""
        self.tasks.spawn(self.silences.expire_on_resolve(incident, actor), name="expire silences")

    def _reports(self, tuning: Tuning, prometheus: PrometheusSource) -> Reports:
        store, clock = self.store, self.clock
        return Reports(
            store,
            self.catalog,
            clock,
            prometheus=prometheus,
            timeout=tuning.backend_timeout,
            template_path=self.catalog.postmortem_template,
            people=PeopleDirectory(store, self.chat, clock),
            curator=Curator(
                store, clock, self.chat
            ),  # reviewers' e-mails to Slack users, for audit
            previous=self.similar.previous_occurrences,
        )

    def _alert_intake(self, tuning: Tuning) -> AlertIntake:
        retry = RetryPolicy(tuning.delivery_attempts, tuning.backoff_base, tuning.backoff_cap)
        return AlertIntake(
            self.store,
            self.catalog,
            self.clock,
            self.metrics,
            retry,
            before_pass=self.group_commit.forget_unprocessed,
            take_parsed=self.group_commit.take_parsed,
        )

    def _slack_worker(
        self,
        tuning: Tuning,
        kubernetes: KubernetesSource | None,
        alertmanager: AlertmanagerAPI | None,
    ) -> SlackWorker:
        store, catalog, clock = self.store, self.catalog, self.clock
        return SlackWorker(
            store,
            self.chat,
            catalog,
            clock,
            backoff_base=tuning.backoff_base,
            backoff_cap=tuning.backoff_cap,
            owner=socket.gethostname(),  # a restarted container keeps its pod's host name
            page_link=self.links.slack_line,
            suspect=SuspectedDeploy(store, kubernetes, catalog, clock).blocks,
            seen_before=self.similar.seen_before_blocks,
            silence_button=alertmanager is not None,
        )

    def _command_deps(self) -> CommandDeps:
        return CommandDeps(
            store=self.store,
            chat=self.chat,
            catalog=self.catalog,
            clock=self.clock,
            metrics=self.metrics,
            status=self.status,
            rollback=self.rollback,
            tasks=self.tasks,
            default_namespace=current_namespace(self.settings.kubeconfig),
        )

    def _incident_deps(self) -> IncidentDeps:
        return IncidentDeps(
            store=self.store,
            chat=self.chat,
            service=self.incidents,
            clock=self.clock,
            reminders=self.reminders,
            tasks=self.tasks,
            timeline_file=self.reports.timeline_file,
            postmortem_file=self.reports.postmortem_file,
            page_link=self.links.slack_line,
            silence=SilenceDeps(self.store, self.chat, self.silences, self.clock, self.tasks),
            similar=self.similar,
        )

    def _slack_way_in(self, tuning: Tuning) -> tuple[AsyncApp | None, SocketMode | None]:
        """HTTP mode (Slack POSTs to /slack/events, signed) or Socket Mode (an app token)."""
        settings = self.settings
        if settings.slack_app_token is None:
            secret = settings.slack_signing_secret
            return self.make_bolt(secret.get_secret_value() if secret else None), None
        socket_mode = SocketMode(
            self.make_bolt(None),
            settings.slack_app_token.get_secret_value(),
            claims=EnvelopeClaims(self.store, self.clock),
            metrics=self.metrics,
            ping_interval=tuning.socket_ping,
        )
        return None, socket_mode

    def _web_deps(self) -> WebDeps:
        settings = self.settings
        return WebDeps(
            deliveries=self.group_commit,
            store=self.store,
            background=self.background,
            metrics=self.metrics,
            clock=self.clock,
            bolt=self.bolt,
            webhook_token=settings.alertmanager_webhook_token,
            max_body_bytes=settings.max_body_bytes,
            slack_signing_secret=settings.slack_signing_secret if self.bolt else None,
            api=ApiDeps(self.reports, settings.api_token),
            pages=PageDeps(
                self.reports,
                self.clock,
                settings.web_secret,
                settings.web_auth_user_header,
                parse_networks(settings.web_trusted_proxies),
                live=self.live,
                images=self.images,
            ),
            slack_socket=self.socket.is_connected if self.socket else None,
        )

    def make_bolt(self, signing_secret: str | None) -> AsyncApp:
        """The Bolt app with every listener; Socket Mode makes its own with no secret."""
        app = make_bolt_app(client=self.slack_client, signing_secret=signing_secret)
        register_capture(app, self.capture, self.tasks)
        register_commands(app, self.commands)
        register_incident(app, self.incident_deps)
        if self.incident_deps.silence is not None:
            register_silence_buttons(app, self.incident_deps.silence)
        return app

    async def start(self, *, host: str | None = None, port: int | None = None) -> None:
        """Migrate, resume stored work, then listen."""
        await migrate(self.engine)
        # Claims our previous run left when it was killed: nobody else can hold them.
        await self.store.release_claims(self.worker.owner)
        self.background.start()
        self.tasks.spawn(self.capture.resume(), name="resume Slack events")
        self.tasks.spawn(self.rollback.resume(), name="resume rollout watches")
        await self.live.start()
        self._runner = web.AppRunner(self.web_app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(
            self._runner,
            host or self.settings.host,
            self.settings.port if port is None else port,
        )
        await site.start()
        addresses = self._runner.addresses  # (host, port, ...) of each listening socket
        self.port = addresses[0][1] if addresses else port
        if self.socket is not None:
            await self.socket.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def stop(self) -> None:
        await self.live.stop()  # ends the open pages' streams, so shutdown need not wait
        if self.socket is not None:
            await self.socket.stop()  # no new envelopes
        if self._runner is not None:
            await self._runner.shutdown()  # no new requests, then finish what they started
        await self.tasks.stop()
        await self.background.stop()
        await self.rollback.stop()
        if self._runner is not None:
            await self._runner.cleanup()
        await self.group_commit.stop()
        await self.engine.dispose()
        if self.kubernetes_api is not None:
            self.kubernetes_api.close()


def _slack_client(settings: Settings, metrics: BotMetrics) -> AsyncWebClient:
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else ""
    return make_client(token, settings.slack_api_url, observe_retry=metrics.slack_retries.inc)


def _kubernetes(api: ApiClient | None, tuning: Tuning) -> KubernetesSource | None:
    return KubernetesSource(api, timeout=tuning.backend_timeout) if api is not None else None


def _prometheus(settings: Settings, tuning: Tuning) -> PrometheusSource:
    return PrometheusSource(
        settings.prometheus_url, timeout=tuning.backend_timeout, verify=settings.prometheus_verify
    )


def _alertmanager(settings: Settings, tuning: Tuning) -> AlertmanagerAPI | None:
    if not settings.alertmanager_url:
        return None
    return AlertmanagerAPI(settings.alertmanager_url, timeout=tuning.backend_timeout)


def _reminder_policy(catalog: Catalog) -> ReminderPolicy:
    return ReminderPolicy(
        status_update_minutes=catalog.incident.status_update_minutes,
        no_commander_minutes=catalog.incident.no_commander_minutes,
    )


def _retention_policy(settings: Settings) -> RetentionPolicy:
    return RetentionPolicy(
        webhook_days=settings.retention_webhook_days,
        slack_event_days=settings.retention_slack_event_days,
    )
