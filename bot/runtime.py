"""The composition root: builds every part from Settings and runs the server."""

from __future__ import annotations

import socket
from dataclasses import dataclass

from aiohttp import web
from slack_bolt.async_app import AsyncApp

from bot.clock import Clock, system_clock
from bot.core.reminders import ReminderPolicy
from bot.core.retention import RetentionPolicy
from bot.core.web_access import parse_networks
from bot.http.api import ApiDeps
from bot.http.live_timeline import LiveTimeline
from bot.http.pages import PageDeps
from bot.http.web import WebDeps, make_web_app
from bot.metrics import BotMetrics
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
    def __init__(
        self,
        settings: Settings,
        *,
        catalog: Catalog | None = None,
        clock: Clock = system_clock,
        tuning: Tuning | None = None,
    ) -> None:
        tuning = tuning or Tuning()
        self.settings = settings
        self.catalog = catalog or load_catalog(settings.incident_bot_config)
        self.clock = clock
        self.metrics = BotMetrics()
        self.engine = make_engine(settings.database_url)
        self.store = IncidentStore(self.engine)
        self.group_commit = GroupCommit(self.engine)
        token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else ""
        self.slack_client = make_client(
            token, settings.slack_api_url, observe_retry=self.metrics.slack_retries.inc
        )
        self.chat = SlackGateway(self.slack_client, observe=self.metrics.observe_slack_call)
        self.links = PageLinks(settings.public_url, settings.web_secret, clock)
        retry = RetryPolicy(tuning.delivery_attempts, tuning.backoff_base, tuning.backoff_cap)
        self.intake = AlertIntake(self.store, self.catalog, clock, self.metrics, retry)
        self.intake.before_pass = self.group_commit.forget_unprocessed
        self.worker = SlackWorker(
            self.store, self.chat, self.catalog, clock,
            backoff_base=tuning.backoff_base, backoff_cap=tuning.backoff_cap,
            owner=socket.gethostname(),  # a restarted container keeps its pod's host name
        )  # fmt: skip
        incident = self.catalog.incident
        self.reminders = ReminderWorker(self.store, clock, ReminderPolicy(
            status_update_minutes=incident.status_update_minutes,
            no_commander_minutes=incident.no_commander_minutes,
        ))  # fmt: skip
        self.retention = RetentionWorker(self.store, clock, RetentionPolicy(
            webhook_days=settings.retention_webhook_days,
            slack_event_days=settings.retention_slack_event_days,
        ))  # fmt: skip
        self.background = BackgroundWork(
            self.intake, self.worker, poll_interval=tuning.poll_interval,
            periodic=[
                (self.reminders.run_due, tuning.reminder_poll),
                (self.retention.run_due, tuning.retention_poll),
            ],
        )  # fmt: skip
        self.incidents = IncidentService(self.store, self.catalog, clock, self.background.wake_jobs)
        self.capture = Capture(self.store, self.chat, clock)
        self.images = ImageKeeper(self.store, self.chat, settings.slack_api_url, clock)
        if settings.web_enabled:  # the copies are for the incident page
            self.capture.images = self.images
        self.tasks = TaskSet()
        self.kubernetes_api = api_client_from_environment(settings.kubeconfig)
        kubernetes = (
            KubernetesSource(self.kubernetes_api, timeout=tuning.backend_timeout)
            if self.kubernetes_api is not None
            else None
        )
        self.rollback = RollbackService(
            self.store, self.chat, kubernetes, self.catalog, clock,
            watch_interval=tuning.rollout_poll,
        )  # fmt: skip
        self.worker.page_link = self.links.slack_line
        self.worker.suspect = SuspectedDeploy(self.store, kubernetes, self.catalog, clock).blocks
        alertmanager = (
            AlertmanagerAPI(settings.alertmanager_url, timeout=tuning.backend_timeout)
            if settings.alertmanager_url
            else None
        )
        self.status = StatusService(
            self.catalog,
            PrometheusSource(
                settings.prometheus_url,
                timeout=tuning.backend_timeout,
                verify=settings.prometheus_verify,
            ),
            kubernetes,
            alertmanager,
            clock,
            timeout=tuning.backend_timeout,
        )
        self.similar = SimilarIncidents(self.store, clock, page_url=self.links.incident_url)
        self.worker.seen_before = self.similar.seen_before_blocks
        self.silences = SilenceService(self.store, self.chat, alertmanager, self.catalog, clock)
        self.worker.silence_button = alertmanager is not None
        self.incidents.on_resolved.append(
            lambda incident, actor: self.tasks.spawn(
                self.silences.expire_on_resolve(incident, actor), name="expire silences"
            )
        )
        self.commands = CommandDeps(
            store=self.store, chat=self.chat, catalog=self.catalog, clock=clock,
            metrics=self.metrics, status=self.status, rollback=self.rollback, tasks=self.tasks,
            default_namespace=current_namespace(settings.kubeconfig),
        )  # fmt: skip
        self.incident_deps = IncidentDeps(
            store=self.store, chat=self.chat, service=self.incidents, clock=clock,
            reminders=self.reminders, tasks=self.tasks,
            silence=SilenceDeps(self.store, self.chat, self.silences, clock, self.tasks),
            similar=self.similar,
        )  # fmt: skip
        self.reports = Reports(
            self.store, self.catalog, clock,
            prometheus=self.status.prometheus, timeout=tuning.backend_timeout,
            template_path=self.catalog.postmortem_template,
            people=PeopleDirectory(self.store, self.chat, clock),
        )  # fmt: skip
        self.reports.previous = self.similar.previous_occurrences
        self.incident_deps.timeline_file = self.reports.timeline_file
        self.reports.curator.chat = self.chat  # reviewers' e-mails to Slack users, for the audit
        self.live = LiveTimeline(self.store, poll=tuning.live_poll)
        self.incident_deps.page_link = self.links.slack_line
        self.incident_deps.postmortem_file = self.reports.postmortem_file
        self.bolt: AsyncApp | None = None
        self.socket: SocketMode | None = None
        if settings.slack_app_token is None:
            secret = settings.slack_signing_secret
            self.bolt = self.make_bolt(secret.get_secret_value() if secret else None)
        else:
            self.socket = SocketMode(
                self.make_bolt(None), settings.slack_app_token.get_secret_value(),
                claims=EnvelopeClaims(self.store, clock), metrics=self.metrics,
                ping_interval=tuning.socket_ping,
            )  # fmt: skip
        self.web_app = make_web_app(
            WebDeps(
                deliveries=self.group_commit,
                store=self.store, background=self.background, metrics=self.metrics,
                clock=clock, bolt=self.bolt, webhook_token=settings.alertmanager_webhook_token,
                max_body_bytes=settings.max_body_bytes,
                slack_signing_secret=settings.slack_signing_secret if self.bolt else None,
                api=ApiDeps(self.reports, settings.api_token),
                pages=PageDeps(
                    self.reports, clock, settings.web_secret, settings.web_auth_user_header,
                    parse_networks(settings.web_trusted_proxies), live=self.live,
                    images=self.images,
                ),
                slack_socket=self.socket.is_connected if self.socket else None,
            )
        )  # fmt: skip
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

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
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1] if sockets else port
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
