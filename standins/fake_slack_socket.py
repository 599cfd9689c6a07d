"""Socket Mode, as Slack serves it, for the fake Slack.

`apps.connections.open` (app-level token `xapp-...` only) hands out a one-use
`ws://127.0.0.1/...` URL; the WebSocket says `hello`, then carries envelopes
(`events_api`, `slash_commands`, `interactive`) that the app must ack with their
`envelope_id` (and, for a slash command answered at once, a payload). Slack keeps
every envelope until it is acked and sends it again, with `retry_attempt` counted
up, over the next connection; before it rotates a connection it sends `disconnect`
(`warning`, then `refresh_requested`). Several connections share the envelopes,
one each, as Slack spreads them over an app's sockets.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from standins.fake_slack_blocks import ack_refusal, describe
from standins.fake_slack_state import SlackError

APP_ID = "A0TEST"
DEFAULT_APP_TOKEN = "xapp-1-A0TEST-1-fake"  # noqa: S105 - the fake's well-known test token


@dataclass
class Envelope:
    envelope_id: str
    type: str  # "events_api" | "slash_commands" | "interactive"
    payload: dict[str, Any]
    accepts_response_payload: bool
    attempts: int = 0  # deliveries so far; Slack's retry_attempt is attempts - 1

    def wire(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "envelope_id": self.envelope_id,
            "type": self.type,
            "payload": self.payload,
            "accepts_response_payload": self.accepts_response_payload,
        }
        if self.attempts > 1:
            out |= {"retry_attempt": self.attempts - 1, "retry_reason": "timeout"}
        return out


@dataclass
class Ack:
    envelope_id: str
    payload: dict[str, Any] | None
    refusal: str | None  # why Slack would not show the payload, if it would not


@dataclass
class SocketModeState:
    app_token: str = DEFAULT_APP_TOKEN
    tickets: set[str] = field(default_factory=set)
    sockets: list[web.WebSocketResponse] = field(default_factory=list)
    requests: dict[int, web.Request] = field(default_factory=dict)  # id(ws) -> its request
    unacked: dict[str, Envelope] = field(default_factory=dict)  # in delivery order
    acks: list[Ack] = field(default_factory=list)
    connections_opened: int = 0  # WebSockets accepted, ever
    sent: list[dict[str, Any]] = field(default_factory=list)  # every frame sent, in order


class FakeSocketMode:
    """The Socket Mode side of the fake Slack; `FakeSlack` mixes it in."""

    upload_root: str
    _changed: asyncio.Condition

    def _init_socket_mode(self, app_token: str) -> None:
        self.socket = SocketModeState(app_token=app_token)
        self._next = itertools.count()

    # -- the Web API method --------------------------------------------------------

    def connections_open(self, token: str | None) -> dict[str, Any]:
        """`apps.connections.open`: only an app-level token may open a socket."""
        if token is None:
            raise SlackError("not_authed")
        if not token.startswith("xapp-"):
            raise SlackError("not_allowed_token_type")
        if token != self.socket.app_token:
            raise SlackError("invalid_auth")
        ticket = uuid.uuid4().hex
        self.socket.tickets.add(ticket)
        host = self.upload_root.removeprefix("http://")
        return {"url": f"ws://{host}/link/?ticket={ticket}&app_id={APP_ID}"}

    # -- the WebSocket -------------------------------------------------------------

    async def handle_socket(self, request: web.Request) -> web.StreamResponse:
        ticket = request.query.get("ticket", "")
        if ticket not in self.socket.tickets:
            # A URL is good for one connection; reusing one is refused before the upgrade.
            return web.json_response({"ok": False, "error": "invalid_ticket"}, status=401)
        self.socket.tickets.discard(ticket)
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self.socket.sockets.append(ws)
        self.socket.requests[id(ws)] = request
        self.socket.connections_opened += 1
        await self._send(
            ws,
            {
                "type": "hello",
                "num_connections": len(self.socket.sockets),
                "debug_info": {"host": "fake-slack", "approximate_connection_time": 18060},
                "connection_info": {"app_id": APP_ID},
            },
        )
        # What the last connection never acked comes again, first, over this one.
        for envelope in list(self.socket.unacked.values()):
            await self._deliver_on(ws, envelope)
        await self._notify()
        try:
            async for message in ws:
                if message.type == WSMsgType.TEXT:
                    await self._on_ack(message.data)
        finally:
            with contextlib.suppress(ValueError):
                self.socket.sockets.remove(ws)
            self.socket.requests.pop(id(ws), None)
            await self._notify()
        return ws

    async def _on_ack(self, data: str) -> None:
        try:
            message = json.loads(data)
        except ValueError:
            return  # Slack ignores frames it cannot read; the envelope stays unacked
        envelope_id = message.get("envelope_id") if isinstance(message, dict) else None
        envelope = self.socket.unacked.pop(str(envelope_id), None)
        if envelope is None:
            return  # an ack for nothing (or a second ack): ignored, as Slack does
        payload = message.get("payload")
        refusal = ack_refusal(payload)
        self.socket.acks.append(
            Ack(envelope.envelope_id, payload, describe(refusal) if refusal else None)
        )
        await self._notify()

    async def _send(self, ws: web.WebSocketResponse, frame: dict[str, Any]) -> None:
        self.socket.sent.append(frame)
        await ws.send_str(json.dumps(frame))

    async def _deliver_on(self, ws: web.WebSocketResponse, envelope: Envelope) -> None:
        envelope.attempts += 1
        with contextlib.suppress(ConnectionError):  # the socket died: kept for the next one
            await self._send(ws, envelope.wire())

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    # -- what tests do -------------------------------------------------------------

    @property
    def connected(self) -> int:
        return len([ws for ws in self.socket.sockets if not ws.closed])

    async def wait_for_socket(self, *, count: int = 1, timeout: float = 10.0) -> None:
        """Wait until at least `count` sockets are open (and were sent what was unacked)."""
        await self._wait(lambda: self.connected >= count, timeout, f"{count} socket(s)")

    async def deliver(
        self,
        kind: str,
        payload: dict[str, Any],
        *,
        accepts_response_payload: bool = False,
        envelope_id: str | None = None,
    ) -> str:
        """Send an envelope over one open socket (the next in turn); kept until acked."""
        envelope = Envelope(
            envelope_id or str(uuid.uuid4()), kind, payload, accepts_response_payload
        )
        self.socket.unacked[envelope.envelope_id] = envelope
        open_sockets = [ws for ws in self.socket.sockets if not ws.closed]
        if open_sockets:
            ws = open_sockets[next(self._next) % len(open_sockets)]
            await self._deliver_on(ws, envelope)
        return envelope.envelope_id

    async def resend(self, envelope_id: str) -> None:
        """Send an envelope again as Slack does when it is not sure it arrived."""
        envelope = self.socket.unacked.get(envelope_id)
        if envelope is None:  # already acked: Slack may still deliver it twice
            for frame in reversed(self.socket.sent):
                if frame.get("envelope_id") == envelope_id:
                    envelope = Envelope(
                        envelope_id,
                        frame["type"],
                        frame["payload"],
                        frame["accepts_response_payload"],
                        attempts=1,
                    )
                    break
        if envelope is None:
            raise KeyError(envelope_id)
        self.socket.unacked[envelope_id] = envelope
        for ws in [ws for ws in self.socket.sockets if not ws.closed][:1]:
            await self._deliver_on(ws, envelope)

    async def wait_for_ack(self, envelope_id: str, *, count: int = 1, timeout: float = 10.0) -> Ack:
        """The `count`-th ack of an envelope (a re-sent one is acked again)."""

        def acks() -> list[Ack]:
            return [a for a in self.socket.acks if a.envelope_id == envelope_id]

        await self._wait(lambda: len(acks()) >= count, timeout, f"ack {count} of {envelope_id}")
        return acks()[count - 1]

    async def disconnect(self, reason: str = "refresh_requested", *, close: bool = True) -> None:
        """Slack's `disconnect` message on every socket, then (unless `close=False`) the close."""
        frame = {"type": "disconnect", "reason": reason, "debug_info": {"host": "fake-slack"}}
        for ws in list(self.socket.sockets):
            with contextlib.suppress(ConnectionError):
                await self._send(ws, frame)
            if close:
                await ws.close()

    async def drop_sockets(self) -> None:
        """Cut every socket without a word, as a network failure does."""
        for ws in list(self.socket.sockets):
            request = self.socket.requests.get(id(ws))
            if request is not None and request.transport is not None:
                request.transport.abort()  # no close frame: the client finds out by itself
            else:
                await ws.close()

    async def _wait(self, done: Any, timeout: float, what: str) -> None:
        try:
            async with asyncio.timeout(timeout), self._changed:
                await self._changed.wait_for(done)
        except TimeoutError:
            raise AssertionError(
                f"waited {timeout}s for {what}; open sockets: {self.connected}, "
                f"unacked: {list(self.socket.unacked)}, acks: {len(self.socket.acks)}"
            ) from None
