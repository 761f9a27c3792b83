"""The FastAGI server against raw Asterisk-like clients: each known FastAGI pitfall."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from santral.telephony.asterisk import agi
from santral.telephony.asterisk.agi_server import AgiHangup, AgiSession, FastAgiServer
from tests.asterisk.transcripts import read_text

HEADER = read_text("header.agi").encode()


class Recorder:
    """A session handler that runs ``script`` and keeps what it saw."""

    def __init__(self, script: Callable[[AgiSession, list[object]], object]) -> None:
        self.script = script
        self.seen: list[object] = []
        self.done = asyncio.Event()

    async def __call__(self, session: AgiSession) -> None:
        try:
            result = self.script(session, self.seen)
            if asyncio.iscoroutine(result):
                await result
        except AgiHangup as error:
            self.seen.append(error)
        finally:
            self.done.set()


async def start(handler: object) -> FastAgiServer:
    server = FastAgiServer(handler, port=0, header_timeout=0.5, reply_timeout=2.0)  # type: ignore[arg-type]
    await server.start()
    return server


@pytest.fixture
async def servers() -> AsyncIterator[list[FastAgiServer]]:
    started: list[FastAgiServer] = []
    yield started
    for server in started:
        await server.stop()


async def connect(server: FastAgiServer) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", server.address[1])


async def read_command(reader: asyncio.StreamReader) -> str:
    return (await asyncio.wait_for(reader.readline(), 2.0)).decode().rstrip("\n")


async def test_port_probe_closes_without_spinning(servers: list[FastAgiServer]) -> None:
    recorder = Recorder(lambda session, seen: None)
    server = await start(recorder)
    servers.append(server)

    for partial in (b"", b"agi_network: yes\n", HEADER[:200]):
        _reader, writer = await connect(server)
        writer.write(partial)
        await writer.drain()
        writer.close()
        await writer.wait_closed()
    for _ in range(100):
        if not server._connections:
            break
        await asyncio.sleep(0.01)

    assert not server._connections
    assert server.sessions_started == 0
    assert not recorder.done.is_set()


async def test_stalled_header_times_out(servers: list[FastAgiServer]) -> None:
    server = await start(Recorder(lambda session, seen: None))
    servers.append(server)
    reader, writer = await connect(server)
    writer.write(HEADER[:100])

    closed = await asyncio.wait_for(reader.read(), 3.0)

    assert closed == b""
    assert server.sessions_started == 0
    writer.close()


async def test_query_string_and_arguments(servers: list[FastAgiServer]) -> None:
    async def script(session: AgiSession, seen: list[object]) -> None:
        seen.append(session.request)

    recorder = Recorder(script)
    server = await start(recorder)
    servers.append(server)
    _reader, writer = await connect(server)
    writer.write(HEADER.replace(b"agi_threadid", b"agi_arg_1: sales\nagi_threadid"))
    await asyncio.wait_for(recorder.done.wait(), 2.0)

    request = recorder.seen[0]
    assert isinstance(request, agi.AgiRequest)
    assert (request.script, request.query, request.arguments) == ("ivr", {"lang": "en"}, ("sales",))
    writer.close()


async def test_usage_error_keeps_replies_in_step(servers: list[FastAgiServer]) -> None:
    async def script(session: AgiSession, seen: list[object]) -> None:
        seen.append(await session.send(b"SAY NUMBER\n"))
        seen.append(await session.send(agi.answer_command()))

    recorder = Recorder(script)
    server = await start(recorder)
    servers.append(server)
    reader, writer = await connect(server)
    writer.write(HEADER)
    assert await read_command(reader) == "SAY NUMBER"
    writer.write(
        b"520-Invalid command syntax.  Proper usage follows:\n Usage: SAY NUMBER <number>\n"
    )
    writer.write(b"520 End of proper usage.\n")
    assert await read_command(reader) == "ANSWER"
    writer.write(b"200 result=0\n")
    await asyncio.wait_for(recorder.done.wait(), 2.0)

    usage, answer = recorder.seen
    assert isinstance(usage, agi.AgiReply) and usage.status == 520
    assert isinstance(answer, agi.AgiReply) and (answer.status, answer.result) == (200, "0")
    writer.close()


async def test_hangup_line_is_not_the_reply(servers: list[FastAgiServer]) -> None:
    async def script(session: AgiSession, seen: list[object]) -> None:
        seen.append(await session.send(agi.wait_for_digit_command(3000), wait=3.0))
        seen.append(await session.send(agi.stream_file_command("goodbye")))

    recorder = Recorder(script)
    server = await start(recorder)
    servers.append(server)
    reader, writer = await connect(server)
    writer.write(HEADER)
    await read_command(reader)
    writer.write(b"200 result=-1\n")
    await read_command(reader)
    writer.write(b"HANGUP\n511 Command Not Permitted on a dead channel or intercept routine\n")
    await asyncio.wait_for(recorder.done.wait(), 2.0)

    first, second = recorder.seen
    assert isinstance(first, agi.AgiReply) and first.value == -1
    assert isinstance(second, AgiHangup)
    assert await asyncio.wait_for(reader.read(), 2.0) == b""
    writer.close()


async def test_unsolicited_hangup_then_real_reply(servers: list[FastAgiServer]) -> None:
    async def script(session: AgiSession, seen: list[object]) -> None:
        seen.append(await session.send(agi.answer_command()))
        seen.append(session.hung_up)

    recorder = Recorder(script)
    server = await start(recorder)
    servers.append(server)
    reader, writer = await connect(server)
    writer.write(HEADER)
    await read_command(reader)
    writer.write(b"HANGUP\n")
    await asyncio.sleep(0.05)
    assert not recorder.done.is_set()
    writer.write(b"200 result=0\n")
    await asyncio.wait_for(recorder.done.wait(), 2.0)

    reply, hung_up = recorder.seen
    assert isinstance(reply, agi.AgiReply) and reply.result == "0"
    assert hung_up is True
    writer.close()


async def test_no_command_after_hangup_result(servers: list[FastAgiServer]) -> None:
    async def script(session: AgiSession, seen: list[object]) -> None:
        line = agi.record_file_command("voicemail-1", 120000)
        seen.append(await session.send(line, keep_hangup_reply=True))
        seen.append(await session.send(agi.answer_command()))

    recorder = Recorder(script)
    server = await start(recorder)
    servers.append(server)
    reader, writer = await connect(server)
    writer.write(HEADER)
    await read_command(reader)
    writer.write(b"200 result=-1 (hangup) endpos=25280\n")
    await asyncio.wait_for(recorder.done.wait(), 2.0)

    recorded, refused = recorder.seen
    assert isinstance(recorded, agi.AgiReply) and recorded.endpos == 25280
    assert isinstance(refused, AgiHangup)
    assert await asyncio.wait_for(reader.read(), 2.0) == b""
    writer.close()


async def test_timeout_marker_survives(servers: list[FastAgiServer]) -> None:
    async def script(session: AgiSession, seen: list[object]) -> None:
        seen.append(await session.send(b"GET DATA beep 3000 4\n", wait=3.0))

    recorder = Recorder(script)
    server = await start(recorder)
    servers.append(server)
    reader, writer = await connect(server)
    writer.write(HEADER)
    await read_command(reader)
    writer.write(b"200 result= (timeout)\n")
    await asyncio.wait_for(recorder.done.wait(), 2.0)

    reply = recorder.seen[0]
    assert isinstance(reply, agi.AgiReply)
    assert reply.timed_out and reply.result == ""
    writer.close()


async def test_plain_function_handler(servers: list[FastAgiServer]) -> None:
    seen: list[str] = []

    def handler(session: AgiSession) -> None:
        seen.append(session.request.channel)

    server = await start(handler)
    servers.append(server)
    reader, writer = await connect(server)
    writer.write(HEADER)

    assert await asyncio.wait_for(reader.read(), 2.0) == b""
    assert seen == ["PJSIP/trunk-00000001"]
    writer.close()


async def test_session_closed_after_hangup_command(servers: list[FastAgiServer]) -> None:
    async def script(session: AgiSession, seen: list[object]) -> None:
        seen.append(await session.send(agi.hangup_command()))

    recorder = Recorder(script)
    server = await start(recorder)
    servers.append(server)
    reader, writer = await connect(server)
    writer.write(HEADER)
    assert await read_command(reader) == "HANGUP"
    writer.write(b"200 result=1\n")
    await asyncio.sleep(0.04)
    writer.write(b"HANGUP\n")

    assert await asyncio.wait_for(reader.read(), 2.0) == b""
    writer.close()


async def test_handler_error_closes_session(servers: list[FastAgiServer]) -> None:
    def handler(session: AgiSession) -> None:
        raise RuntimeError("broken handler")

    server = await start(handler)
    servers.append(server)
    reader, writer = await connect(server)
    writer.write(HEADER)

    assert await asyncio.wait_for(reader.read(), 2.0) == b""
    writer.close()


async def test_concurrent_sends_keep_their_order(servers: list[FastAgiServer]) -> None:
    async def script(session: AgiSession, seen: list[object]) -> None:
        replies = await asyncio.gather(
            session.send(b"GET VARIABLE A\n"),
            session.send(b"GET VARIABLE B\n"),
            session.send(b"GET VARIABLE C\n"),
        )
        seen.extend(reply.data for reply in replies)

    recorder = Recorder(script)
    server = await start(recorder)
    servers.append(server)
    reader, writer = await connect(server)
    writer.write(HEADER)
    for name in "ABC":
        assert await read_command(reader) == f"GET VARIABLE {name}"
        writer.write(f"200 result=1 ({name.lower()})\n".encode())
    await asyncio.wait_for(recorder.done.wait(), 2.0)

    assert recorder.seen == ["a", "b", "c"]
    writer.close()


async def test_cancelled_queued_send_is_not_written(servers: list[FastAgiServer]) -> None:
    async def script(session: AgiSession, seen: list[object]) -> None:
        first = asyncio.create_task(session.send(b"GET VARIABLE A\n"))
        queued = asyncio.create_task(session.send(b"GET VARIABLE B\n"))
        await asyncio.sleep(0)
        queued.cancel()
        seen.append((await first).data)
        seen.append((await session.send(b"GET VARIABLE C\n")).data)
        seen.append(queued.cancelled())

    recorder = Recorder(script)
    server = await start(recorder)
    servers.append(server)
    reader, writer = await connect(server)
    writer.write(HEADER)
    assert await read_command(reader) == "GET VARIABLE A"
    writer.write(b"200 result=1 (a)\n")
    assert await read_command(reader) == "GET VARIABLE C"
    writer.write(b"200 result=1 (c)\n")
    await asyncio.wait_for(recorder.done.wait(), 2.0)

    assert recorder.seen == ["a", "c", True]
    writer.close()


async def test_late_reply_times_out_and_closes(servers: list[FastAgiServer]) -> None:
    async def script(session: AgiSession, seen: list[object]) -> None:
        try:
            await session.send(agi.answer_command())
        except TimeoutError:
            seen.append("timed out")
        seen.append(session.closed)

    recorder = Recorder(script)
    server = FastAgiServer(recorder, port=0, header_timeout=0.5, reply_timeout=0.2)
    await server.start()
    servers.append(server)
    reader, writer = await connect(server)
    writer.write(HEADER)
    assert await read_command(reader) == "ANSWER"

    assert await asyncio.wait_for(reader.read(), 2.0) == b""
    await asyncio.wait_for(recorder.done.wait(), 2.0)
    assert recorder.seen == ["timed out", True]
    writer.close()


async def test_reply_deadline_outlasts_header_timeout(servers: list[FastAgiServer]) -> None:
    async def script(session: AgiSession, seen: list[object]) -> None:
        seen.append((await session.send(agi.answer_command(), wait=0.6)).result)

    recorder = Recorder(script)
    server = await start(recorder)
    servers.append(server)
    reader, writer = await connect(server)
    writer.write(HEADER)
    assert await read_command(reader) == "ANSWER"
    await asyncio.sleep(0.7)  # past the 0.5 s header timeout, within the reply's 2.6 s
    writer.write(b"200 result=0\n")
    await asyncio.wait_for(recorder.done.wait(), 2.0)

    assert recorder.seen == ["0"]
    writer.close()
