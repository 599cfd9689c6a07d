"""`incident-bot check`: is each dependency configured, reachable and allowing what the bot does?

Every check returns rows of `CheckResult` (OK / PROBLEM / SKIPPED, a detail, how to fix);
the dependencies are checked concurrently, each step under its own deadline, blocking
clients (Kubernetes, Prometheus) off the event loop. Nothing here prints a secret: tokens
are never shown, and passwords in URLs are masked.

The parts live in small modules and are re-exported here, so `bot.cli.check.checks` stays the one
name to import: the result rows in `bot.cli.check.results`, the Slack scope tables
(`REQUIRED_BOT_SCOPES`, `REQUIRED_EVENT_SCOPES`, `COMMANDS_SCOPE`, `BOT_SCOPES`) in
`bot.slack.scopes`, the Kubernetes and RBAC checks in `bot.cli.check.kubernetes`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError

from bot.cli.check.deliveries import check_deliveries
from bot.cli.check.kubernetes import (
    KUBERNETES_PERMISSIONS,
    RBAC_DOC,
    Permission,
    check_kubernetes,
)
from bot.cli.check.results import (
    OK,
    PROBLEM,
    SKIPPED,
    WARNING,
    CheckResult,
    Outcome,
    has_problem,
    mask_database_url,
    mask_url,
    ok,
    problem,
    reason,
    skipped,
    warning,
)
from bot.cli.check.slack_mode import check_slack_mode
from bot.core.status_report import service_queries
from bot.settings import Catalog, ConfigError, Settings, load_catalog
from bot.slack.scopes import BOT_SCOPES, COMMANDS_SCOPE, REQUIRED_BOT_SCOPES, REQUIRED_EVENT_SCOPES
from bot.storage.db import Schema, make_engine, schema_state
from integrations.prometheus import PrometheusQueryError, PrometheusSource, PrometheusUnavailable
from integrations.slack import make_client

__all__ = [
    "BOT_SCOPES",
    "COMMANDS_SCOPE",
    "DEFAULT_TIMEOUT",
    "KUBERNETES_PERMISSIONS",
    "OK",
    "PROBLEM",
    "RBAC_DOC",
    "REQUIRED_BOT_SCOPES",
    "REQUIRED_EVENT_SCOPES",
    "SKIPPED",
    "SLACK_SCOPES_HEADER",
    "WARNING",
    "CheckResult",
    "Outcome",
    "Permission",
    "check_catalog",
    "check_database",
    "check_kubernetes",
    "check_prometheus",
    "check_settings",
    "check_slack",
    "check_web",
    "has_problem",
    "mask_database_url",
    "mask_url",
    "ok",
    "problem",
    "reason",
    "run_checks",
    "skipped",
]

DEFAULT_TIMEOUT = 10.0


# -- config ------------------------------------------------------------------------------


def check_settings(settings: Settings, *, insecure_webhook: bool = False) -> CheckResult:
    name = "config: settings"
    problems = settings.problems_for_serve(insecure_webhook=insecure_webhook)
    if problems:
        fix = "set them in the environment (with Helm: in the Secret the chart uses)"
        return problem(
            name, "; ".join(problems), fix if len(problems) > 1 else fix.replace("them", "it")
        )
    mode = "Socket Mode" if settings.slack_app_token is not None else "HTTP mode"
    if settings.alertmanager_webhook_token is None:
        return warning(
            name,
            f"Slack tokens set ({mode}); the webhook takes anyone's alerts (--insecure-webhook)",
            "set ALERTMANAGER_WEBHOOK_TOKEN and the same bearer token in Alertmanager",
        )
    return ok(name, f"Slack tokens set ({mode}), webhook token set")


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


def check_web(settings: Settings) -> CheckResult:
    """The incident pages: off, misconfigured, or where links point and who signs in."""
    name = "config: incident pages"
    if not settings.web_enabled:
        return skipped(name, "off: WEB_SECRET is not set (set it, and PUBLIC_URL, to turn on)")
    found = settings.web_problem()
    if found is not None:
        return problem(name, found, "fix the setting named, or unset WEB_SECRET to turn them off")
    if not settings.public_url:
        return problem(
            name,
            "WEB_SECRET is set but PUBLIC_URL is not: no link can be posted in Slack",
            "set PUBLIC_URL to the address people's browsers reach the bot at",
        )
    people = (
        f"signed-in people from header {settings.web_auth_user_header} "
        f"(proxies {settings.web_trusted_proxies})"
        if settings.web_auth_user_header
        else "read-only links only (no WEB_AUTH_USER_HEADER: nobody can curate)"
    )
    return ok(name, f"links on {mask_url(settings.public_url)}/incidents/...; {people}")


# -- Slack -------------------------------------------------------------------------------

SLACK_SCOPES_HEADER = "x-oauth-scopes"


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
    source = PrometheusSource(
        settings.prometheus_url, timeout=timeout, verify=settings.prometheus_verify
    )
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
    if settings.prometheus_insecure_skip_verify and url.startswith("https"):
        rows.append(
            warning(
                "prometheus: TLS",
                "certificate NOT verified (PROMETHEUS_INSECURE_SKIP_VERIFY=true)",
                "set PROMETHEUS_CA_FILE to the CA that signed it, and unset the skip",
            )
        )
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


# -- database ----------------------------------------------------------------------------


def _one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__


async def check_database(settings: Settings, *, timeout: float) -> list[CheckResult]:
    """OK before the first `serve` too: a missing or empty database is what `serve` creates."""
    name = "database"
    shown = mask_database_url(settings.database_url)
    try:
        engine = make_engine(settings.database_url)
    except Exception as e:
        return [problem(name, f"{shown}: {_one_line(e)}", "check DATABASE_URL")]
    try:
        async with asyncio.timeout(timeout):
            state = await schema_state(settings.database_url, engine)
    except Exception as e:  # the driver's own errors: refused, auth, unknown database...
        why = reason(e) if isinstance(e, TimeoutError | OSError) else _one_line(e)
        return [
            problem(name, f"{shown}: {why}", "check DATABASE_URL and that the database answers")
        ]
    finally:
        await engine.dispose()
    detail = state.describe(shown)
    if state.schema is Schema.AHEAD:
        return [problem(name, detail, "run the incident-bot version that wrote this database")]
    if state.schema in (Schema.MISSING, Schema.EMPTY, Schema.BEHIND):
        return [ok(name, f"{detail}; created and migrated by `incident-bot serve`")]
    return [ok(name, detail)]


# -- all of it ---------------------------------------------------------------------------


async def _within(
    timeout: float, step: Awaitable[list[CheckResult]], on_timeout: Callable[[], CheckResult]
) -> list[CheckResult]:
    try:
        async with asyncio.timeout(timeout):
            return await step
    except TimeoutError:
        return [on_timeout()]


async def run_checks(
    settings: Settings,
    *,
    insecure_webhook: bool = False,
    timeout: float = DEFAULT_TIMEOUT,
    progress: Callable[[str], None] | None = None,
) -> list[CheckResult]:
    """Every check, dependencies concurrently; rows in a fixed order."""
    catalog, catalog_row = check_catalog(settings)
    rows = [
        check_settings(settings, insecure_webhook=insecure_webhook),
        catalog_row,
        check_web(settings),
    ]
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
        step("slack mode", check_slack_mode(settings, timeout=timeout)),
        step("prometheus", check_prometheus(settings, catalog, timeout=timeout)),
        step("kubernetes", check_kubernetes(settings, catalog, timeout=timeout)),
        step("database", check_database(settings, timeout=timeout)),
    )
    for group in groups:
        rows += group
    database_ready = all(r.result == OK for r in groups[4])
    rows += await step(
        "deliveries",
        check_deliveries(settings, timeout=timeout, database_ready=database_ready),
    )
    return rows
