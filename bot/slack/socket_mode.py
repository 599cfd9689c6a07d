"""Socket Mode: the bot holds a WebSocket to Slack instead of listening on a public URL.

slack-sdk's aiohttp client keeps the socket (it reconnects on `disconnect`, on a
close and when pings go unanswered); Bolt runs the same listeners as in HTTP mode.
Around them, this module adds what a production bot needs: each envelope is handled
once across redeliveries and replicas (bot/core/envelopes.py), a reconnect is counted,
and /readyz can tell whether a socket is up.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import OrderedDict
from typing import Any

import sqlalchemy as sa
import structlog
from slack_bolt.adapter.socket_mode.async_base_handler import AsyncBaseSocketModeHandler
from slack_bolt.adapter.socket_mode.async_internals import run_async_bolt_app
from slack_bolt.async_app import AsyncApp
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.async_client import AsyncBaseSocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from bot.clock import Clock
from bot.core.envelopes import ACK_WINDOW, Claim, Verdict, on_delivery
from bot.metrics import BotMetrics
from bot.storage.models import SlackEnvelope
from bot.storage.store import IncidentStore
from bot.workers.tasks import TaskSet

log = structlog.get_logger(__name__)
CLAIM_BUDGET = 0.25  # seconds of Slack's 3 the database may take to claim an envelope (~10 ms)
RECENT_ENVELOPES = 2_000


class EnvelopeClaims:
    """The `slack_envelopes` table: who handles an envelope, and the ack it decided."""

    def __init__(self, store: IncidentStore, clock: Clock) -> None:
        self.store, self.clock = store, clock

    async def claim(self, envelope_id: str) -> tuple[Verdict, dict[str, Any] | None]:
        now = self.clock()
        try:
            async with self.store.unit() as unit:
                row = await unit.session.get(SlackEnvelope, envelope_id)
                seen = Claim(row.claimed_at, row.acked_at) if row is not None else None
                verdict = on_delivery(seen, now)
                if verdict is Verdict.HANDLE and row is None:
                    await unit.add(SlackEnvelope(envelope_id=envelope_id, claimed_at=now))
                elif verdict is Verdict.HANDLE and row is not None:
                    # Take over from a handler that died, unless another replica just did.
                    taken = await unit.session.execute(
                        sa.update(SlackEnvelope)
                        .where(col(SlackEnvelope.envelope_id) == envelope_id)
                        .where(col(SlackEnvelope.claimed_at) == row.claimed_at)
                        .where(col(SlackEnvelope.acked_at).is_(None))
                        .values(claimed_at=now)
                    )
                    if taken.rowcount == 0:  # type: ignore[attr-defined]
                        verdict = Verdict.LEAVE
                ack = dict(row.ack) if row is not None and row.ack is not None else None
        except IntegrityError:
            return Verdict.LEAVE, None  # another replica claimed it a moment ago
        return verdict, ack

    async def decided(
        self, envelope_id: str, *, within: float, poll: float = 0.1
    ) -> tuple[bool, dict[str, Any] | None]:
        """Wait (a bounded time) for another handler of the envelope to decide its ack."""
        deadline = time.monotonic() + within
        while True:
            async with self.store.unit() as unit:
                row = await unit.session.get(SlackEnvelope, envelope_id)
                if row is not None and row.acked_at is not None:
                    return True, dict(row.ack) if row.ack is not None else None
            if time.monotonic() >= deadline:
                return False, None
            await asyncio.sleep(poll)

    async def acked(self, envelope_id: str, ack: dict[str, Any] | None) -> None:
        async with self.store.unit() as unit:
            row = await unit.session.get(SlackEnvelope, envelope_id)
            if row is not None:
                row.acked_at, row.ack = self.clock(), ack
                unit.session.add(row)


class _Client(SocketModeClient):
    """slack-sdk's client, telling us each time a socket is established."""

    def __init__(self, *args: Any, on_connect: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._on_connect = on_connect

        self.listening: set[asyncio.Future[None]] = set()

    async def connect(self) -> None:
        await super().connect()  # type: ignore[no-untyped-call]
        if not self.closed:
            self._on_connect()

    async def process_message(self) -> None:
        # As slack-sdk does, but the listener runs are kept so that stop() can end them.
        raw: str | None = await self.message_queue.get()
        if raw is not None:
            message = json.loads(raw) if raw.startswith("{") else {}
            future = asyncio.ensure_future(self.run_message_listeners(message, raw))
            self.listening.add(future)
            future.add_done_callback(self.listening.discard)

    async def stop(self) -> None:
        await self.close()  # type: ignore[no-untyped-call]
        # slack-sdk cancels its tasks without waiting for them; wait, so none outlives us.
        running = [self.message_processor, self.current_session_monitor, self.message_receiver]
        for future in [*running, *self.listening]:
            if future is not None:
                future.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await future


class SocketMode(AsyncBaseSocketModeHandler):
    """Bolt over a Slack socket, each envelope handled once."""

    app: AsyncApp
    client: _Client

    def __init__(
        self,
        app: AsyncApp,
        app_token: str,
        *,
        claims: EnvelopeClaims,
        metrics: BotMetrics,
        ping_interval: float = 10.0,
    ) -> None:
        self.app = app
        self.claims = claims
        self.metrics = metrics
        self.connections = 0
        self.client = _Client(
            app_token=app_token,
            logger=logging.getLogger("incident_bot.socket_mode"),
            web_client=app.client,
            ping_interval=ping_interval,
            on_connect=self._connected,
        )
        self.client.socket_mode_request_listeners.append(self.handle)
        self._tasks = TaskSet()
        # Envelopes this replica handled lately, and the ack each got: re-sends answered at once.
        self._recent: OrderedDict[str, asyncio.Future[dict[str, Any] | None]] = OrderedDict()
        self._claimed: dict[str, tuple[Verdict, dict[str, Any] | None]] = {}

    def _connected(self) -> None:
        self.connections += 1
        if self.connections > 1:
            self.metrics.slack_socket_reconnects.inc()
        log.info("slack socket connected", connections=self.connections)

    async def handle(self, client: AsyncBaseSocketModeClient, req: SocketModeRequest) -> None:
        started = time.monotonic()
        envelope_id = req.envelope_id
        seen = self._recent.get(envelope_id)
        if seen is not None:
            # Re-sent to this replica (a lost ack, a rotated socket): the same ack once decided.
            with contextlib.suppress(TimeoutError):
                payload = await asyncio.wait_for(asyncio.shield(seen), ACK_WINDOW.seconds)
                await self._ack(client, envelope_id, payload)
            return
        decision: asyncio.Future[dict[str, Any] | None] = asyncio.get_running_loop().create_future()
        self._remember(envelope_id, decision)
        # Bounded: a slow database must not cost Slack's 3 s. The envelope is then handled
        # before its claim is written (another replica could repeat it; this one will not),
        # and the claim goes on in the background rather than being cancelled: cancelling
        # a database call waits for the database too.
        claim = self._tasks.spawn(self._claim(envelope_id), name="claim envelope")
        await asyncio.wait({claim}, timeout=CLAIM_BUDGET)
        if claim.done() and envelope_id in self._claimed:
            verdict, stored = self._claimed.pop(envelope_id)
        else:
            log.warning("envelope handled before its claim: database slow", envelope_id=envelope_id)
            claim.add_done_callback(lambda _: self._claimed.pop(envelope_id, None))
            verdict, stored = Verdict.HANDLE, None
        if verdict is Verdict.LEAVE:
            # Being handled by another replica: its ack may have been lost with its socket,
            # so send the same one once it is decided.
            done, stored = await self.claims.decided(envelope_id, within=ACK_WINDOW.total_seconds())
            if not done:
                self._recent.pop(envelope_id, None)
                log.info("envelope left to its handler", envelope_id=envelope_id)
                return
        if verdict is not Verdict.HANDLE:
            decision.set_result(stored)
            await self._ack(client, envelope_id, stored)
            return
        response = await run_async_bolt_app(self.app, req)
        if response.status != 200:
            self._recent.pop(envelope_id, None)
            log.warning("envelope refused by Bolt", status=response.status, type=req.type)
            return  # not acked: Slack sends it again, and the claim expires meanwhile
        payload = _ack_payload(response.body, response.headers)
        decision.set_result(payload)
        await self._ack(client, envelope_id, payload)
        log.debug("envelope acked", ms=int((time.monotonic() - started) * 1000))
        self._tasks.spawn(self.claims.acked(envelope_id, payload), name="record envelope ack")

    async def _claim(self, envelope_id: str) -> None:
        self._claimed[envelope_id] = await self.claims.claim(envelope_id)

    def _remember(self, envelope_id: str, decision: asyncio.Future[dict[str, Any] | None]) -> None:
        self._recent[envelope_id] = decision
        while len(self._recent) > RECENT_ENVELOPES:
            self._recent.popitem(last=False)

    @staticmethod
    async def _ack(
        client: AsyncBaseSocketModeClient, envelope_id: str, payload: dict[str, Any] | None
    ) -> None:
        response = SocketModeResponse(envelope_id=envelope_id, payload=payload)
        with contextlib.suppress(ConnectionError):  # lost ack: Slack re-sends, we ack again
            await client.send_socket_mode_response(response)

    async def start(self) -> None:
        """Connect in the background: the bot serves webhooks even while Slack is away."""
        self._tasks.spawn(self.connect_async(), name="slack socket connect")  # type: ignore[no-untyped-call]

    async def is_connected(self) -> bool:
        return bool(await self.client.is_connected())

    async def stop(self) -> None:
        await self.client.stop()
        await self._tasks.stop(grace=0)  # a connect still retrying is given up


def _ack_payload(body: str | None, headers: dict[str, Any]) -> dict[str, Any] | None:
    """Bolt's answer as Slack's ack payload: JSON as is, plain text as `{"text": ...}`."""
    if not body:
        return None
    content_type = (headers.get("content-type") or [""])[0]
    if content_type.startswith("application/json"):
        loaded = json.loads(body)
        return loaded if isinstance(loaded, dict) else None
    return {"text": body}
