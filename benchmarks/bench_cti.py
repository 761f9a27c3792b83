"""Benchmark the CTI WebSocket fan-out: delivery latency, memory per connection, slow readers.

Starts a CTI server in a child process (so client work does not share its event loop),
connects ``--clients`` WebSocket clients plus ``--stalled`` clients that never read, has
the server publish ``--rate`` events per second for ``--seconds``, and prints:

- p50/p99/max delivery latency: receive time in the client minus the event's ``ts``
  stamped by the server's bus (both processes read the same wall clock);
- server memory per connection: the server's RSS growth while the clients connected,
  divided by their number;
- how many stalled clients the server disconnected and whether every reading client got
  every event;
- the floor: a bare loop of ``socket.send`` to as many readers in another process, at the
  same rate and size, which any fan-out that writes each client's socket once per event
  pays too.

Usage: .venv/bin/python benchmarks/bench_cti.py [--clients 1000] [--rate 50] [--seconds 20]
       [--loop uvloop|asyncio]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import multiprocessing
import os
import platform
import selectors
import socket
import statistics
import struct
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import aiohttp
import structlog
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import cti
from cti.settings import CtiSettings
from santral.events import AgentStatusChanged, EventBus

TOKEN_ENV = "SANTRAL_BENCH_TOKEN"
LOOPBACK = "127.0.0.1"


class IdleDesk:
    """A desk with one agent and no work, enough for snapshots."""

    def agent_view(self, agent_id: str) -> dict[str, Any]:
        return {"agent_id": agent_id, "name": agent_id, "status": "available", "reason": "",
                "state": "idle", "offer": None, "interactions": [], "wrapup": None}

    def agents(self) -> list[dict[str, Any]]:
        return [self.agent_view("a1")]

    def queues(self) -> list[dict[str, Any]]:
        return [{"queue": "support", "waiting": 0, "longest_wait": 0.0, "service_level": None,
                 "agents": {"idle": 1}}]

    def reason_codes(self) -> list[str]:
        return ["break"]

    def disposition_codes(self) -> list[str]:
        return ["resolved"]

    async def _unsupported(self, *args: Any) -> None:
        raise NotImplementedError

    set_status = accept = reject = hangup = hold = transfer = _unsupported
    end_wrapup = extend_wrapup = send_message = _unsupported


def rss_bytes() -> int:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE")


async def serve(backlog: int) -> None:
    """Run the CTI server; print its port; publish on request to /bench/publish."""
    # Per-connection INFO lines would fill the stdout pipe, which the parent stops
    # reading after the port.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
                        logger_factory=structlog.PrintLoggerFactory(sys.stderr))
    bus = EventBus()
    settings = CtiSettings.model_validate({
        "users": [{"id": "bench", "role": "supervisor", "token_env": TOKEN_ENV}],
        "max_backlog": backlog, "queue_stats_interval": 3600,
    })
    app = web.Application()
    hub = cti.setup(app, desk=IdleDesk(), bus=bus, settings=settings)  # type: ignore[arg-type]

    async def publish(request: web.Request) -> web.Response:
        rate, seconds = float(request.query["rate"]), float(request.query["seconds"])
        padding = "x" * int(request.query["payload"])
        count = int(rate * seconds)
        fan_out: list[float] = []
        cpu_before = time.process_time()
        start = time.perf_counter()
        for index in range(count):
            began = time.perf_counter()
            bus.publish(AgentStatusChanged(agent_id="a1", old="idle", new="busy",
                                           reason=f"{index} {padding}"))
            fan_out.append(time.perf_counter() - began)
            delay = start + (index + 1) / rate - time.perf_counter()
            await asyncio.sleep(max(0.0, delay))
        cpu = time.process_time() - cpu_before
        fan_out.sort()
        return web.json_response({"published": count, "cpu_per_event_ms": cpu / count * 1000,
                                  "fan_out_p50_ms": statistics.median(fan_out) * 1000,
                                  "fan_out_max_ms": fan_out[-1] * 1000})

    async def memory(request: web.Request) -> web.Response:
        gc.collect()
        return web.json_response({"rss": rss_bytes(), "clients": len(hub.clients)})

    app.router.add_post("/bench/publish", publish)
    app.router.add_get("/bench/memory", memory)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, LOOPBACK, 0, backlog=4096)
    await site.start()
    print(runner.addresses[0][1], flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until EOF
    await runner.cleanup()


class RawReader(asyncio.Protocol):
    """A WebSocket client that only records when bytes arrived; frames are parsed afterwards.

    Keeping the receive path this thin lets one process hold 1,000 clients without its own
    CPU time inflating the measured latency.
    """

    def __init__(self, hello: bytes) -> None:
        self.hello = hello
        self.chunks: list[tuple[float, bytes]] = []
        self.upgraded = asyncio.get_running_loop().create_future()
        self._handshake = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not subclasses of asyncio.Transport, so no isinstance check.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        if not self.upgraded.done():
            self._handshake += data
            head, found, rest = self._handshake.partition(b"\r\n\r\n")
            if not found:
                return
            self.upgraded.set_result(head)
            self.transport.write(self.hello)
            data = rest
        if data:
            self.chunks.append((time.time(), data))

    def messages(self) -> list[tuple[float, dict[str, Any]]]:
        """Parse the recorded bytes into (arrival time, message) pairs."""
        arrivals, result = [], []
        received = 0
        for arrived, chunk in self.chunks:
            received += len(chunk)
            arrivals.append((received, arrived))
        buffer = b"".join(chunk for _, chunk in self.chunks)
        offset, arrival_index = 0, 0
        while offset + 2 <= len(buffer):
            size, start = buffer[offset + 1] & 0x7F, offset + 2
            if size == 126:
                size, start = struct.unpack_from("!H", buffer, offset + 2)[0], offset + 4
            elif size == 127:
                size, start = struct.unpack_from("!Q", buffer, offset + 2)[0], offset + 10
            end = start + size
            if end > len(buffer):
                break
            while arrivals[arrival_index][0] < end:
                arrival_index += 1
            if buffer[offset] & 0x0F == 0x1:
                result.append((arrivals[arrival_index][1], json.loads(buffer[start:end])))
            offset = end
        return result


def handshake(port: int) -> bytes:
    return (f"GET /cti/ws HTTP/1.1\r\nHost: {LOOPBACK}:{port}\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n").encode()


def hello_frame(token: str) -> bytes:
    """Return a client text frame with the hello message, masked with a zero key."""
    payload = json.dumps({"type": "hello", "token": token}).encode()
    return bytes([0x81, 0x80 | len(payload)]) + b"\x00\x00\x00\x00" + payload


async def open_reader(port: int, token: str) -> RawReader:
    loop = asyncio.get_running_loop()
    _, reader = await loop.create_connection(lambda: RawReader(hello_frame(token)),
                                             LOOPBACK, port)
    reader.transport.write(handshake(port))
    await asyncio.wait_for(reader.upgraded, 30)
    return reader


def stalled_client(port: int, token: str) -> socket.socket:
    """Open a WebSocket and send hello, then never read from it."""
    sock = socket.create_connection((LOOPBACK, port))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.sendall(handshake(port) + hello_frame(token))
    return sock


async def run(args: argparse.Namespace) -> dict[str, Any]:
    token = os.urandom(16).hex()
    server = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--serve", "--backlog", str(args.backlog), "--loop", args.loop,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        env={**os.environ, TOKEN_ENV: token},
    )
    assert server.stdout is not None and server.stdin is not None
    try:
        port = int((await asyncio.wait_for(server.stdout.readline(), 30)).decode())
        return await measure(args, port, token)
    finally:
        server.stdin.close()
        try:
            await asyncio.wait_for(server.wait(), 10)
        except TimeoutError:
            server.kill()  # our own child, by its handle
            await server.wait()


async def measure(args: argparse.Namespace, port: int, token: str) -> dict[str, Any]:
    base = f"http://{LOOPBACK}:{port}"
    async with aiohttp.ClientSession() as session:
        before = await (await session.get(base + "/bench/memory")).json()
        readers = [await open_reader(port, token) for _ in range(args.clients)]
        await asyncio.sleep(1)
        after = await (await session.get(base + "/bench/memory")).json()
        stalled = [stalled_client(port, token) for _ in range(args.stalled)]
        await asyncio.sleep(0.5)

        published = await (await session.post(
            base + f"/bench/publish?rate={args.rate}&seconds={args.seconds}"
            f"&payload={args.payload}",
            timeout=aiohttp.ClientTimeout(total=args.seconds + 60),
        )).json()
        await asyncio.sleep(2)
        end = await (await session.get(base + "/bench/memory")).json()
        for reader in readers:
            reader.transport.close()
        for sock in stalled:
            sock.close()

    latencies: list[float] = []
    complete = 0
    for reader in readers:
        events = [(arrived, body) for arrived, body in reader.messages()
                  if body["type"] == "agent_status_changed"]
        latencies.extend(arrived - body["ts"] for arrived, body in events)
        complete += len(events) == published["published"]
    latencies.sort()
    return {
        "clients": args.clients, "rate": args.rate, "seconds": args.seconds,
        "payload_bytes": args.payload,
        "published": published["published"], "deliveries": len(latencies),
        "server_fan_out_p50_ms": published["fan_out_p50_ms"],
        "server_fan_out_max_ms": published["fan_out_max_ms"],
        "server_cpu_per_event_ms": published["cpu_per_event_ms"],
        "clients_with_every_event": complete,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "max_ms": latencies[-1] * 1000,
        "memory_per_connection_kb": (after["rss"] - before["rss"]) / args.clients / 1024,
        "stalled": args.stalled,
        "stalled_disconnected": args.clients + args.stalled - end["clients"],
    }


def send_floor(sockets: int, rate: float, events: int, size: int) -> dict[str, float]:
    """Time a bare loop of ``socket.send`` to ``sockets`` readers in another process.

    This is the floor of any fan-out that writes each client's socket once per event: the
    same sends as the hub's, without WebSocket framing, the event bus or Python objects per
    client. The readers sleep in ``epoll`` between events, as the benchmark's clients do,
    so each send also pays for waking them.
    """
    listener = socket.create_server((LOOPBACK, 0), backlog=sockets)
    port = listener.getsockname()[1]
    reader = multiprocessing.get_context("fork").Process(
        target=_read_floor, args=(port, sockets, events * size * sockets), daemon=True
    )
    reader.start()
    servers = [listener.accept()[0] for _ in range(sockets)]
    data = b"x" * size
    loops = []
    try:
        cpu_before = time.process_time()
        start = time.perf_counter()
        for index in range(events):
            began = time.perf_counter()
            for server in servers:
                server.send(data)
            loops.append(time.perf_counter() - began)
            time.sleep(max(0.0, start + (index + 1) / rate - time.perf_counter()))
        cpu = time.process_time() - cpu_before
        reader.join(30)
    finally:
        if reader.is_alive():
            reader.kill()  # our own child
        for server in servers:
            server.close()
        listener.close()
    loops.sort()
    return {"send_loop_cpu_per_event_ms": cpu / events * 1000,
            "send_loop_p50_ms": statistics.median(loops) * 1000,
            "send_loop_p99_ms": loops[int(len(loops) * 0.99) - 1] * 1000}


def _read_floor(port: int, sockets: int, expected: int) -> None:
    clients = [socket.create_connection((LOOPBACK, port)) for _ in range(sockets)]
    selector = selectors.EpollSelector()
    for client in clients:
        client.setblocking(False)
        selector.register(client, selectors.EVENT_READ)
    received = 0
    deadline = time.monotonic() + 120
    while received < expected and time.monotonic() < deadline:
        for key, _ in selector.select(1.0):
            try:
                received += len(key.fileobj.recv(65536))  # type: ignore[union-attr]
            except BlockingIOError:
                continue


def new_loop_factory(name: str) -> Callable[[], asyncio.AbstractEventLoop]:
    if name == "uvloop":
        import uvloop

        return uvloop.new_event_loop
    return asyncio.new_event_loop


def machine() -> str:
    model = next((line.split(":", 1)[1].strip()
                  for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), "unknown")
    return f"{os.cpu_count()} CPUs, {model}, Python {platform.python_version()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=1000, help="reading WebSocket clients")
    parser.add_argument("--stalled", type=int, default=10, help="clients that never read")
    parser.add_argument("--rate", type=float, default=50.0, help="events per second")
    parser.add_argument("--seconds", type=float, default=20.0, help="how long to publish")
    parser.add_argument("--payload", type=int, default=1000,
                        help="bytes of padding per event, about the size of a screen pop")
    parser.add_argument("--backlog", type=int, default=256, help="cti.max_backlog")
    parser.add_argument("--loop", choices=["asyncio", "uvloop"], default="uvloop",
                        help="event loop of the server and the clients")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    loop_factory = new_loop_factory(args.loop)
    if args.serve:
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            runner.run(serve(args.backlog))
        return
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        result = runner.run(run(args))
    result["loop"] = args.loop
    events = int(min(args.rate * args.seconds, 500))
    result.update(send_floor(args.clients, args.rate, events, args.payload + 100))
    print(f"machine: {machine()}")
    for key, value in result.items():
        print(f"{key}: {value:.2f}" if isinstance(value, float) else f"{key}: {value}")


if __name__ == "__main__":
    main()
