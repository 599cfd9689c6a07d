"""Slack Web API adapter: slack-sdk's AsyncWebClient, its retry handlers, typed errors.

Short hiccups (a dropped connection, a 5xx, a 429 asking for a few seconds) are
retried in place by slack-sdk's own handlers; anything longer surfaces as a
`SlackTransientError` so the caller's durable outbox can try again later
instead of holding a worker.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web.async_client import AsyncWebClient

from bot.core.redaction import redact

# Slack error codes that mean "try again later", not "this call is wrong".
_TRANSIENT_CODES = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "request_timeout", "service_unavailable"}
)
MAX_INLINE_RETRY_AFTER = 5
HISTORY_LOOKBACK = 100  # messages searched for our own earlier post after a crash

CallObserver = Callable[[str, str], None]  # (method, outcome) -> None


class SlackError(Exception):
    def __init__(self, method: str, error: str, *, retry_after: float | None = None) -> None:
        super().__init__(f"Slack {method} failed: {error}")
        self.method = method
        self.error = error
        self.retry_after = retry_after


def unreachable(error: BaseException) -> str:
    """A network failure as one readable phrase (no repr, no credentials in a URL)."""
    if isinstance(error, TimeoutError):
        return "unreachable: no answer in time"
    if isinstance(error, aiohttp.ClientConnectorError):
        why = error.os_error.strerror if error.os_error and error.os_error.strerror else ""
        return f"unreachable: cannot connect to {error.host}:{error.port}" + (
            f" ({why})" if why else ""
        )
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    return f"unreachable: {redact(text)}"


class SlackTransientError(SlackError):
    """Slack is down, slow or rate limiting: the same call may work later."""


class SlackPermanentError(SlackError):
    """Slack refused the call itself (`channel_not_found`, `invalid_auth`, ...)."""


class _ShortRateLimitRetry(AsyncRateLimitErrorRetryHandler):
    """Waits in place only for short Retry-After; longer ones go back to the outbox."""

    async def _can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if response is None or response.status_code != 429:
            return False
        return _retry_after(response.headers) <= MAX_INLINE_RETRY_AFTER


def _retry_after(headers: Any) -> float:
    for key, value in dict(headers or {}).items():
        if str(key).lower() == "retry-after":
            raw = value[0] if isinstance(value, list) else value
            try:
                return float(raw)
            except (TypeError, ValueError):
                return 1.0
    return 1.0


def retry_handlers(*, observe_retry: Callable[[], None] | None = None) -> list[AsyncRetryHandler]:
    handlers: list[AsyncRetryHandler] = [
        AsyncConnectionErrorRetryHandler(max_retry_count=2),
        _ShortRateLimitRetry(max_retry_count=2),
        AsyncServerErrorRetryHandler(max_retry_count=2),
    ]
    if observe_retry is not None:
        for handler in handlers:
            _count_retries(handler, observe_retry)
    return handlers


def _count_retries(handler: AsyncRetryHandler, observe: Callable[[], None]) -> None:
    original = handler.prepare_for_next_attempt_async

    async def counted(**kwargs: Any) -> None:
        observe()
        await original(**kwargs)

    handler.prepare_for_next_attempt_async = counted  # type: ignore[method-assign]


def make_client(
    token: str, base_url: str, *, observe_retry: Callable[[], None] | None = None
) -> AsyncWebClient:
    base = base_url if base_url.endswith("/") else base_url + "/"
    return AsyncWebClient(
        token=token,
        base_url=base,
        timeout=15,
        retry_handlers=retry_handlers(observe_retry=observe_retry),
    )


@dataclass(frozen=True)
class PostedMessage:
    channel_id: str
    ts: str


class SlackGateway:
    """The Slack calls the bot makes, each turning failures into typed errors."""

    def __init__(self, client: AsyncWebClient, *, observe: CallObserver | None = None) -> None:
        self.client = client
        self._observe = observe or (lambda _method, _outcome: None)

    async def call(self, method: str, **args: Any) -> dict[str, Any]:
        try:
            # As slack-sdk's own methods do: JSON for chat.* (blocks), form fields otherwise.
            if method.startswith(("chat.", "views.")):
                response = await self.client.api_call(method, json=args)
            else:
                response = await self.client.api_call(method, params=args)
        except SlackApiError as e:
            self._observe(method, "error")
            raise _classify(method, e) from e
        except (aiohttp.ClientError, TimeoutError) as e:
            self._observe(method, "unreachable")
            raise SlackTransientError(method, unreachable(e)) from e
        self._observe(method, "ok")
        return dict(response.data) if isinstance(response.data, dict) else {}

    async def create_channel(self, name: str) -> tuple[str, str]:
        data = await self.call("conversations.create", name=name)
        return data["channel"]["id"], data["channel"]["name"]

    async def set_topic(self, channel: str, topic: str) -> None:
        await self.call("conversations.setTopic", channel=channel, topic=topic)

    async def set_purpose(self, channel: str, purpose: str) -> None:
        await self.call("conversations.setPurpose", channel=channel, purpose=purpose)

    async def usergroup_members(self, usergroup: str) -> list[str]:
        data = await self.call("usergroups.users.list", usergroup=usergroup)
        return [str(u) for u in data.get("users", [])]

    async def channel_members(self, channel: str) -> list[str]:
        """Every member of the channel (conversations.members, page by page)."""
        members: list[str] = []
        cursor = ""
        while True:
            args: dict[str, Any] = {"channel": channel, "limit": 1000}
            if cursor:
                args["cursor"] = cursor
            data = await self.call("conversations.members", **args)
            members += [str(u) for u in data.get("members", [])]
            cursor = str((data.get("response_metadata") or {}).get("next_cursor") or "")
            if not cursor:
                return members

    async def invite(self, channel: str, users: Sequence[str]) -> None:
        if not users:
            return
        try:
            await self.call("conversations.invite", channel=channel, users=",".join(users))
        except SlackPermanentError as e:
            if e.error != "already_in_channel":
                raise

    async def post_message(
        self,
        channel: str,
        text: str,
        blocks: list[dict[str, Any]] | None = None,
        *,
        metadata: dict[str, Any] | None = None,
    ) -> PostedMessage:
        args: dict[str, Any] = {"channel": channel, "text": text}
        if blocks is not None:
            args["blocks"] = blocks
        if metadata is not None:
            args["metadata"] = metadata
        data = await self.call("chat.postMessage", **args)
        return PostedMessage(data["channel"], data["ts"])

    async def find_posted(self, channel: str, event_type: str, step: str) -> str | None:
        """The ts of a recent message of ours whose metadata names this step, if any."""
        data = await self.call(
            "conversations.history",
            channel=channel,
            limit=HISTORY_LOOKBACK,
            include_all_metadata=True,
        )
        for message in data.get("messages") or []:
            metadata = message.get("metadata") or {}
            payload = metadata.get("event_payload") or {}
            if metadata.get("event_type") == event_type and payload.get("step") == step:
                return str(message["ts"])
        return None

    async def find_channel(self, name: str) -> dict[str, Any] | None:
        """A live public channel by name (conversations.list, page by page)."""
        cursor: str | None = None
        while True:
            args: dict[str, Any] = {
                "types": "public_channel",
                "exclude_archived": True,
                "limit": 1000,
            }
            if cursor:
                args["cursor"] = cursor
            data = await self.call("conversations.list", **args)
            for channel in data.get("channels") or []:
                if channel.get("name") == name:
                    return dict(channel)
            cursor = (data.get("response_metadata") or {}).get("next_cursor") or None
            if cursor is None:
                return None

    async def update_message(
        self, channel: str, ts: str, text: str, blocks: list[dict[str, Any]] | None = None
    ) -> None:
        args: dict[str, Any] = {"channel": channel, "ts": ts, "text": text}
        if blocks is not None:
            args["blocks"] = blocks
        await self.call("chat.update", **args)

    async def pin(self, channel: str, ts: str) -> None:
        try:
            await self.call("pins.add", channel=channel, timestamp=ts)
        except SlackPermanentError as e:
            if e.error != "already_pinned":
                raise

    async def post_ephemeral(self, channel: str, user: str, text: str) -> None:
        await self.call("chat.postEphemeral", channel=channel, user=user, text=text)

    async def upload_file(
        self, channel: str, content: bytes, filename: str, *, title: str, comment: str | None = None
    ) -> None:
        """files.uploadV2: getUploadURLExternal, the upload, completeUploadExternal (slack-sdk)."""
        method = "files.uploadV2"
        try:
            await self.client.files_upload_v2(
                channel=channel,
                content=content,
                filename=filename,
                title=title,
                initial_comment=comment,
            )
        except SlackApiError as e:
            self._observe(method, "error")
            raise _classify(method, e) from e
        except (aiohttp.ClientError, TimeoutError) as e:
            self._observe(method, "unreachable")
            raise SlackTransientError(method, unreachable(e)) from e
        self._observe(method, "ok")

    async def open_view(self, trigger_id: str, view: dict[str, Any]) -> None:
        await self.call("views.open", trigger_id=trigger_id, view=view)

    async def archive(self, channel: str) -> None:
        await self.call("conversations.archive", channel=channel)

    async def permalink(self, channel: str, ts: str) -> str | None:
        try:
            data = await self.call("chat.getPermalink", channel=channel, message_ts=ts)
        except SlackPermanentError:
            return None
        return str(data.get("permalink") or "") or None

    async def message(self, channel: str, ts: str) -> dict[str, Any] | None:
        """One message by its ts (conversations.history, inclusive of both ends)."""
        data = await self.call(
            "conversations.history", channel=channel, latest=ts, oldest=ts, inclusive=True, limit=1
        )
        messages = data.get("messages") or []
        return dict(messages[0]) if messages else None

    async def download(self, url: str, limit: int, *, timeout: float = 10.0) -> bytes | None:
        """A private file's bytes, fetched with the bot's token (the caller checked that
        `url` is Slack's); None when it is over `limit` bytes or Slack refuses."""
        headers = {"Authorization": f"Bearer {self.client.token}"}
        try:
            async with (
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session,
                session.get(url, headers=headers, allow_redirects=False) as response,
            ):
                if response.status != 200:
                    self._observe("files.download", "error")
                    return None
                data = await response.content.read(limit + 1)
        except (aiohttp.ClientError, TimeoutError):
            self._observe("files.download", "error")
            return None
        self._observe("files.download", "ok")
        return None if len(data) > limit else data

    async def user_by_email(self, email: str) -> str | None:
        """The Slack user id of a workspace member's e-mail (users.lookupByEmail); None
        when nobody has it."""
        try:
            data = await self.call("users.lookupByEmail", email=email)
        except SlackPermanentError:
            return None
        user = data.get("user") or {}
        return str(user.get("id") or "") or None

    async def user_name(self, user: str) -> str | None:
        """The name people know `user` by (users.info: display name, real name, handle)."""
        data = await self.call("users.info", user=user)
        return person_name(data.get("user") or {})

    async def bot_user_id(self) -> str:
        data = await self.call("auth.test")
        return str(data.get("user_id", ""))


def person_name(user: dict[str, Any]) -> str | None:
    """The name people know someone by, from a `users.info` user: the display name, else
    the real name, else the handle (Slack leaves `display_name` empty for many people)."""
    profile = user.get("profile") or {}
    for candidate in (
        profile.get("display_name"),
        profile.get("real_name"),
        user.get("real_name"),
        user.get("name"),
    ):
        if isinstance(candidate, str) and candidate.strip():
            return " ".join(candidate.split())
    return None


def _classify(method: str, e: SlackApiError) -> SlackError:
    response = e.response
    status = getattr(response, "status_code", 200)
    error = str(response.get("error", "")) if response is not None else ""
    if status == 429 or error in _TRANSIENT_CODES or status >= 500:
        headers = getattr(response, "headers", {})
        retry_after = _retry_after(headers) if status == 429 else None
        return SlackTransientError(method, error or f"HTTP {status}", retry_after=retry_after)
    return SlackPermanentError(method, error or f"HTTP {status}")
