"""Measure the Asterisk connector's wire layers and print the figures.

1. AMI: events per second framed, mapped and applied to the channel table, from a
   recorded call's event sequence repeated with new unique ids.
2. FastAGI: sessions per second of the FastAGI server (header block, ANSWER, STREAM FILE,
   HANGUP, close), against scripted callers in a second process. The callers use bare
   sockets and ``epoll``, write a pre-built header block and reply to each command line
   by its first letter, so they take little of the CPU the server shares with them.

The FastAGI figure is given per wall-clock second and per CPU second of the server
process. The second depends less on other load on a shared machine, so it is the figure
to compare. ``--loop`` picks the server's event loop: ``asyncio``, ``uvloop`` or ``both``
(the default).

``--bare`` also measures a bare ``asyncio.Protocol`` server doing the same exchange
without santral, the floor set by the event loop and the sockets.

Usage: ``.venv/bin/python benchmarks/bench_asterisk.py [--calls N] [--sessions N]
[--concurrency N] [--loop asyncio|uvloop|both] [--bare] [--profile]``.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import logging
import multiprocessing
import os
import platform
import pstats
import resource
import select
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import structlog
import uvloop

from santral.telephony.asterisk import agi, ami_events
from santral.telephony.asterisk.agi_server import AgiSession, FastAgiServer
from santral.telephony.asterisk.ami import AmiFramer
from santral.testing.asterisk_peer import _Leg, header_block

TRANSCRIPT = Path(__file__).resolve().parents[1] / "tests/asterisk/transcripts/agent_call.ami"
CHUNK = 65536
LOOPS: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
    "asyncio": asyncio.new_event_loop,
    "uvloop": uvloop.new_event_loop,
}
# Replies by the first letter of the command: ANSWER, STREAM FILE, HANGUP.
REPLIES = {
    ord("A"): b"200 result=0\n",
    ord("S"): b"200 result=0 endpos=11234\n",
    ord("H"): b"200 result=1\n",
}


def ami_stream(calls: int) -> tuple[bytes, int]:
    """Return ``calls`` copies of a recorded call's events with distinct ids, and the count."""
    banner, body = TRANSCRIPT.read_text().split("\n", 1)
    copies = [body.replace("1733331000.", f"{1733331000 + index}.") for index in range(calls)]
    text = banner + "\n" + "".join(copies)
    events = text.count("Event: ")
    return text.replace("\n", "\r\n").encode(), events


def bench_ami(calls: int) -> tuple[int, float, float]:
    data, events = ami_stream(calls)
    framer = AmiFramer()
    table = ami_events.ChannelTable()
    cpu_started = time.process_time()
    started = time.perf_counter()
    for offset in range(0, len(data), CHUNK):
        for message in framer.feed(data[offset : offset + CHUNK]):
            if message.name in ami_events.NOISE:
                continue
            for event in ami_events.normalise(message):
                table.apply(event)
    elapsed = time.perf_counter() - started
    return events, elapsed, time.process_time() - cpu_started


async def short_call(session: AgiSession) -> None:
    await session.send(agi.answer_command())
    await session.send(agi.stream_file_command("santral/en/goodbye"))
    await session.send(agi.hangup_command())


class Callers:
    """Scripted callers on bare non-blocking sockets and ``epoll``, with no event loop.

    Each connection writes a pre-built header block, replies to every command line by its
    first letter, and is replaced by a new one when santral closes it.
    """

    def __init__(self, port: int, sessions: int, concurrency: int) -> None:
        self.port = port
        self.left = sessions
        self.finished = 0
        self.poll = select.epoll()
        self.sockets: dict[int, tuple[socket.socket, list[bytes]]] = {}
        self.headers = [
            header_block(
                _Leg(f"PJSIP/trunk-{n:08x}", f"1733331000.{n}"), "ivr", port, "555", "4000", []
            )
            for n in range(concurrency)
        ]

    def open(self, slot: int) -> None:
        if self.left <= 0:
            return
        self.left -= 1
        sock = socket.create_connection(("127.0.0.1", self.port))
        sock.sendall(self.headers[slot % len(self.headers)])
        sock.setblocking(False)
        self.sockets[sock.fileno()] = (sock, [b""])
        self.poll.register(sock.fileno(), select.EPOLLIN)

    def readable(self, fd: int) -> None:
        sock, partial = self.sockets[fd]
        try:
            data = sock.recv(4096)
        except BlockingIOError:
            return
        if not data:
            self.poll.unregister(fd)
            del self.sockets[fd]
            sock.close()
            self.finished += 1
            self.open(fd)
            return
        lines = (partial[0] + data).split(b"\n")
        partial[0] = lines.pop()
        for line in lines:
            sock.send(REPLIES.get(line[0], b"510 Invalid or unknown command\n"))

    def run(self, concurrency: int, limit: float) -> None:
        for slot in range(concurrency):
            self.open(slot)
        deadline = time.monotonic() + limit
        while self.sockets and time.monotonic() < deadline:
            for fd, _ in self.poll.poll(1.0):
                self.readable(fd)


def callers_process(port: int, sessions: int, concurrency: int, ready: Any, go: Any) -> None:
    """Start the callers once the server has started measuring (``go``)."""
    callers = Callers(port, sessions, concurrency)
    ready.set()
    if go.wait(60):
        callers.run(concurrency, 600.0)


class BareSession(asyncio.Protocol):
    """The same exchange with no santral code: the floor set by the event loop and sockets.

    It waits for the empty line that ends the header block, then writes the three commands
    one reply at a time and closes the connection.
    """

    COMMANDS = (b"ANSWER\n", b'STREAM FILE "santral/en/goodbye" ""\n', b"HANGUP\n")

    def __init__(self, server: BareServer) -> None:
        self._server = server
        self._transport: asyncio.Transport | None = None
        self._buffer = b""
        self._step = -1

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        assert self._transport is not None
        if self._step < 0:
            self._buffer += data
            if b"\n\n" not in self._buffer:
                return
            self._server.sessions_started += 1
        self._step += 1
        if self._step < len(self.COMMANDS):
            self._transport.write(self.COMMANDS[self._step])
        else:
            self._transport.close()


class BareServer:
    def __init__(self) -> None:
        self.sessions_started = 0
        self._server: asyncio.Server | None = None

    @property
    def address(self) -> tuple[str, int]:
        assert self._server is not None
        host, port = self._server.sockets[0].getsockname()[:2]
        return str(host), int(port)

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: BareSession(self), "127.0.0.1", 0)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()


async def bench_fastagi(
    sessions: int, concurrency: int, bare: bool, profile: cProfile.Profile | None
) -> tuple[int, float, float, float]:
    """Serve FastAGI here while the scripted callers run in a second process.

    With ``bare`` the server is ``BareServer`` instead of santral's ``FastAgiServer``.
    """
    server: FastAgiServer | BareServer = (
        BareServer() if bare else FastAgiServer(short_call, port=0, max_sessions=concurrency * 2)
    )
    await server.start()
    context = multiprocessing.get_context("spawn")
    ready, go = context.Event(), context.Event()
    process = context.Process(
        target=callers_process, args=(server.address[1], sessions, concurrency, ready, go)
    )
    process.start()
    await asyncio.to_thread(ready.wait, 60)  # the callers' start-up is not measured
    if profile is not None:
        profile.enable()
    usage_started = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    go.set()
    for _ in range(120_000):
        if not process.is_alive():
            break
        await asyncio.sleep(0.005)
    elapsed = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    user = usage.ru_utime - usage_started.ru_utime
    system = usage.ru_stime - usage_started.ru_stime
    if profile is not None:
        profile.disable()
    if process.is_alive():
        process.terminate()
    process.join(5)
    await server.stop()
    return server.sessions_started, elapsed, user, system


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def machine() -> str:
    model = "unknown CPU"
    with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    load = os.getloadavg()[0]
    return (
        f"{os.cpu_count()} CPUs (nproc), {model}, Python {platform.python_version()},"
        f" load average {load:.1f} at start"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--calls", type=int, default=20_000, help="recorded calls in the AMI stream"
    )
    parser.add_argument("--sessions", type=int, default=20_000, help="FastAGI sessions to run")
    parser.add_argument("--concurrency", type=int, default=50, help="callers at a time")
    parser.add_argument("--loop", choices=["asyncio", "uvloop", "both"], default="both")
    parser.add_argument("--profile", action="store_true", help="print the server's cProfile")
    parser.add_argument(
        "--bare",
        action="store_true",
        help="also measure a bare protocol server that does the same exchange without santral",
    )
    options = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))

    print(f"machine: {machine()}")
    if options.calls:
        events, elapsed, cpu = bench_ami(options.calls)
        print(
            f"AMI: {events} events in {elapsed:.2f} s = {events / elapsed:,.0f} events/s"
            f" ({events / cpu:,.0f} per CPU second)"
        )
    names = ["asyncio", "uvloop"] if options.loop == "both" else [options.loop]
    servers = [False, True] if options.bare else [False]
    for name in names:
        for bare in servers:
            run_fastagi(options, name, bare)


def run_fastagi(options: argparse.Namespace, loop_name: str, bare: bool) -> None:
    # CPU time, not wall time: a socket write may wait for the other process on the CPU.
    profile = cProfile.Profile(time.thread_time) if options.profile else None
    callers_before = children_cpu()
    with asyncio.Runner(loop_factory=LOOPS[loop_name]) as runner:
        done, elapsed, user, system = runner.run(
            bench_fastagi(options.sessions, options.concurrency, bare, profile)
        )
    callers = children_cpu() - callers_before
    cpu = user + system
    label = "bare protocol server" if bare else "FastAGI"
    print(
        f"{label} on {loop_name}: {done} sessions in {elapsed:.2f} s ="
        f" {done / elapsed:,.0f} sessions/s, {done / cpu:,.0f} per CPU second of the server"
        f" ({1e6 * user / done:.0f} µs user + {1e6 * system / done:.0f} µs kernel a session;"
        f" callers {callers:.2f} CPU s)"
    )
    if profile is not None:
        pstats.Stats(profile).sort_stats("tottime").print_stats(25)


if __name__ == "__main__":
    main()
