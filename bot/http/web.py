"""The aiohttp server: Slack events, the Alertmanager webhook, probes, metrics.

Errors are JSON `{"error", "detail"}`; bad input never becomes a 500.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import structlog
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import SecretStr
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.signature import SignatureVerifier

from bot.clock import Clock
from bot.core.alerts import PayloadError, decode_body, parse_notification
from bot.http.api import ApiDeps, add_api_routes
from bot.http.pages import PageDeps, add_page_routes
from bot.metrics import BotMetrics
from bot.storage.db import is_migrated
from bot.storage.group_commit import GroupCommit
from bot.storage.store import IncidentStore
from bot.workers.background import BackgroundWork

log = structlog.get_logger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class WebDeps:
    store: IncidentStore
    deliveries: GroupCommit
    background: BackgroundWork
    metrics: BotMetrics
    clock: Clock
    bolt: AsyncApp | None
    webhook_token: SecretStr | None
    max_body_bytes: int = 1024 * 1024
    api: ApiDeps | None = None  # the read-only /api/v1 routes
    pages: PageDeps | None = None  # the incident pages, /incidents
    # Socket Mode: whether a socket to Slack is up (None in HTTP mode).
    slack_socket: Callable[[], Awaitable[bool]] | None = None
    slack_signing_secret: SecretStr | None = None  # checked on the raw bytes, before parsing


def error(status: int, error: str, detail: str) -> web.Response:
    return web.json_response({"error": error, "detail": detail}, status=status)


def bearer_ok(header: str | None, token: SecretStr | None) -> bool:
    if token is None:
        return True  # --insecure-webhook: the operator chose no token
    expected = token.get_secret_value().encode()
    if not expected.strip():
        return False  # an empty token would accept `Authorization: Bearer `
    scheme, _, value = (header or "").partition(" ")
    # aiohttp keeps undecodable header bytes as surrogates; they simply do not match.
    given = value.strip().encode("utf-8", "surrogateescape")
    return scheme.lower() == "bearer" and hmac.compare_digest(given, expected)


async def read_limited(request: web.Request, limit: int) -> bytes | None:
    """The whole body, or None as soon as it is over `limit` (read no further than that).

    `request.content.read(n)` answers with what has arrived so far, which for a large
    or chunked body is only its start: keep reading until the end of the body.
    """
    if request.content_length is not None and request.content_length > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    while chunk := await request.content.read(limit + 1 - size):
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            return None
    return b"".join(chunks)


def slack_signed(verifier: SignatureVerifier, body: bytes, headers: Mapping[str, str]) -> bool:
    """Slack's signature and its 5-minute freshness, on the bytes as they came."""
    try:
        return verifier.is_valid(
            body=body,
            timestamp=headers.get("X-Slack-Request-Timestamp"),
            signature=headers.get("X-Slack-Signature"),
        )
    except (ValueError, TypeError):  # a timestamp that is no number, a non-ASCII signature
        return False


def slack_shape_problem(body: Any) -> str | None:
    """What a signed Slack request lacks that every listener relies on (None: nothing).

    Slack always sends these; a body without them is not from Slack as it is documented,
    and is refused whole rather than failing inside a listener.
    """
    if not isinstance(body, dict):
        return "a Slack payload is a JSON object or form fields"
    if "command" in body:
        return _missing(body, ("command", "user_id", "channel_id"), "slash command")
    kind = body.get("type")
    if kind == "event_callback":
        event = body.get("event")
        if not isinstance(event, dict) or not isinstance(event.get("type"), str):
            return "event_callback without an event object and its type"
    if kind in ("block_actions", "view_submission", "shortcut", "message_action"):
        user = body.get("user")
        if not isinstance(user, dict) or not isinstance(user.get("id"), str):
            return f"{kind} without user.id"
        actions = body.get("actions", [])
        if not isinstance(actions, list) or not all(
            isinstance(a, dict) and isinstance(a.get("action_id"), str) for a in actions
        ):
            return f"{kind} with actions that are not objects with an action_id"
    return None


def _missing(body: dict[str, Any], keys: tuple[str, ...], what: str) -> str | None:
    absent = [k for k in keys if not isinstance(body.get(k), str) or not body.get(k)]
    return f"{what} without {', '.join(absent)}" if absent else None


def _accepted(delivery: int) -> web.Response:
    """`json_response({"status": "accepted", "delivery": delivery})`, its bytes made directly:
    the one answer of the hot path, thousands of times a second in a storm."""
    return web.Response(
        body=b'{"status": "accepted", "delivery": %d}' % delivery,
        content_type="application/json",
        charset="utf-8",
    )


class Routes:
    def __init__(self, deps: WebDeps) -> None:
        self.deps = deps
        secret = deps.slack_signing_secret
        self.slack_verifier = SignatureVerifier(secret.get_secret_value()) if secret else None

    async def alertmanager(self, request: web.Request) -> web.Response:
        deps = self.deps
        if not bearer_ok(request.headers.get("Authorization"), deps.webhook_token):
            return self._reject(401, "unauthorized", "missing or wrong bearer token")
        body = await read_limited(request, deps.max_body_bytes)
        if body is None:
            return self._reject(413, "too_large", f"body over {deps.max_body_bytes} bytes")
        try:
            text = decode_body(body)
        except PayloadError as e:
            return self._reject(400, "bad_payload", str(e))
        # The same body again (a repeat, an HA peer) while the stored one waits: it was
        # valid then, it is committed, and storing it twice would add nothing.
        delivery = deps.deliveries.stored_unprocessed(text)
        if delivery is None:
            try:
                notification = parse_notification(text)
            except PayloadError as e:
                return self._reject(400, "bad_payload", str(e))
            # Stored before we answer: once Alertmanager hears 200 it will not send it again.
            delivery = await deps.deliveries.save(
                body=text,
                group_key=notification.group_key,
                received_at=deps.clock(),
                parsed=notification,
            )
            deps.background.wake()
        deps.metrics.webhooks_received.inc()
        return _accepted(delivery)

    def _reject(self, status: int, reason: str, detail: str) -> web.Response:
        self.deps.metrics.webhooks_rejected.labels(reason=reason).inc()
        log.info("alertmanager webhook rejected", status=status, reason=reason, detail=detail)
        return error(status, reason, detail)

    async def slack_events(self, request: web.Request) -> web.Response:
        if self.deps.bolt is None:
            return error(404, "not_found", "Slack runs in Socket Mode on this bot")
        body = await read_limited(request, self.deps.max_body_bytes)
        if body is None:
            return error(413, "too_large", f"body over {self.deps.max_body_bytes} bytes")
        # Verified before anything is parsed or logged: an unsigned request costs one HMAC,
        # and Bolt (which logs the body of a request it refuses) never sees it.
        if self.slack_verifier is not None and not slack_signed(
            self.slack_verifier, body, request.headers
        ):
            return error(401, "invalid_signature", "missing, stale or wrong X-Slack-Signature")
        try:
            text = body.decode("utf-8")
            bolt_request = AsyncBoltRequest(
                body=text, query=request.query_string, headers=dict(request.headers)
            )
        except (UnicodeDecodeError, ValueError, RecursionError, AttributeError, TypeError) as e:
            # Bolt reads the body as it parses it: a JSON list or number breaks its lookups.
            return error(400, "bad_payload", f"body is not a Slack payload: {type(e).__name__}")
        problem = slack_shape_problem(bolt_request.body)
        if problem is not None:
            return error(400, "bad_payload", problem)
        return await to_aiohttp_response(await self.deps.bolt.async_dispatch(bolt_request))

    async def healthz(self, _request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(self, _request: web.Request) -> web.Response:
        try:
            migrated = await is_migrated(self.deps.store.engine)
        except Exception as e:  # any driver error means "not ready", never a crash
            return error(503, "database_unreachable", type(e).__name__)
        if not migrated:
            return error(503, "not_migrated", "database schema is not at the newest migration")
        if self.deps.slack_socket is not None and not await self.deps.slack_socket():
            # No socket, no Slack: commands and clicks would go nowhere on this replica.
            return error(503, "slack_socket_down", "no Socket Mode connection to Slack yet")
        return web.json_response({"status": "ready"})

    async def metrics(self, _request: web.Request) -> web.Response:
        body = generate_latest(self.deps.metrics.registry)
        response = web.Response(body=body)
        response.content_type = CONTENT_TYPE_LATEST.split(";")[0]
        return response


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as e:
        if e.status < 400:
            raise
        return error(e.status, e.reason.lower().replace(" ", "_"), e.text or e.reason)
    except Exception:
        log.exception("unhandled error", path=request.path)
        return error(500, "internal_error", "the bot failed; see its log")


def make_web_app(deps: WebDeps) -> web.Application:
    routes = Routes(deps)
    # Bodies are read by the handlers with their own limit; aiohttp's stays out of the way.
    app = web.Application(middlewares=[json_errors], client_max_size=deps.max_body_bytes * 2)
    app.router.add_post("/webhooks/alertmanager", routes.alertmanager)
    app.router.add_post("/slack/events", routes.slack_events)
    app.router.add_get("/healthz", routes.healthz)
    app.router.add_get("/readyz", routes.readyz)
    app.router.add_get("/metrics", routes.metrics)
    if deps.api is not None:
        add_api_routes(app, deps.api)
    if deps.pages is not None:
        add_page_routes(app, deps.pages)
    return app
