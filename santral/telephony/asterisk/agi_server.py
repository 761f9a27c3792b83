"""The asyncio FastAGI server: one session per connection, over the sans-I/O codec.

Rules this layer keeps:

- a connection that closes or stalls before the header block is complete is closed and
  logged, never retried in a loop (a port probe costs one read);
- the ``HANGUP`` notice marks the session hung up but is never taken as a reply;
- once the channel is gone no further command is written;
- the socket is closed by santral when the handler returns, because Asterisk keeps it
  open after a hang-up and holds the caller's BYE until the AGI server closes it;
- a handler may be a coroutine function or a plain function.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import Awaitable, Callable
from typing import Any

import structlog

from santral.errors import SantralError
from santral.telephony.asterisk import agi
from santral.telephony.asterisk.agi import AgiReader, AgiReply, AgiRequest, HangupNotice

log = structlog.get_logger(__name__)

READ_SIZE = 4096
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
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        codec: AgiReader,
        *,
        reply_timeout: float,
        pending: list[agi.ReaderItem] | None = None,
    ) -> None:
        self.request = request
        self.hung_up = False
        self.closed = False
        self.commands_sent = 0
        self._reader = reader
        self._writer = writer
        self._codec = codec
        self._reply_timeout = reply_timeout
        self._ready: list[agi.ReaderItem] = list(pending or [])
        self._lock = asyncio.Lock()
        self._log = log.bind(channel=request.channel, unique_id=request.unique_id)

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
        because ``EXEC Dial`` lasts as long as the conversation.

        Raises ``AgiHangup`` if the channel is gone before or by this reply, or the
        connection closed. With ``keep_hangup_reply``, a ``200`` reply that reports the
        hang-up is returned instead, so ``RECORD FILE`` keeps what was recorded. If
        cancelled while waiting, the session is closed because its replies would be out
        of step.
        """
        async with self._lock:
            if self.hung_up or self.closed:
                raise AgiHangup(f"channel {self.request.channel} hung up; {line!r} not sent")
            self._log.debug("agi_frame", direction=">", line=line.decode().rstrip("\n"))
            self._writer.write(line)
            self.commands_sent += 1
            timeout = None if wait is None else wait + self._reply_timeout
            try:
                async with asyncio.timeout(timeout):
                    reply = await self._next_reply()
            except (asyncio.CancelledError, TimeoutError):
                self.abort()
                raise
            if not sensitive:
                self._log.debug(
                    "agi_frame", direction="<", status=reply.status, result=reply.result
                )
            if reply.channel_gone:
                self.hung_up = True
                if keep_hangup_reply and reply.ok:
                    return reply
                raise AgiHangup(f"channel {self.request.channel} hung up during {line!r}")
            return reply

    async def _next_reply(self) -> AgiReply:
        while True:
            while self._ready:
                item = self._ready.pop(0)
                if isinstance(item, HangupNotice):
                    self._log.info("agi_hangup_notice")
                    self.hung_up = True
                elif isinstance(item, AgiReply) and item.status != agi.ReplyStatus.TRYING:
                    return item
            data = await self._reader.read(READ_SIZE)
            if not data:
                self.hung_up = True
                raise AgiHangup(f"FastAGI connection for {self.request.channel} closed")
            self._ready += self._codec.feed(data)

    def abort(self) -> None:
        """Close the connection at once; a pending ``send`` fails with ``AgiHangup``."""
        if not self.closed:
            self.closed = True
            self._writer.close()

    async def close(self) -> None:
        """Close the connection and wait briefly until the transport is gone."""
        self.abort()
        with contextlib.suppress(OSError, TimeoutError):
            async with asyncio.timeout(CLOSE_TIMEOUT):
                await self._writer.wait_closed()


SessionHandler = Callable[[AgiSession], Awaitable[None] | None]


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
        self._handler = handler
        self._host = host
        self._port = port
        self._header_timeout = header_timeout
        self._reply_timeout = reply_timeout
        self._max_sessions = max_sessions
        self._server: asyncio.Server | None = None
        self._sessions: set[AgiSession] = set()
        self._connections: set[asyncio.Task[Any]] = set()
        self.rejected = 0
        self.sessions_started = 0

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
        self._server = await asyncio.start_server(self._accept, self._host, self._port)
        log.info("fastagi_listening", host=self.address[0], port=self.address[1])

    async def stop(self) -> None:
        """Stop listening, close every session and wait for their handlers to return."""
        if self._server is not None:
            self._server.close()
        for session in list(self._sessions):
            session.abort()
        if self._connections:
            await asyncio.wait(self._connections, timeout=CLOSE_TIMEOUT * 2)
        if self._server is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), CLOSE_TIMEOUT)
            self._server = None
        log.info("fastagi_stopped")

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._connections.add(task)
        try:
            await self._serve(reader, writer)
        finally:
            if task is not None:
                self._connections.discard(task)
            writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        if len(self._sessions) >= self._max_sessions:
            self.rejected += 1
            log.warning("fastagi_session_rejected", peer=peer, max_sessions=self._max_sessions)
            return
        codec = AgiReader()
        try:
            async with asyncio.timeout(self._header_timeout):
                request, rest = await _read_header(reader, codec)
        except (agi.AgiProtocolError, TimeoutError, OSError) as error:
            log.info(
                "fastagi_connection_dropped", peer=peer, reason=str(error) or "header timed out"
            )
            return
        session = AgiSession(
            request, reader, writer, codec, reply_timeout=self._reply_timeout, pending=rest
        )
        await self._run(session)

    async def _run(self, session: AgiSession) -> None:
        self._sessions.add(session)
        self.sessions_started += 1
        try:
            result = self._handler(session)
            if inspect.isawaitable(result):
                await result
        except AgiHangup:
            log.debug("fastagi_session_hung_up", channel=session.request.channel)
        except Exception:
            log.exception("fastagi_handler_failed", channel=session.request.channel)
        finally:
            self._sessions.discard(session)
            await session.close()


async def _read_header(
    reader: asyncio.StreamReader, codec: AgiReader
) -> tuple[AgiRequest, list[agi.ReaderItem]]:
    """Read until the header block is complete; each read returns data or ends the loop."""
    while True:
        data = await reader.read(READ_SIZE)
        if not data:
            codec.feed_eof()
        items = codec.feed(data)
        if items:
            request = items[0]
            if not isinstance(request, AgiRequest):
                raise agi.AgiProtocolError(f"expected the header block, got {request!r}")
            return request, items[1:]
