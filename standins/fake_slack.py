"""A local stand-in for the Slack Web API, served over real HTTP.

The real `slack_sdk` `AsyncWebClient(token=..., base_url=fake.url)` talks to it
unchanged, so tests exercise the bot's actual wire format, retry handlers and
error handling instead of a mocked client. Workspace rules live in
`fake_slack_state.py`; this module is the transport: decoding requests,
authentication, fault injection, recording and waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import mimetypes
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from standins.fake_slack_socket import DEFAULT_APP_TOKEN, FakeSocketMode
from standins.fake_slack_state import (
    Args,
    FakeChannel,
    FakeFile,
    FakeMessage,
    FakeWorkspace,
    SlackError,
)
from standins.lifecycle import Startable

__all__ = ["FakeChannel", "FakeFile", "FakeMessage", "FakeSlack", "RecordedCall"]

# slack_sdk JSON-encodes these into strings when it sends a form body.
_JSON_ARGS = frozenset({"blocks", "attachments", "view", "files", "metadata", "user_auth_blocks"})
_FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})
_DEFAULT_ERRORS = {429: "ratelimited", 500: "internal_error", 503: "service_unavailable"}
_MAX_BODY = 100 * 1024 * 1024  # uploads go through the same server
# The bot token's scopes when a test names none: every scope incident-bot might ask for.
DEFAULT_SCOPES = (
    "channels:history",
    "channels:join",
    "channels:manage",
    "channels:read",
    "chat:write",
    "commands",
    "files:read",
    "files:write",
    "groups:history",
    "pins:read",
    "pins:write",
    "reactions:read",
    "reactions:write",
    "usergroups:read",
    "users:read",
    "users:read.email",
)

Answer = tuple[int, dict[str, Any], dict[str, str]]


@dataclass(frozen=True)
class RecordedCall:
    method: str  # e.g. "conversations.create"
    args: dict[str, Any]  # decoded: blocks/attachments/view/files are lists or dicts
    status: int  # HTTP status answered
    response: dict[str, Any]


@dataclass
class _Hook:
    method: str
    remaining: int  # successful calls of `method` still to answer before running it
    run: Callable[[], Awaitable[None] | None]


@dataclass
class _Fault:
    method: str | None  # None matches every method
    remaining: int
    status: int
    error: str | None
    retry_after: int | None


def _fault_answer(status: int, error: str | None, retry_after: int | None) -> Answer:
    # Slack's own 429s always carry Retry-After; slack_sdk's handler relies on it.
    if status == 429 and retry_after is None:
        retry_after = 1
    headers = {} if retry_after is None else {"Retry-After": str(retry_after)}
    if status == 429:
        error = "ratelimited"
    # 5xx bodies stay JSON: slack_sdk only offers a response to its retry handlers
    # when the body parses, so a garbled body would turn a retryable 503 into a crash.
    body = {"ok": False, "error": error or _DEFAULT_ERRORS.get(status, "fatal_error")}
    return status, body, headers


def _decode_json_args(args: Args) -> Args:
    for key in _JSON_ARGS & args.keys():
        if isinstance(args[key], str):
            # An unparsable value stays a string; the handler answers Slack's format error.
            with contextlib.suppress(ValueError):
                args[key] = json.loads(args[key])
    return args


async def _read_args(request: web.Request) -> Args:
    """Merge query and body arguments; slack_sdk puts some methods' args in the query."""
    args: Args = dict(request.query)
    if request.can_read_body:
        if request.content_type == "application/json":
            try:
                body = await request.json()
            except ValueError:
                raise SlackError("invalid_json") from None
            if not isinstance(body, dict):
                raise SlackError("invalid_json")
            args.update(body)
        elif request.content_type in _FORM_TYPES:
            form = await request.post()
            args.update({k: v for k, v in form.items() if isinstance(v, str)})
    return _decode_json_args(args)


def _bearer_token(request: web.Request, args: Args) -> str | None:
    token = args.pop("token", None)  # Slack accepts the token as an argument, too
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return header.removeprefix("Bearer ").strip()
    return token if isinstance(token, str) and token else None


class FakeSlack(FakeWorkspace, FakeSocketMode, Startable):
    """The fake Slack server: workspace state plus an aiohttp app serving it."""

    def __init__(
        self,
        *,
        bot_token: str = "xoxb-test-token",  # noqa: S107 - a fake's well-known test token
        team_id: str = "T0TEST",
        bot_user_id: str = "U0BOT",
        scopes: Iterable[str] = DEFAULT_SCOPES,
        app_token: str = DEFAULT_APP_TOKEN,
    ) -> None:
        super().__init__(bot_token=bot_token, team_id=team_id, bot_user_id=bot_user_id)
        # The token's scopes, answered as Slack does in the X-OAuth-Scopes header.
        self.scopes: list[str] = list(scopes)
        self.calls: list[RecordedCall] = []
        self._faults: list[_Fault] = []
        self._hooks: list[_Hook] = []
        self._outage_status: int | None = None
        self._runner: web.AppRunner | None = None
        self._url: str | None = None
        self._changed = asyncio.Condition()
        self._response_urls: dict[str, tuple[str, str]] = {}  # token -> (channel, user)
        self._init_socket_mode(app_token)

    # -- lifecycle -------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        if self._runner is not None:
            raise RuntimeError("FakeSlack is already running")
        app = web.Application(client_max_size=_MAX_BODY)
        app.router.add_route("*", "/api/{method}", self._handle_api)
        app.router.add_post("/upload/{file_id}", self._handle_upload)
        app.router.add_post("/response/{token}", self._handle_response_url)
        app.router.add_get("/link/", self.handle_socket)
        app.router.add_get("/files-pri/{file_id}", self._handle_download)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound_port = runner.addresses[0][1]  # port 0 asked the OS for a free one
        self._runner = runner
        self.upload_root = f"http://{host}:{bound_port}"
        self._url = f"{self.upload_root}/api/"

    async def stop(self) -> None:
        if self._runner is not None:
            for ws in list(self.socket.sockets):  # a server does not wait on open sockets
                await ws.close()
            await self._runner.cleanup()
            self._runner = None

    @property
    def url(self) -> str:
        """Base URL for `AsyncWebClient(base_url=...)`, ending with a slash."""
        if self._url is None:
            raise RuntimeError("FakeSlack.start() has not been awaited")
        return self._url

    def response_url(self, channel_id: str, user_id: str) -> str:
        """A `response_url` for a slash command or click by `user_id` in `channel_id`."""
        token = self._new_id("R")
        self._response_urls[token] = (channel_id, user_id)
        return f"{self.upload_root}/response/{token}"

    # -- fault injection -------------------------------------------------------------

    def fail_next(
        self,
        method: str | None,
        *,
        count: int = 1,
        status: int = 500,
        error: str | None = None,
        retry_after: int | None = None,
    ) -> None:
        """Make the next `count` calls of `method` (None: of any method) fail.

        429 answers as Slack's rate limiter does; 5xx as a server error with a JSON
        body; 200 with `error` as an ordinary `{"ok": false}` API error.
        """
        if count < 1:
            raise ValueError("count must be at least 1")
        self._faults.append(_Fault(method, count, status, error, retry_after))

    def after_call(
        self, method: str, run: Callable[[], Awaitable[None] | None], *, nth: int = 1
    ) -> None:
        """Run `run` once, when the `nth` successful call of `method` has been carried out
        but before it is answered: the moment a crash makes a caller lose the answer."""
        self._hooks.append(_Hook(method, nth, run))

    async def _run_hooks(self, method: str, body: dict[str, Any]) -> None:
        if body.get("ok") is not True:
            return
        for hook in [h for h in self._hooks if h.method == method]:
            hook.remaining -= 1
            if hook.remaining == 0:
                self._hooks.remove(hook)
                result = hook.run()
                if inspect.isawaitable(result):
                    await result

    def set_outage(self, active: bool, *, status: int = 503) -> None:
        self._outage_status = status if active else None

    def _take_fault(self, method: str) -> Answer | None:
        if self._outage_status is not None:
            return _fault_answer(self._outage_status, None, None)
        for fault in self._faults:
            if fault.method in (None, method):
                fault.remaining -= 1
                if fault.remaining == 0:
                    self._faults.remove(fault)
                return _fault_answer(fault.status, fault.error, fault.retry_after)
        return None

    # -- inspection ------------------------------------------------------------------

    def calls_to(self, method: str) -> list[RecordedCall]:
        """Successful (`ok: true`) calls of `method`, in order."""
        return [c for c in self.calls if c.method == method and c.response.get("ok") is True]

    async def wait_for_call(
        self, method: str, *, count: int = 1, timeout: float = 10.0
    ) -> list[RecordedCall]:
        """Wait until at least `count` successful calls of `method` were answered."""
        try:
            async with asyncio.timeout(timeout), self._changed:
                await self._changed.wait_for(lambda: len(self.calls_to(method)) >= count)
        except TimeoutError:
            seen = [f"{c.method} -> {c.response.get('error', 'ok')}" for c in self.calls]
            raise AssertionError(
                f"expected {count} successful {method} call(s) within {timeout}s, "
                f"got {len(self.calls_to(method))}; calls so far: {seen}"
            ) from None
        return self.calls_to(method)

    # -- HTTP handlers ---------------------------------------------------------------

    def _answer(self, method: str, args: Args, token: str | None) -> Answer:
        fault = self._take_fault(method)
        if fault is not None:
            return fault
        handler = self.handlers.get(method)
        try:
            if method == "apps.connections.open":  # the one method for the app-level token
                return 200, {"ok": True, **self.connections_open(token)}, {}
            if handler is None:
                raise SlackError("unknown_method", req_method=method)
            if token is None:
                raise SlackError("not_authed")
            if token != self.bot_token:
                raise SlackError("invalid_auth")
            return 200, {"ok": True, **handler(args)}, {"X-OAuth-Scopes": ",".join(self.scopes)}
        except SlackError as e:
            return 200, {"ok": False, "error": e.error, **e.extra}, {}

    async def _handle_api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args: Args = {}
        try:
            args = await _read_args(request)
            token = _bearer_token(request, args)
            status, body, headers = self._answer(method, args, token)
        except SlackError as e:  # an unreadable body is still a recorded, answered call
            status, body, headers = 200, {"ok": False, "error": e.error}, {}
        self.calls.append(RecordedCall(method, args, status, body))
        async with self._changed:
            self._changed.notify_all()
        await self._run_hooks(method, body)
        return web.json_response(body, status=status, headers=headers)

    async def _handle_response_url(self, request: web.Request) -> web.Response:
        """A post to a `response_url`: checked like chat.postMessage, shown in the channel."""
        target = self._response_urls.get(request.match_info["token"])
        answer: dict[str, Any]
        try:
            body = await request.json()
        except ValueError:
            body = None
        status, answer = 200, {"ok": True}
        try:
            if target is None:
                raise SlackError("expired_url")
            if not isinstance(body, dict):
                raise SlackError("invalid_payload")
            self._respond(target, body)
        except SlackError as e:
            # Like incoming webhooks, response_url answers a refusal with HTTP 400.
            status, answer = 400, {"ok": False, "error": e.error, **e.extra}
        self.calls.append(RecordedCall("response_url", body or {}, status, answer))
        async with self._changed:
            self._changed.notify_all()
        return web.json_response(answer, status=status)

    def private_url(self, file_id: str) -> str:
        """A file's `url_private`: downloads need the bot token, as on files.slack.com."""
        return f"{self.upload_root}/files-pri/{file_id}"

    async def _handle_download(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {self.bot_token}":
            return web.Response(status=403, text="not_authed")  # Slack serves a login page
        file = self.files.get(request.match_info["file_id"])
        if file is None or not file.uploaded:
            return web.Response(status=404, text="file_not_found")
        kind = mimetypes.guess_type(file.filename)[0] or "application/octet-stream"
        return web.Response(body=file.content, content_type=kind)

    async def _handle_upload(self, request: web.Request) -> web.Response:
        if self._outage_status is not None:
            status, body, headers = _fault_answer(self._outage_status, None, None)
            return web.json_response(body, status=status, headers=headers)
        file = self.files.get(request.match_info["file_id"])
        if file is None:
            return web.Response(status=404, text="file_not_found")
        if request.content_type == "multipart/form-data":
            form = await request.post()
            parts = [v for v in form.values() if isinstance(v, web.FileField)]
            data = parts[0].file.read() if parts else b""
        else:
            data = await request.read()
        file.content = data
        file.uploaded = True
        # Slack's upload host answers in plain text, and slack_sdk expects exactly that.
        return web.Response(text=f"OK - {len(data)}")
