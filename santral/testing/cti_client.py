"""A CTI client for tests: log in, call the REST API, follow the WebSocket events.

Usage::

    async with CtiClient("http://127.0.0.1:8080") as client:
        await client.login("alice", "password")
        events = await client.connect()
        await client.post("/api/agents/alice/status", {"status": "available"})
        offer = await events.wait_for("offer_created")
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from types import TracebackType
from typing import Any

import aiohttp

from santral.errors import SantralError


class CtiClientError(SantralError):
    """A CTI request failed, or an expected message did not arrive in time."""


class CtiEvents:
    """The WebSocket of one client: its snapshot and the messages that follow."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, snapshot: dict[str, Any]) -> None:
        self.ws = ws
        self.snapshot = snapshot
        self.last_seq = int(snapshot["seq"])
        self.received: list[dict[str, Any]] = []

    async def receive(self, within: float = 5.0) -> dict[str, Any]:
        """Return the next message; raise ``CtiClientError`` on timeout or a closed socket."""
        try:
            frame = await self.ws.receive(timeout=within)
        except TimeoutError as error:
            raise CtiClientError(f"no CTI message within {within} s") from error
        if frame.type != aiohttp.WSMsgType.TEXT:
            raise CtiClientError(f"CTI WebSocket closed ({frame.type.name}, {frame.data!r})")
        message: dict[str, Any] = json.loads(frame.data)
        self.received.append(message)
        self.last_seq = max(self.last_seq, int(message.get("seq", 0)))
        return message

    async def wait_for(
        self,
        kind: str,
        predicate: Callable[[dict[str, Any]], bool] | None = None,
        within: float = 5.0,
    ) -> dict[str, Any]:
        """Return the first ``kind`` message matching ``predicate`` within ``within`` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while (remaining := deadline - loop.time()) > 0:
            message = await self.receive(remaining)
            if message.get("type") == kind and (predicate is None or predicate(message)):
                return message
        seen = [message.get("type") for message in self.received[-10:]]
        raise CtiClientError(f"no {kind!r} message within {within} s; last seen: {seen}")

    async def close(self) -> None:
        await self.ws.close()


class CtiClient:
    """REST and WebSocket access to a running engine's CTI as one user."""

    def __init__(self, base_url: str, token: str = "") -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.user: dict[str, Any] = {}
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> CtiClient:
        return self

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        traceback: TracebackType | None) -> None:
        await self.close()

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        return self._session

    async def login(self, user: str, password: str) -> dict[str, Any]:
        """Log in with a password and keep the session token; return the user."""
        status, body = await self.request("POST", "/api/login",
                                          {"user": user, "password": password})
        if status != 200:
            raise CtiClientError(f"login of {user!r} failed with HTTP {status}: {body}")
        self.token = body["token"]
        self.user = body["user"]
        return self.user

    async def request(self, method: str, path: str, body: dict[str, Any] | None = None
                      ) -> tuple[int, Any]:
        """Send a request with the token; return the status and the decoded JSON body."""
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        async with self.session.request(method, self.base_url + path, json=body,
                                        headers=headers) as response:
            text = await response.text()
            return response.status, json.loads(text) if text else None

    async def get(self, path: str) -> Any:
        return await self._checked("GET", path, None)

    async def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        return await self._checked("POST", path, body)

    async def _checked(self, method: str, path: str, body: dict[str, Any] | None) -> Any:
        status, result = await self.request(method, path, body)
        if status != 200:
            raise CtiClientError(f"{method} {path} failed with HTTP {status}: {result}")
        return result

    async def connect(self, last_seq: int = 0, within: float = 5.0) -> CtiEvents:
        """Open the WebSocket, send hello, and return once the snapshot arrived."""
        url = self.base_url.replace("http", "ws", 1) + "/cti/ws"
        ws = await self.session.ws_connect(url, heartbeat=None)
        await ws.send_json({"type": "hello", "token": self.token, "last_seq": last_seq})
        events = CtiEvents(ws, {"seq": 0})
        first = await events.receive(within)
        if first.get("type") != "snapshot":
            await ws.close()
            raise CtiClientError(f"expected a snapshot, got {first}")
        events.snapshot = first
        events.received.clear()
        events.last_seq = int(first["seq"])
        return events

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
