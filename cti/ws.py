"""The CTI WebSocket at ``/cti/ws``: authentication, snapshot, then live events.

Protocol (JSON text frames, schemas in ``cti/schema/events.schema.json``):

1. The client sends ``{"type": "hello", "token": "...", "last_seq": N}`` within
   ``HELLO_TIMEOUT`` seconds. The token may instead come in an ``Authorization: Bearer``
   header of the upgrade request; ``last_seq`` is 0 on a first connection.
2. The server sends a ``snapshot`` with the user's current state, then every newer event
   the user may see. Wrong or missing credentials get an ``error`` message and close 4001.
3. The client may send ``{"type": "ping"}``; the server replies ``pong``. Actions go
   through the REST API.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, Final

import structlog
from aiohttp import WSMsgType, web

from cti.auth import Authenticator, AuthError, Principal
from cti.hub import MESSAGE_VERSION, Client, Hub, Outgoing, encode
from cti.settings import CtiSettings
from santral.clock import Clock

log = structlog.get_logger(__name__)

HELLO_TIMEOUT = 10.0  # seconds a new connection may take to authenticate
CLOSE_UNAUTHORIZED: Final = 4001  # also sent to the WebSockets of a session that logged out
MAX_CLIENT_MESSAGE = 4096  # bytes; clients send only hello and ping


class WebSocketEndpoint:
    """The aiohttp handler of ``/cti/ws``."""

    def __init__(self, hub: Hub, auth: Authenticator, settings: CtiSettings, clock: Clock) -> None:
        self._hub = hub
        self._auth = auth
        self._settings = settings
        self._clock = clock

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        # Without compression every client gets the same frame bytes, encoded once per event.
        ws = web.WebSocketResponse(heartbeat=30.0, max_msg_size=MAX_CLIENT_MESSAGE,
                                   compress=False)
        await ws.prepare(request)
        hello = await self._authenticate(ws, request)
        if hello is None:
            return ws

        principal, token, last_seq = hello
        client = Client(principal, ws, request.transport, self._settings.max_backlog,
                        token=token)
        self._hub.add(client, last_seq)
        try:
            await self._read(ws, client)
        finally:
            self._hub.remove(client)
            await client.stop()
        return ws

    async def _authenticate(
        self, ws: web.WebSocketResponse, request: web.Request
    ) -> tuple[Principal, str, int] | None:
        try:
            hello = await asyncio.wait_for(ws.receive(), HELLO_TIMEOUT)
            body = _parse_hello(hello.data if hello.type == WSMsgType.TEXT else None)
            token = str(body.get("token") or "")
            if not token:
                _, _, token = (request.headers.get("Authorization") or "").partition(" ")
                token = token.strip()
            principal = self._auth.authenticate(token)
        except TimeoutError:
            await self._reject(ws, "no hello message within the timeout")
            return None
        except (AuthError, ValueError) as error:
            await self._reject(ws, str(error))
            return None
        return principal, token, int(body.get("last_seq") or 0)

    async def _reject(self, ws: web.WebSocketResponse, reason: str) -> None:
        log.warning("cti_ws_rejected", reason=reason)
        if ws.closed:
            return
        try:
            await ws.send_str(encode(self._message("error", code="unauthorized", message=reason)))
            await ws.close(code=CLOSE_UNAUTHORIZED, message=b"unauthorized")
        except ConnectionError as error:
            log.info("cti_ws_reject_not_sent", error=str(error))

    async def _read(self, ws: web.WebSocketResponse, client: Client) -> None:
        async for message in ws:
            if message.type != WSMsgType.TEXT:
                continue
            try:
                body = json.loads(message.data)
                kind = body.get("type") if isinstance(body, dict) else None
            except ValueError:
                kind = None
            if kind == "ping":
                client.push(Outgoing.of(self._message("pong")))
            else:
                client.push(Outgoing.of(self._message(
                    "error", code="invalid", message="expected a ping message; use the REST "
                    "API for actions",
                )))

    def _message(self, kind: str, **fields: Any) -> dict[str, Any]:
        return {"type": kind, "version": MESSAGE_VERSION, "seq": self._hub.last_seq,
                "ts": self._clock.now(), **fields}


def _parse_hello(data: Any) -> dict[str, Any]:
    """Return the fields of a hello message; raise ``ValueError`` naming what is wrong."""
    if not isinstance(data, str):
        raise ValueError('expected a text frame {"type": "hello", "token": ..., "last_seq": N}')
    body = json.loads(data)
    if not isinstance(body, dict) or body.get("type") != "hello":
        raise ValueError('expected {"type": "hello", "token": ..., "last_seq": N} first')
    last_seq = body.get("last_seq", 0)
    if not isinstance(last_seq, int) or isinstance(last_seq, bool) or last_seq < 0:
        raise ValueError(f"invalid last_seq {last_seq!r}; expected a non-negative integer")
    return body
