"""The asyncio FastAGI server: one session per connection, over the sans-I/O codec.

Rules this layer keeps:

- a connection that closes or stalls before the header block is complete is closed and
  logged, never retried in a loop (a port probe costs one read);
- the ``HANGUP`` notice marks the session hung up but is never taken as a reply;
- once the channel is gone no further command is written;
- the socket is closed by santral when the handler returns, because Asterisk keeps it
  open after a hang-up and delays the caller's BYE until the AGI server closes it;
- a handler may be a coroutine function or a plain function.

Connections are ``asyncio.Protocol`` objects rather than streams: a session is a few
short lines each way, and the protocol saves a stream pair and a task per connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, cast

import structlog

from santral.errors import SantralError
from santral.telephony.asterisk import agi
from santral.telephony.asterisk.agi import AgiReader, AgiReply, AgiRequest, HangupNotice

log = structlog.get_logger(__name__)

# Reading an enum member is a class attribute look-up on Python 3.11, so read it once.
_TRYING = agi.ReplyStatus.TRYING

CLOSE_TIMEOUT = 2.0


class AgiHangup(SantralError):
    """The channel hung up (or the connection closed) so the session cannot continue."""


class AgiSession:
    """One FastAGI conversation: send a command, wait for its reply.

    Only one command may be pending at a time, as in the protocol itself.
    """

    def __init__(
        self,
        request: AgiRequest,
        connection: _Connection,
        *,
        reply_timeout: float,
        debug: bool = False,
    ) -> None:
        """``debug`` logs every frame; the server decides it once, not per session."""
        self.request = request
        self.hung_up = False
        self.closed = False
        self.commands_sent = 0
        self._connection = connection
        self._reply_timeout = reply_timeout
        self._ready: deque[agi.ReaderItem] = deque()
        # The pending send's future: its result is a reply that arrived alone, else None.
        self._waiter: asyncio.Future[AgiReply | None] | None = None
        self._lost = False
        # True while a send holds the turn, from its write to its reply. Others wait in ``_turns``.
        self._sending = False
        self._turns: deque[asyncio.Future[None]] = deque()
        self._bound: Any = None
        self._debug = debug

    @property
    def _log(self) -> Any:
        """The logger bound to the channel, built on first use."""
        if self._bound is None:
            self._bound = log.bind(channel=self.request.channel, unique_id=self.request.unique_id)
        return self._bound

    async def send(
        self,
        line: bytes,
        *,
        wait: float | None = 0.0,
        sensitive: bool = False,
        keep_hangup_reply: bool = False,
    ) -> AgiReply:
        """Write one command line and return its reply.

        ``wait`` is how long the command itself may take in seconds (a prompt's length, a
        digit timeout), and ``reply_timeout`` is added to it. None waits without limit,
        because ``EXEC Dial`` lasts as long as the conversation. Commands sent while
        another waits for its reply are written one at a time, in the order sent.

        Raises ``AgiHangup`` if the channel is gone before or by this reply, or the
        connection closed, and ``TimeoutError`` if the reply is late. With
        ``keep_hangup_reply``, a ``200`` reply that reports the hang-up is returned instead,
        so ``RECORD FILE`` keeps what was recorded. If cancelled or timed out while
        waiting for the reply, the session is closed because its replies would be out of
        step. If cancelled while waiting for its turn, nothing is written.
        """
        if self._sending:
            await self._wait_turn()
        else:
            self._sending = True
        try:
            self._write(line, wait)
            try:
                reply = self._take_reply()
                while reply is None:
                    self._waiter = self._connection.loop.create_future()
                    try:
                        reply = await self._waiter
                    finally:
                        self._waiter = None
                    if reply is None:
                        reply = self._take_reply()
            except (asyncio.CancelledError, TimeoutError):
                self.abort()
                raise
            finally:
                self._connection.disarm()
            if self._debug and not sensitive:
                self._log.debug(
                    "agi_frame", direction="<", status=reply.status, result=reply.result
                )
        finally:
            self._pass_turn()
        if reply.channel_gone:
            self.hung_up = True
            if keep_hangup_reply and reply.ok:
                return reply
            raise AgiHangup(f"channel {self.request.channel} hung up during {line!r}")
        return reply

    def _write(self, line: bytes, wait: float | None) -> None:
        """Write ``line`` and set its reply's deadline, unless the channel is gone."""
        if self.hung_up or self.closed:
            raise AgiHangup(f"channel {self.request.channel} hung up; {line!r} not sent")
        if self._debug:
            self._log.debug("agi_frame", direction=">", line=line.decode().rstrip("\n"))
        self._connection.write(line)
        self.commands_sent += 1
        if wait is not None:
            self._connection.arm(wait + self._reply_timeout)

    async def _wait_turn(self) -> None:
        """Wait until the commands sent before this one have their replies."""
        turn = self._connection.loop.create_future()
        self._turns.append(turn)
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self._pass_turn()  # the turn arrived with the cancellation: hand it on
            elif turn in self._turns:
                self._turns.remove(turn)
            raise

    def _pass_turn(self) -> None:
        """Hand the turn to the next queued sender, or free it."""
        while self._turns:
            turn = self._turns.popleft()
            if not turn.done():
                turn.set_result(None)
                return
        self._sending = False

    def _take_reply(self) -> AgiReply | None:
        """Return the first queued reply, or None if none has arrived yet.

        Raises ``AgiHangup`` when no reply is queued and the connection is gone.
        """
        ready = self._ready
        while ready:
            item = ready.popleft()
            if isinstance(item, AgiReply):
                if item.status != _TRYING:
                    return item
            elif isinstance(item, HangupNotice):
                self._log.info("agi_hangup_notice")
                self.hung_up = True
        if self._lost:
            self.hung_up = True
            raise AgiHangup(f"FastAGI connection for {self.request.channel} closed")
        return None

    def deliver(self, items: list[agi.ReaderItem]) -> None:
        """Hand a lone reply to the pending ``send``, or queue the items and wake it."""
        waiter = self._waiter
        if waiter is not None and len(items) == 1 and not self._ready and not waiter.done():
            reply = items[0]
            if isinstance(reply, AgiReply) and reply.status != _TRYING:
                waiter.set_result(reply)
                return
        self._ready.extend(items)
        self._wake()

    def connection_lost(self) -> None:
        self._lost = True
        self._wake()

    def reply_timed_out(self) -> None:
        """Fail the pending ``send`` with ``TimeoutError``."""
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(TimeoutError())

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def abort(self) -> None:
        """Close the connection at once; a pending ``send`` fails with ``AgiHangup``."""
        if not self.closed:
            self.closed = True
            self._connection.close()

    async def close(self) -> None:
        """Close the connection and wait briefly until the transport is gone."""
        self.abort()
        if not self._connection.lost:
            # ``asyncio.wait`` does not cancel the future, which ``stop`` may also await.
            await asyncio.wait((self._connection.finished,), timeout=CLOSE_TIMEOUT)


SessionHandler = Callable[[AgiSession], Awaitable[None] | None]


class _Connection(asyncio.Protocol):
    """One FastAGI connection: reads the header block, then feeds its session.

    One lazy timer serves first the header timeout and then each reply's deadline (see
    ``arm``), so a short session creates a single timer.
    """

    def __init__(self, server: FastAgiServer) -> None:
        self._server = server
        self.loop = asyncio.get_running_loop()
        self._codec = AgiReader()
        self._transport: asyncio.Transport | None = None
        self._deadline: float | None = None
        self._timer: asyncio.TimerHandle | None = None
        self.session: AgiSession | None = None
        self._dropped = False
        self.lost = False
        self._finished: asyncio.Future[None] | None = None

    @property
    def finished(self) -> asyncio.Future[None]:
        """A future done once the transport is gone, created only when awaited."""
        if self._finished is None:
            self._finished = self.loop.create_future()
            if self.lost:
                self._finished.set_result(None)
        return self._finished

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not derive from asyncio's classes: only the methods count.
        self._transport = cast(asyncio.Transport, transport)
        if not self._server.admit(self):
            self._dropped = True
            transport.close()
            return
        self.arm(self._server.header_timeout)

    @property
    def peer(self) -> Any:
        """The remote address, read only when a log line needs it."""
        return None if self._transport is None else self._transport.get_extra_info("peername")

    def arm(self, seconds: float) -> None:
        """Set the deadline of the header block or of the pending reply.

        Replies usually arrive within a millisecond, so a timer per command would be
        created and cancelled thousands of times a second. The one timer fires at the
        earliest deadline set and moves itself to the current one when that is later.
        """
        deadline = self.loop.time() + seconds
        self._deadline = deadline
        timer = self._timer
        if timer is not None:
            if timer.when() <= deadline:
                return
            timer.cancel()
        self._timer = self.loop.call_at(deadline, self._deadline_passed)

    def disarm(self) -> None:
        """Clear the deadline; the timer, if any, finds nothing to do when it fires."""
        self._deadline = None

    def _deadline_passed(self) -> None:
        self._timer = None
        deadline = self._deadline
        if deadline is None:
            return
        if self.loop.time() < deadline:
            self._timer = self.loop.call_at(deadline, self._deadline_passed)
            return
        self._deadline = None
        if self.session is None:
            self._drop("header timed out")
        else:
            self.session.reply_timed_out()

    def data_received(self, data: bytes) -> None:
        try:
            items = self._codec.feed(data)
        except agi.AgiProtocolError as error:
            self._drop(str(error))
            return
        if self.session is None:
            if not items:
                return
            self._start_session(items.pop(0))
        if items and self.session is not None:
            self.session.deliver(items)

    def _start_session(self, request: agi.ReaderItem) -> None:
        self.disarm()
        if not isinstance(request, AgiRequest):
            self._drop(f"expected the header block, got {request!r}")
            return
        self.session = AgiSession(
            request, self, reply_timeout=self._server.reply_timeout, debug=self._server.debug
        )
        self._server.start_session(self.session)

    def _drop(self, reason: str) -> None:
        self._dropped = True
        log.info("fastagi_connection_dropped", peer=self.peer, reason=reason)
        self.close()

    def write(self, data: bytes) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(data)

    def close(self) -> None:
        self._cancel_timer()
        if self._transport is not None:
            self._transport.close()

    def _cancel_timer(self) -> None:
        self._deadline = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self._cancel_timer()
        self._server.forget(self)
        if self.session is not None:
            self.session.connection_lost()
        elif not self._dropped:
            self._log_probe()
        if self._finished is not None and not self._finished.done():
            self._finished.set_result(None)

    def _log_probe(self) -> None:
        try:
            self._codec.feed_eof()
        except agi.AgiProtocolError as error:
            log.info("fastagi_connection_dropped", peer=self.peer, reason=str(error))


class FastAgiServer:
    """Accepts FastAGI connections and runs ``handler`` for each complete header block."""

    def __init__(
        self,
        handler: SessionHandler,
        *,
        host: str = "127.0.0.1",
        port: int = 4573,
        header_timeout: float = 5.0,
        reply_timeout: float = 30.0,
        max_sessions: int = 1000,
    ) -> None:
        self.header_timeout = header_timeout
        self.reply_timeout = reply_timeout
        self._handler = handler
        self._host = host
        self._port = port
        self._max_sessions = max_sessions
        self._server: asyncio.Server | None = None
        self._sessions: set[AgiSession] = set()
        self._connections: set[_Connection] = set()
        self._handlers: set[asyncio.Task[None]] = set()
        self.rejected = 0
        self.sessions_started = 0
        self.debug = False

    @property
    def address(self) -> tuple[str, int]:
        """The bound host and port (the real port when configured with 0)."""
        if self._server is None or not self._server.sockets:
            return self._host, self._port
        host, port = self._server.sockets[0].getsockname()[:2]
        return str(host), int(port)

    @property
    def active_sessions(self) -> int:
        return len(self._sessions)

    async def start(self) -> None:
        self.debug = log.is_enabled_for(logging.DEBUG)
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _Connection(self), self._host, self._port)
        log.info("fastagi_listening", host=self.address[0], port=self.address[1])

    async def stop(self) -> None:
        """Stop listening, close every connection, wait for the handlers and transports."""
        if self._server is not None:
            self._server.close()
        for connection in list(self._connections):
            connection.close()
        if self._handlers:
            await asyncio.wait(self._handlers, timeout=CLOSE_TIMEOUT * 2)
        closing = [connection.finished for connection in self._connections]
        if closing:
            await asyncio.wait(closing, timeout=CLOSE_TIMEOUT)
        if self._server is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(CLOSE_TIMEOUT):
                    await self._server.wait_closed()
            self._server = None
        log.info("fastagi_stopped")

    def admit(self, connection: _Connection) -> bool:
        """Register a new connection, or refuse it when ``max_sessions`` are running."""
        if len(self._sessions) >= self._max_sessions:
            self.rejected += 1
            log.warning(
                "fastagi_session_rejected", peer=connection.peer, max_sessions=self._max_sessions
            )
            return False
        self._connections.add(connection)
        return True

    def forget(self, connection: _Connection) -> None:
        self._connections.discard(connection)

    def start_session(self, session: AgiSession) -> None:
        self._sessions.add(session)
        self.sessions_started += 1
        self._handlers.add(asyncio.create_task(self._run(session)))

    async def _run(self, session: AgiSession) -> None:
        try:
            result = self._handler(session)
            if inspect.isawaitable(result):
                await result
        except AgiHangup:
            log.debug("fastagi_session_hung_up", channel=session.request.channel)
        except Exception:
            log.exception("fastagi_handler_failed", channel=session.request.channel)
        finally:
            # The transport calls connection_lost once closed; stop() waits for that. The
            # task leaves ``_handlers`` here rather than in a done callback, which would
            # cost one more turn of the event loop per session.
            self._sessions.discard(session)
            task = asyncio.current_task()
            if task is not None:
                self._handlers.discard(task)
            session.abort()
