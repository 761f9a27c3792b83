"""The asyncio AMI client: panoramisk's ``Manager`` connects, santral's codec reads.

panoramisk 1.4's ``Manager`` owns the TCP connection (``connect``, ``close``). The protocol
object it creates is santral's ``AmiProtocol``, which frames the stream with ``AmiFramer``
and completes actions with ``ActionTracker``. On top of panoramisk this layer adds:

- login with the secret read from the engine's environment and the event mask santral
  needs;
- reconnect with exponential backoff, and an ERROR log line on every failed login
  (panoramisk alone reconnects forever after a wrong secret without a word);
- actions pending when the connection drops fail with ``ConnectorError`` instead of being
  sent again later (an agent's phone must not ring twice);
- ``on_login`` runs after every successful login, so the connector can resynchronise.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from typing import Any, cast

import structlog
from panoramisk import Manager

from santral.errors import ConnectorError
from santral.telephony.asterisk.ami import (
    ActionResult,
    ActionTracker,
    AmiFramer,
    AmiMessage,
    AmiProtocolError,
    MessageKind,
    format_action,
)
from santral.telephony.asterisk.ami_events import (
    EVENT_MASK,
    NOISE,
    AsteriskEvent,
    ChannelListed,
    DeviceStateChanged,
    normalise,
)
from santral.telephony.asterisk.settings import AmiSettings

log = structlog.get_logger(__name__)

EventHandler = Callable[[AsteriskEvent], None]
LoginHandler = Callable[[], Awaitable[None]]


class AmiProtocol(asyncio.Protocol):
    """One AMI connection: frames bytes into messages and matches them to actions."""

    def __init__(self, client: AmiClient) -> None:
        self._client = client
        self._framer = AmiFramer()
        self._tracker = ActionTracker()
        self._futures: dict[str, asyncio.Future[ActionResult]] = {}
        self._ids = itertools.count(1)
        self._transport: asyncio.Transport | None = None
        self._replaced_logged = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not derive from asyncio's classes: only the methods count.
        self._transport = cast(asyncio.Transport, transport)

    def send(self, action: str, fields: Sequence[tuple[str, str]]) -> asyncio.Future[ActionResult]:
        """Write an action and return the future of its complete reply."""
        if self._transport is None or self._transport.is_closing():
            raise ConnectorError(f"AMI is not connected; action {action} not sent")
        action_id = f"santral-{next(self._ids)}"
        data = format_action(action, action_id, fields)
        future: asyncio.Future[ActionResult] = asyncio.get_running_loop().create_future()
        self._tracker.sent(action, action_id, fields)
        self._futures[action_id] = future
        if action.lower() != "login":
            log.debug("ami_frame", direction=">", action=action, action_id=action_id)
        self._transport.write(data)
        return future

    def forget(self, future: asyncio.Future[ActionResult]) -> None:
        for action_id, pending in list(self._futures.items()):
            if pending is future:
                del self._futures[action_id]
                self._tracker.forget(action_id)

    def data_received(self, data: bytes) -> None:
        try:
            messages = self._framer.feed(data)
        except AmiProtocolError as error:
            log.error("ami_stream_invalid", error=str(error))
            self.close()
            return
        self._log_replaced_bytes()
        for message in messages:
            self._receive(message)

    def _receive(self, message: AmiMessage) -> None:
        consumed, done = self._tracker.receive(message)
        if done is not None:
            action_id, result = done
            future = self._futures.pop(action_id, None)
            if future is not None and not future.done():
                future.set_result(result)
        if not consumed and message.kind is MessageKind.EVENT:
            self._client._dispatch(message)

    def _log_replaced_bytes(self) -> None:
        replaced = self._framer.replaced_bytes
        if replaced != self._replaced_logged:
            log.warning("ami_invalid_utf8_replaced", count=replaced - self._replaced_logged)
            self._replaced_logged = replaced

    def connection_lost(self, exc: Exception | None) -> None:
        for future in self._futures.values():
            if not future.done():
                future.set_exception(ConnectorError("AMI connection lost before the answer"))
        self._futures.clear()
        self._transport = None
        self._client._connection_lost(self, exc)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


class _Manager(Manager):  # type: ignore[misc]
    """panoramisk's ``Manager`` with santral's protocol, login and reconnect policy."""

    def __init__(self, client: AmiClient, **config: Any) -> None:
        super().__init__(protocol_factory=lambda: AmiProtocol(client), **config)
        self._client = client

    def connection_made(self, future: asyncio.Future[Any]) -> None:
        self._client._connection_made(future)

    def connection_lost(self, exc: Exception | None) -> None:
        """Reconnecting is ``AmiClient``'s job; panoramisk's fixed delay is not used."""


class AmiClient:
    """A supervised AMI login; ``send`` runs actions, ``on_event`` gets typed events."""

    def __init__(
        self,
        settings: AmiSettings,
        on_event: EventHandler,
        *,
        on_login: LoginHandler | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        """``environ`` contains the secret's variable; None reads the process environment."""
        self._settings = settings
        self._environ = environ
        self._on_event = on_event
        self._on_login = on_login
        self._manager: _Manager | None = None
        self._protocol: AmiProtocol | None = None
        self._running = False
        self._failures = 0
        self._tasks: set[asyncio.Task[Any]] = set()
        self._reconnect: asyncio.TimerHandle | None = None
        self.authenticated = False
        self.last_error = ""
        self.logins = 0
        self.events_received = 0

    @property
    def connected(self) -> bool:
        return self._protocol is not None

    def health(self) -> dict[str, object]:
        return {
            "connected": self.connected,
            "authenticated": self.authenticated,
            "logins": self.logins,
            "events": self.events_received,
            "last_error": self.last_error,
        }

    async def start(self) -> None:
        """Start connecting; returns at once, the login completes in the background."""
        if self._settings.secret(self._environ) is None:
            raise ConnectorError(
                f"the AMI secret variable {self._settings.secret_env} is not set;"
                " export it or remove asterisk.ami.secret_env"
            )
        self._running = True
        self._manager = _Manager(
            self,
            host=self._settings.host,
            port=self._settings.port,
            loop=asyncio.get_running_loop(),
        )
        self._connect()
        self._spawn(self._ping_loop(), "ami_ping")

    async def stop(self) -> None:
        self._running = False
        if self._reconnect is not None:
            self._reconnect.cancel()
        protocol = self._protocol
        if protocol is not None:
            with contextlib.suppress(ConnectorError, TimeoutError):
                await asyncio.wait_for(self._send_now("Logoff", []), 1.0)
            protocol.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=2.0)
        log.info("ami_stopped")

    async def wait_logged_in(self, seconds: float) -> None:
        """Wait until logged in; raise ``ConnectorError`` after ``seconds``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while not self.authenticated:
            if loop.time() >= deadline:
                raise ConnectorError(f"AMI login timed out: {self.last_error or 'no answer'}")
            await asyncio.sleep(0.01)

    async def send(
        self, action: str, fields: Sequence[tuple[str, str]] = (), *, limit: float | None = None
    ) -> ActionResult:
        """Run one action and return its reply; raise ``ConnectorError`` on failure.

        An action that Asterisk rejects with an error (or an ``OriginateResponse`` of
        Failure) returns normally with ``success`` False; not being logged in, a lost
        connection and a timeout raise.
        """
        if not self.authenticated:
            raise ConnectorError(f"AMI is not logged in; action {action} not sent")
        return await self._send_now(action, fields, limit=limit)

    async def _send_now(
        self, action: str, fields: Sequence[tuple[str, str]], *, limit: float | None = None
    ) -> ActionResult:
        protocol = self._protocol
        if protocol is None:
            raise ConnectorError(f"AMI is not connected; action {action} not sent")
        future = protocol.send(action, fields)
        try:
            return await asyncio.wait_for(future, limit or self._settings.action_timeout)
        except TimeoutError:
            protocol.forget(future)
            raise ConnectorError(f"AMI action {action} timed out") from None

    # Actions santral uses

    async def originate(
        self,
        channel: str,
        *,
        application: str,
        data: str,
        ring_seconds: float,
        variables: dict[str, str],
    ) -> ActionResult:
        """Ring ``channel`` for ``ring_seconds`` and run ``application`` on answer."""
        fields = [
            ("Channel", channel),
            ("Application", application),
            ("Data", data),
            ("Timeout", str(int(ring_seconds * 1000))),
            ("Async", "true"),
            *(("Variable", f"{name}={value}") for name, value in variables.items()),
        ]
        return await self.send(
            "Originate", fields, limit=ring_seconds + self._settings.action_timeout
        )

    async def redirect(
        self, channel: str, context: str, exten: str, priority: int = 1
    ) -> ActionResult:
        fields = [("Channel", channel), ("Context", context), ("Exten", exten)]
        return await self.send("Redirect", [*fields, ("Priority", str(priority))])

    async def bridge(self, first: str, second: str) -> ActionResult:
        return await self.send("Bridge", [("Channel1", first), ("Channel2", second)])

    async def hangup(self, channel: str, cause: int = 16) -> ActionResult:
        return await self.send("Hangup", [("Channel", channel), ("Cause", str(cause))])

    async def core_show_channels(self) -> list[ChannelListed]:
        result = await self.send("CoreShowChannels")
        return [e for m in result.events for e in normalise(m) if isinstance(e, ChannelListed)]

    async def device_states(self) -> list[DeviceStateChanged]:
        result = await self.send("DeviceStateList")
        found = [e for m in result.events for e in normalise(m)]
        return [event for event in found if isinstance(event, DeviceStateChanged)]

    # Connection lifecycle

    def _connect(self) -> None:
        self._reconnect = None
        if self._running and self._manager is not None:
            self._manager.connect()

    def _connection_made(self, future: asyncio.Future[Any]) -> None:
        try:
            _, protocol = future.result()
        except OSError as error:
            self._retry(
                f"connection to {self._settings.host}:{self._settings.port} failed: {error}"
            )
            return
        self._protocol = protocol
        log.info("ami_connected", host=self._settings.host, port=self._settings.port)
        self._spawn(self._login(), "ami_login")

    async def _login(self) -> None:
        fields = [
            ("Username", self._settings.username),
            ("Secret", self._settings.secret(self._environ) or ""),
            ("Events", EVENT_MASK),
        ]
        try:
            result = await self._send_now("Login", fields)
        except ConnectorError as error:
            self.last_error = str(error)
            return
        if not result.success:
            message = result.response.get("Message") or "rejected"
            self.last_error = f"AMI login as {self._settings.username} failed: {message}"
            log.error(
                "ami_login_failed",
                username=self._settings.username,
                message=message,
                attempt=self._failures + 1,
                secret_env=self._settings.secret_env,
            )
            if self._protocol is not None:
                self._protocol.close()
            return
        await self._logged_in()

    async def _logged_in(self) -> None:
        self.authenticated = True
        self._failures = 0
        self.logins += 1
        self.last_error = ""
        log.info("ami_logged_in", username=self._settings.username, logins=self.logins)
        if self._on_login is not None:
            await self._on_login()

    def _connection_lost(self, protocol: AmiProtocol, exc: Exception | None) -> None:
        if protocol is not self._protocol:
            return
        self._protocol = None
        self.authenticated = False
        if self._running:
            self._retry(self.last_error or f"connection lost: {exc or 'closed by Asterisk'}")

    def _retry(self, reason: str) -> None:
        if not self._running:
            return
        delay = min(self._settings.reconnect_max, self._settings.reconnect_min * 2**self._failures)
        self._failures += 1
        self.last_error = reason
        log.warning("ami_reconnecting", reason=reason, delay=delay, attempt=self._failures)
        self._reconnect = asyncio.get_running_loop().call_later(delay, self._connect)

    async def _ping_loop(self) -> None:
        while self._running:
            await asyncio.sleep(self._settings.ping_interval)
            if not self.authenticated:
                continue
            try:
                await self.send("Ping")
            except ConnectorError as error:
                log.warning("ami_ping_failed", error=str(error))
                if self._protocol is not None:
                    self._protocol.close()

    def _dispatch(self, message: AmiMessage) -> None:
        self.events_received += 1
        if message.name in NOISE:
            return
        for event in normalise(message):
            try:
                self._on_event(event)
            except Exception:
                log.exception("ami_event_handler_failed", event=message.name)

    def _spawn(self, coroutine: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(coroutine, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("ami_task_failed", error=repr(task.exception()))
