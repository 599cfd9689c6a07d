"""`incident-bot check`: is each dependency configured, reachable and allowing what the bot does?

Every check returns rows of `CheckResult` (OK / PROBLEM / SKIPPED, a detail, how to fix);
the dependencies are checked concurrently, each step under its own deadline, blocking
clients (Kubernetes, Prometheus) off the event loop. Nothing here prints a secret: tokens
are never shown, and passwords in URLs are masked.

`REQUIRED_BOT_SCOPES` is the one table of which Slack Web API method needs which bot
scope: `check` compares the token's scopes with `BOT_SCOPES`, and
`tests/test_slack_manifest.py` proves that `BOT_SCOPES` and the scopes in
`slack-app-manifest.yaml` are exactly those of the methods the code calls and the events
it subscribes to.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import sqlalchemy as sa
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException
from slack_sdk.errors import SlackApiError

from bot.core.status_report import service_queries
from bot.db import is_migrated, make_engine
from bot.settings import Catalog, ConfigError, Settings, async_database_url, load_catalog
from integrations.kubernetes import api_client_from_environment
from integrations.prometheus import PrometheusQueryError, PrometheusSource, PrometheusUnavailable
from integrations.slack import make_client

Outcome = Literal["OK", "PROBLEM", "SKIPPED"]
OK: Outcome = "OK"
PROBLEM: Outcome = "PROBLEM"
SKIPPED: Outcome = "SKIPPED"

DEFAULT_TIMEOUT = 10.0

# -- Slack: which Web API method needs which bot scope ----------------------------------

# Web API method -> the bot token scopes it needs (empty: none). Incident channels are
# public (conversations.create without is_private), so channel management is
# `channels:manage` only; `groups:write` would be needed to manage private channels.
# History is read in public and private channels alike (a team may convert an incident
# channel to private), matching the message.channels + message.groups subscriptions.
# Methods not called yet are listed so that the next one used needs no lookup; the
# manifest asks only for the scopes of the methods the code really calls.
REQUIRED_BOT_SCOPES: Mapping[str, tuple[str, ...]] = {
    "auth.test": (),
    "chat.postMessage": ("chat:write",),
    "chat.postEphemeral": ("chat:write",),
    "chat.update": ("chat:write",),
    "chat.delete": ("chat:write",),
    "chat.getPermalink": (),
    "conversations.create": ("channels:manage",),
    "conversations.setTopic": ("channels:manage",),
    "conversations.setPurpose": ("channels:manage",),
    "conversations.invite": ("channels:manage",),
    "conversations.archive": ("channels:manage",),
    "conversations.unarchive": ("channels:manage",),
    "conversations.rename": ("channels:manage",),
    "conversations.join": ("channels:join",),
    "conversations.info": ("channels:read",),
    "conversations.members": ("channels:read",),
    "conversations.list": ("channels:read",),
    "conversations.history": ("channels:history", "groups:history"),
    "conversations.replies": ("channels:history", "groups:history"),
    "conversations.open": ("im:write",),
    "usergroups.list": ("usergroups:read",),
    "usergroups.users.list": ("usergroups:read",),
    "users.info": ("users:read",),
    "users.list": ("users:read",),
    "users.lookupByEmail": ("users:read.email",),
    "pins.add": ("pins:write",),
    "pins.remove": ("pins:write",),
    "pins.list": ("pins:read",),
    "reactions.add": ("reactions:write",),
    "reactions.remove": ("reactions:write",),
    "reactions.get": ("reactions:read",),
    "reactions.list": ("reactions:read",),
    "files.getUploadURLExternal": ("files:write",),
    "files.completeUploadExternal": ("files:write",),
    "files.info": ("files:read",),
    "bookmarks.add": ("bookmarks:write",),
    "bookmarks.list": ("bookmarks:read",),
    "views.open": (),
    "views.update": (),
    "views.push": (),
    "views.publish": (),
}

# Events API subscriptions (slack-app-manifest.yaml, settings.event_subscriptions.bot_events)
# -> the scope Slack requires for each.
REQUIRED_EVENT_SCOPES: Mapping[str, str] = {
    "pin_added": "pins:read",
    "pin_removed": "pins:read",
    "reaction_added": "reactions:read",
    "reaction_removed": "reactions:read",
    "message.channels": "channels:history",
    "message.groups": "groups:history",
    "app_mention": "app_mentions:read",
    "member_joined_channel": "channels:read",
}

# Slash commands and shortcuts need `commands`, which no Web API method asks for.
COMMANDS_SCOPE = "commands"

# What the bot asks for: exactly oauth_config.scopes.bot of slack-app-manifest.yaml
# (tests/test_slack_manifest.py keeps the two equal, and both equal to what the code uses).
BOT_SCOPES: tuple[str, ...] = (
    "channels:history",
    "channels:manage",
    "chat:write",
    "commands",
    "files:write",
    "groups:history",
    "pins:read",
    "pins:write",
    "reactions:read",
    "usergroups:read",
)

SLACK_SCOPES_HEADER = "x-oauth-scopes"

# -- Kubernetes: what /status and /rollback do in each namespace --------------------------

RBAC_DOC = "helm/incident-bot/templates/rbac.yaml"


@dataclass(frozen=True)
class Permission:
    verb: str
    resource: str
    group: str = ""
    subresource: str = ""

    def __str__(self) -> str:
        name = f"{self.resource}/{self.subresource}" if self.subresource else self.resource
        return f"{self.verb} {name}"


# Exactly the Role the Helm chart grants per namespace.
KUBERNETES_PERMISSIONS: tuple[Permission, ...] = (
    *(Permission(v, "deployments", "apps") for v in ("get", "list", "watch", "patch")),
    *(Permission(v, "replicasets", "apps") for v in ("get", "list")),
    *(Permission(v, "pods") for v in ("get", "list")),
    Permission("get", "pods", subresource="log"),
    Permission("list", "events"),
)


# -- results -----------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckResult:
    check: str
    result: Outcome
    detail: str
    fix: str = ""

    def to_json(self) -> dict[str, str]:
        return asdict(self)


def ok(check: str, detail: str) -> CheckResult:
    return CheckResult(check, OK, detail)


def problem(check: str, detail: str, fix: str) -> CheckResult:
    return CheckResult(check, PROBLEM, detail, fix)


def skipped(check: str, detail: str) -> CheckResult:
    return CheckResult(check, SKIPPED, detail)


def has_problem(results: Iterable[CheckResult]) -> bool:
    return any(r.result == PROBLEM for r in results)


def mask_url(url: str) -> str:
    """The URL with any password replaced by ***, for display."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(unparsable URL)"
    if parts.password is None:
        return url
    userinfo = f"{parts.username or ''}:***@"
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=userinfo + host))


def mask_database_url(url: str) -> str:
    try:
        return sa.make_url(url).render_as_string(hide_password=True)
    except Exception:  # a URL SQLAlchemy cannot read: show only its scheme
        return url.split("://", 1)[0] + "://..."


def _one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__


_ERRNO = re.compile(r"\[Errno -?\d+\] ([^'\"()\]]+)")
_MAX_REASON = 300


def reason(error: BaseException) -> str:
    """Why a request failed, short: "connection refused", not three nested exceptions."""
    if isinstance(error, TimeoutError):
        return "no answer in time"
    if isinstance(error, aiohttp.ClientConnectorError):
        error = error.os_error
    text = str(error)
    if found := _ERRNO.search(text):
        return found.group(1).strip().lower()
    if "timed out" in text.lower():
        return "no answer in time"
    line = text.strip().splitlines()[0] if text.strip() else type(error).__name__
    return line if len(line) <= _MAX_REASON else line[: _MAX_REASON - 3] + "..."


async def _within(
    timeout: float, step: Awaitable[list[CheckResult]], on_timeout: Callable[[], CheckResult]
) -> list[CheckResult]:
    try:
        async with asyncio.timeout(timeout):
            return await step
    except TimeoutError:
        return [on_timeout()]


# -- config ------------------------------------------------------------------------------


def check_settings(settings: Settings, *, insecure_webhook: bool = False) -> CheckResult:
    name = "config: settings"
    try:
        settings.require_for_serve(insecure_webhook=insecure_webhook)
    except ConfigError as e:
        return problem(
            name, str(e), "set it in the environment (with Helm: in the Secret the chart uses)"
        )
    mode = "Socket Mode" if settings.slack_app_token is not None else "HTTP mode"
    webhook = (
        "webhook token set"
        if settings.alertmanager_webhook_token is not None
        else "webhook without a token (--insecure-webhook)"
    )
    return ok(name, f"Slack tokens set ({mode}), {webhook}")


def check_catalog(settings: Settings) -> tuple[Catalog | None, CheckResult]:
    name = "config: catalog"
    path = settings.incident_bot_config
    try:
        catalog = load_catalog(path)
    except ConfigError as e:
        return None, problem(
            name, str(e), "fix the file INCIDENT_BOT_CONFIG names, at the key shown"
        )
    if path is None:
        return catalog, ok(name, "INCIDENT_BOT_CONFIG not set: no services, rollback off")
    namespaces = ", ".join(catalog.rollback.namespaces) or "none"
    services = ", ".join(catalog.services) or "none"
    return catalog, ok(name, f"{path}: services {services}; rollback namespaces {namespaces}")


# -- Slack -------------------------------------------------------------------------------


def _header(headers: Any, name: str) -> str | None:
    for key, value in dict(headers or {}).items():
        if str(key).lower() == name:
            return str(value[0] if isinstance(value, list) else value)
    return None


async def check_slack(settings: Settings, *, timeout: float) -> list[CheckResult]:
    auth, scopes = "slack: auth.test", "slack: scopes"
    token = settings.slack_bot_token
    if token is None:
        return [
            skipped(auth, "SLACK_BOT_TOKEN is not set"),
            skipped(scopes, "SLACK_BOT_TOKEN is not set"),
        ]
    api = mask_url(settings.slack_api_url)
    client = make_client(token.get_secret_value(), settings.slack_api_url)
    client.timeout = max(1, int(timeout))
    client.retry_handlers = []  # one honest try: the answer is the report
    try:
        async with asyncio.timeout(timeout):
            response = await client.auth_test()
    except SlackApiError as e:
        error = str(e.response.get("error", "")) if e.response is not None else ""
        status = getattr(e.response, "status_code", 200)
        if error in ("invalid_auth", "not_authed", "account_inactive", "token_revoked"):
            fix = (
                "SLACK_BOT_TOKEN is wrong or revoked: copy the Bot User OAuth Token "
                "(OAuth & Permissions, xoxb-...) of the installed app"
            )
        else:
            fix = f"Slack at {api} refused auth.test; check SLACK_API_URL and Slack's status"
        detail = f"auth.test failed: {error or f'HTTP {status}'}"
        return [problem(auth, detail, fix), skipped(scopes, "auth.test failed")]
    except (aiohttp.ClientError, TimeoutError, OSError) as e:
        return [
            problem(
                auth,
                f"Slack API at {api} unreachable: {reason(e)}",
                "check SLACK_API_URL, the network and any proxy between the bot and Slack",
            ),
            skipped(scopes, "Slack unreachable"),
        ]
    data = response.data if isinstance(response.data, dict) else {}
    who = f"bot @{data.get('user', '?')} ({data.get('user_id', '?')})"
    where = f"team {data.get('team', '?')} ({data.get('team_id', '?')})"
    rows = [ok(auth, f"{who} in {where}")]
    header = _header(response.headers, SLACK_SCOPES_HEADER)
    if header is None:
        rows.append(skipped(scopes, "Slack did not report the token's scopes (X-OAuth-Scopes)"))
        return rows
    granted = {s.strip() for s in header.split(",") if s.strip()}
    missing = [s for s in BOT_SCOPES if s not in granted]
    if missing:
        rows.append(
            problem(
                scopes,
                f"the token lacks {', '.join(missing)}",
                "add them under OAuth & Permissions > Bot Token Scopes (or update the app "
                "from slack-app-manifest.yaml), then reinstall the app to the workspace",
            )
        )
    else:
        extra = sorted(granted - set(BOT_SCOPES))
        unused = f"; granted but unused: {', '.join(extra)}" if extra else ""
        rows.append(ok(scopes, f"all {len(BOT_SCOPES)} scopes the bot uses{unused}"))
    return rows


# -- Prometheus --------------------------------------------------------------------------


async def check_prometheus(
    settings: Settings, catalog: Catalog | None, *, timeout: float
) -> list[CheckResult]:
    name = "prometheus: reachable"
    url = mask_url(settings.prometheus_url)
    source = PrometheusSource(settings.prometheus_url, timeout=timeout)
    try:
        async with asyncio.timeout(timeout):
            await source.instant("vector(1)")
    except (PrometheusUnavailable, PrometheusQueryError, TimeoutError) as e:
        fix = f"start Prometheus or set PROMETHEUS_URL (now {url})"
        return [
            problem(name, f"{url}: {reason(e)}", fix),
            skipped("prometheus: queries", "Prometheus unreachable"),
        ]
    rows = [ok(name, f"{url} answers queries")]
    if catalog is None:
        return [*rows, skipped("prometheus: queries", "the catalog did not load")]
    if not catalog.services:
        return [*rows, skipped("prometheus: queries", "no services in the catalog")]
    checks = [
        _check_service_queries(source, service, config.queries.model_dump(), timeout)
        for service, config in catalog.services.items()
    ]
    for found in await asyncio.gather(*checks):
        rows += found
    return rows


async def _check_service_queries(
    source: PrometheusSource, service: str, overrides: Mapping[str, str | None], timeout: float
) -> list[CheckResult]:
    queries = service_queries(service, overrides)

    async def one(key: str, query: str) -> tuple[str, str, str | None, bool]:
        """(key, query, error or None, has data)"""
        try:
            async with asyncio.timeout(timeout):
                samples = await source.instant(query)
        except PrometheusQueryError as e:
            return key, query, e.message, False
        except (PrometheusUnavailable, TimeoutError) as e:
            return key, query, reason(e), False
        return key, query, None, bool(samples)

    answers = await asyncio.gather(*(one(k, q) for k, q in queries.items()))
    rows: list[CheckResult] = []
    for key, query, error, _ in answers:
        if error is not None:
            rows.append(
                problem(
                    f"prometheus: services.{service}.queries.{key}",
                    f"{error}; query: {query}",
                    f"fix services.{service}.queries.{key} in INCIDENT_BOT_CONFIG",
                )
            )
    if not rows:
        empty = [key for key, _, _, data in answers if not data]
        note = f" (no data yet for {', '.join(empty)})" if empty else ""
        rows.append(ok(f"prometheus: services.{service}", f"{len(answers)} queries evaluate{note}"))
    return rows


# -- Kubernetes --------------------------------------------------------------------------


def _kubernetes_namespaces(catalog: Catalog) -> list[str]:
    namespaces = set(catalog.rollback.namespaces)
    namespaces |= {s.namespace for s in catalog.services.values() if s.deployment}
    return sorted(namespaces)


def _api_error(e: ApiException) -> str:
    message = str(e.reason or "")
    body = e.body.decode() if isinstance(e.body, bytes) else e.body
    if body:
        with contextlib.suppress(ValueError, AttributeError):
            message = str(json.loads(body).get("message", message))
    return f"HTTP {e.status}: {message}"


async def check_kubernetes(
    settings: Settings, catalog: Catalog | None, *, timeout: float
) -> list[CheckResult]:
    name = "kubernetes: reachable"
    needed = _kubernetes_namespaces(catalog) if catalog is not None else []
    api = await asyncio.to_thread(api_client_from_environment, settings.kubeconfig)
    if api is None:
        detail = (
            f"no usable kubeconfig at KUBECONFIG {settings.kubeconfig}"
            if settings.kubeconfig
            else "not in a pod and no kubeconfig (~/.kube/config) found"
        )
        if not needed:
            return [skipped(name, f"{detail}; the catalog names no namespace")]
        return [
            problem(
                name,
                detail,
                "set KUBECONFIG to a kubeconfig file, or run in the cluster with the chart's "
                "ServiceAccount",
            ),
            skipped("kubernetes: RBAC", "Kubernetes not configured"),
        ]
    try:
        return await _check_cluster(api, needed, timeout=timeout)
    finally:
        api.close()


async def _check_cluster(api: Any, namespaces: list[str], *, timeout: float) -> list[CheckResult]:
    name = "kubernetes: reachable"
    host = mask_url(str(api.configuration.host))
    try:
        async with asyncio.timeout(timeout):
            version = await asyncio.to_thread(
                lambda: k8s.VersionApi(api).get_code(_request_timeout=timeout)
            )
    except Exception as e:  # refused, unreachable, timed out, or a TLS problem
        if isinstance(e, ApiException):
            why = _api_error(e)
            fix = (
                "the API server refused the credentials: refresh the kubeconfig's token"
                if e.status == 401
                else f"check the API server at {host}"
            )
        else:
            why = reason(e)
            fix = f"check the API server address ({host}), the network, or KUBECONFIG"
        return [
            problem(name, f"{host}: {why}", fix),
            skipped("kubernetes: RBAC", "Kubernetes unreachable"),
        ]
    rows = [ok(name, f"{host}, Kubernetes {getattr(version, 'git_version', '?')}")]
    if not namespaces:
        return [*rows, skipped("kubernetes: RBAC", "the catalog names no namespace")]
    checks = [_check_rbac(api, namespace, timeout) for namespace in namespaces]
    for found in await asyncio.gather(*checks):
        rows.append(found)
    return rows


async def _check_rbac(api: Any, namespace: str, timeout: float) -> CheckResult:
    name = f"kubernetes: RBAC in {namespace}"
    authorization = k8s.AuthorizationV1Api(api)

    def review(permission: Permission) -> bool:
        body = k8s.V1SelfSubjectAccessReview(
            spec=k8s.V1SelfSubjectAccessReviewSpec(
                resource_attributes=k8s.V1ResourceAttributes(
                    namespace=namespace,
                    verb=permission.verb,
                    group=permission.group,
                    resource=permission.resource,
                    subresource=permission.subresource or None,
                )
            )
        )
        answer = authorization.create_self_subject_access_review(body, _request_timeout=timeout)
        return bool(answer.status and answer.status.allowed)

    async def allowed(permission: Permission) -> bool:
        return await asyncio.to_thread(review, permission)

    try:
        async with asyncio.timeout(timeout):
            answers = await asyncio.gather(*(allowed(p) for p in KUBERNETES_PERMISSIONS))
    except Exception as e:  # refused, unreachable, timed out
        why = _api_error(e) if isinstance(e, ApiException) else reason(e)
        return problem(
            name,
            f"SelfSubjectAccessReview failed: {why}",
            "check that the API server answers and the credentials are valid",
        )
    missing = [str(p) for p, yes in zip(KUBERNETES_PERMISSIONS, answers, strict=True) if not yes]
    if not missing:
        return ok(name, f"all {len(KUBERNETES_PERMISSIONS)} permissions /status and /rollback use")
    return problem(
        name,
        f"cannot {', '.join(missing)}",
        f"grant it in the Role in namespace {namespace}, see {RBAC_DOC}",
    )


# -- database ----------------------------------------------------------------------------


def _missing_sqlite_file(database_url: str) -> str | None:
    """The path of a SQLite database file that does not exist (connecting would create it)."""
    try:
        url = sa.make_url(async_database_url(database_url))
    except Exception:
        return None
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return None if Path(url.database).exists() else url.database


async def check_database(settings: Settings, *, timeout: float) -> list[CheckResult]:
    name = "database"
    shown = mask_database_url(settings.database_url)
    fix = "run incident-bot serve once (it migrates) or check DATABASE_URL"
    missing = _missing_sqlite_file(settings.database_url)
    if missing is not None:
        return [problem(name, f"{shown}: no database file at {missing}", fix)]
    try:
        engine = make_engine(settings.database_url)
    except Exception as e:
        return [problem(name, f"{shown}: {_one_line(e)}", "check DATABASE_URL")]
    try:
        async with asyncio.timeout(timeout):
            migrated = await is_migrated(engine)
    except Exception as e:  # the driver's own errors: refused, auth, unknown database...
        why = reason(e) if isinstance(e, TimeoutError | OSError) else _one_line(e)
        return [
            problem(name, f"{shown}: {why}", "check DATABASE_URL and that the database answers")
        ]
    finally:
        await engine.dispose()
    if not migrated:
        return [problem(name, f"{shown}: reachable, but not at the newest migration", fix)]
    return [ok(name, f"{shown}: reachable, at the newest migration")]


# -- all of it ---------------------------------------------------------------------------


async def run_checks(
    settings: Settings,
    *,
    insecure_webhook: bool = False,
    timeout: float = DEFAULT_TIMEOUT,
    progress: Callable[[str], None] | None = None,
) -> list[CheckResult]:
    """Every check, dependencies concurrently; rows in a fixed order."""
    catalog, catalog_row = check_catalog(settings)
    rows = [check_settings(settings, insecure_webhook=insecure_webhook), catalog_row]
    # Each step has its own deadline; this outer one only guards against a hung step.
    outer = timeout * 3

    def late(check: str) -> Callable[[], CheckResult]:
        return lambda: problem(check, f"no answer within {outer:.0f} s", "see the other rows")

    async def step(label: str, work: Awaitable[list[CheckResult]]) -> list[CheckResult]:
        found = await _within(outer, work, late(label))
        if progress is not None:
            progress(label)
        return found

    groups = await asyncio.gather(
        step("slack", check_slack(settings, timeout=timeout)),
        step("prometheus", check_prometheus(settings, catalog, timeout=timeout)),
        step("kubernetes", check_kubernetes(settings, catalog, timeout=timeout)),
        step("database", check_database(settings, timeout=timeout)),
    )
    for group in groups:
        rows += group
    return rows
