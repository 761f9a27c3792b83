"""Benchmark the Twilio connector: signed voice webhooks, each replied to with TwiML.

The server (aiohttp, the connector, an in-memory engine side that returns a menu ``Gather``
for every call) runs in one child process on 127.0.0.1, on the event loop that ``--loop``
names. The load generator runs in a second child process: raw keep-alive TCP connections
(an asyncio ``Protocol``), pre-built signed POST requests, each for a new CallSid, and one
request in flight per connection, as Twilio sends them. Two runs:

* throughput: ``--requests`` requests over ``--connections`` connections, as fast as they go;
* paced: ``--rate`` requests per second for ``--seconds`` seconds. A request's latency is
  counted from the moment it was due, so a request that waited for a free connection
  counts its wait too.

Wall-clock figures depend on what else runs on the machine, so the script also reports
CPU time: the server's and the load generator's per request in the throughput run (read
from ``/proc``), and the connector's per webhook handed to it in this process, without
HTTP. ``--handler bare`` serves a fixed TwiML reply from a plain aiohttp handler instead
of the connector, which measures what aiohttp alone costs per request.

Usage: ``.venv/bin/python benchmarks/bench_twilio.py [--loop uvloop|asyncio] [--rate 1000]``
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import logging
import multiprocessing
import multiprocessing.connection
import os
import platform
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import structlog
from aiohttp import web

from ivr.actions import Action, CallInfo, Event, Gather, Prompt, QueueResult
from santral.clock import SystemClock
from santral.events import EventBus
from santral.telephony.base import CallControl, QueueStatus
from santral.telephony.twilio import TwilioConnector, TwilioSettings, Webhook, setup_routes
from santral.telephony.twilio.signature import sign
from santral.testing.twilio_peer import new_sid

ACCOUNT_SID = "AC" + "3f" * 16
AUTH_TOKEN = "bench-token-not-a-secret"
PUBLIC_URL = "https://voice.example.test"
MENU = [Gather(prompts=[Prompt(type="tts", value="For sales press 1, for support press 2.")])]
BARE_TWIML = (
    '<?xml version="1.0" encoding="UTF-8"?><Response><Gather action="/twilio/gather?step=1">'
    "<Say>For sales press 1, for support press 2.</Say></Gather></Response>"
)


class MenuOnly:
    """An engine side that returns the same menu for every call."""

    async def start_call(
        self, info: CallInfo, control: CallControl, *, entry: str | None = None
    ) -> list[Action]:
        return list(MENU)

    async def handle(self, call_id: str, event: Event) -> list[Action]:
        return list(MENU)

    async def caller_hung_up(self, call_id: str, cause: str = "") -> None:
        return None

    async def agent_leg_ended(self, call_id: str) -> None:
        return None

    async def consult_leg_ended(self, call_id: str) -> None:
        return None

    async def wait_queue_result(self, call_id: str) -> QueueResult:
        raise NotImplementedError

    def queue_status(self, call_id: str) -> QueueStatus | None:
        return None

    def prompt_file(self, language: str, name: str) -> Path | None:
        return None


def run_on(loop_name: str, main: Coroutine[Any, Any, Any]) -> Any:
    """Run ``main`` on the event loop ``loop_name`` names: ``uvloop`` or ``asyncio``."""
    if loop_name == "uvloop":
        import uvloop

        return uvloop.run(main)
    return asyncio.run(main)


def new_connector() -> TwilioConnector:
    return TwilioConnector(
        TwilioSettings(public_url=PUBLIC_URL, hold_music=None),
        MenuOnly(),
        clock=SystemClock(),
        bus=EventBus(),
        environ={"TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN},
        rest_client=object(),  # type: ignore[arg-type]  # never used: no agent legs
    )


def serve(port: int, loop_name: str, handler: str, ready: Any) -> None:
    """Run the connector's routes (or the bare handler) on 127.0.0.1:``port`` until killed."""

    async def bare(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(text=BARE_TWIML, content_type="text/xml")

    async def main() -> None:
        app = web.Application()
        if handler == "bare":
            app.router.add_post("/twilio/voice", bare)
        else:
            connector = new_connector()
            await connector.start()
            setup_routes(app, connector)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        ready.set()
        await asyncio.Event().wait()

    quiet_logs()
    run_on(loop_name, main())


def quiet_logs() -> None:
    """Drop INFO lines (one per call) so the figures measure webhooks, not the terminal."""
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))


def signed_bodies(count: int) -> list[tuple[bytes, str]]:
    """Return ``count`` voice webhook bodies with their signatures, one CallSid each."""
    url = f"{PUBLIC_URL}/twilio/voice"
    bodies = []
    for _ in range(count):
        params = {
            "AccountSid": ACCOUNT_SID,
            "CallSid": new_sid("CA"),
            "CallStatus": "ringing",
            "From": "+447700900123",
            "To": "+442071234567",
            "Direction": "inbound",
        }
        signature = sign(AUTH_TOKEN, url, {k: [v] for k, v in params.items()})
        bodies.append((urlencode(params).encode(), signature))
    return bodies


def http_requests(port: int, count: int) -> list[bytes]:
    """Return ``count`` complete HTTP/1.1 requests, ready to write to a socket."""
    requests = []
    for body, signature in signed_bodies(count):
        head = (
            f"POST /twilio/voice HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"X-Twilio-Signature: {signature}\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        requests.append(head.encode("ascii") + body)
    return requests


class Connection(asyncio.Protocol):
    """One keep-alive connection with at most one request in flight."""

    def __init__(self, on_reply: Callable[[Connection, float], None]) -> None:
        self._on_reply = on_reply
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._due = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def send(self, request: bytes, due: float) -> None:
        assert self._transport is not None
        self._due = due
        self._transport.write(request)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        head_end = self._buffer.find(b"\r\n\r\n")
        if head_end < 0:
            return
        start = self._buffer.find(b"Content-Length: ", 0, head_end) + 16
        length = int(self._buffer[start : self._buffer.find(b"\r\n", start)])
        if len(self._buffer) < head_end + 4 + length:
            return
        if self._buffer[9:12] != b"200":
            raise RuntimeError(f"webhook returned {bytes(self._buffer[:40])!r}")
        del self._buffer[:]
        self._on_reply(self, time.perf_counter() - self._due)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


async def drive(port: int, requests: list[bytes], connections: int, rate: float) -> list[float]:
    """Send ``requests`` at ``rate`` per second (0: at once) and return their latencies."""
    loop = asyncio.get_running_loop()
    latencies: list[float] = []
    backlog: collections.deque[tuple[bytes, float]] = collections.deque()
    idle: list[Connection] = []
    finished = loop.create_future()

    def on_reply(connection: Connection, latency: float) -> None:
        latencies.append(latency)
        if backlog:
            connection.send(*backlog.popleft())
        else:
            idle.append(connection)
        if len(latencies) == len(requests) and not finished.done():
            finished.set_result(None)

    pool = []
    for _ in range(connections):
        _, protocol = await loop.create_connection(lambda: Connection(on_reply), "127.0.0.1", port)
        pool.append(protocol)
    idle.extend(pool)
    began = time.perf_counter()
    for index, request in enumerate(requests):
        due = began + index / rate if rate else began
        delay = due - time.perf_counter()
        if delay > 0.0005:
            await asyncio.sleep(delay)
        if idle:
            idle.pop().send(request, due)
        else:
            backlog.append((request, due))
    await finished
    for protocol in pool:
        protocol.close()
    return latencies


def generate(
    port: int,
    loop_name: str,
    options: dict[str, Any],
    results: multiprocessing.connection.Connection,
) -> None:
    """Run the throughput and paced runs against the server; send the figures back."""
    warm = http_requests(port, 2000)
    load = http_requests(port, options["requests"])
    paced = http_requests(port, int(options["rate"] * options["seconds"]))

    async def main() -> dict[str, Any]:
        await drive(port, warm, options["connections"], 0)
        results.send("measuring")
        results.recv()
        cpu_before = time.process_time()
        began = time.perf_counter()
        await drive(port, load, options["connections"], 0)
        elapsed = time.perf_counter() - began
        client_cpu = time.process_time() - cpu_before
        results.send("measured")
        latencies = await drive(port, paced, options["connections"], options["rate"])
        return {"elapsed": elapsed, "client_cpu": client_cpu, "latencies": sorted(latencies)}

    results.send(run_on(loop_name, main()))


async def in_process(bodies: list[tuple[bytes, str]]) -> float:
    """Return the connector's CPU time per webhook in microseconds, without HTTP."""
    connector = new_connector()
    await connector.start()
    hooks = [Webhook("voice", "POST", "/twilio/voice", {}, body, sig) for body, sig in bodies]
    began = time.process_time()
    for hook in hooks:
        reply = await connector.handle_webhook(hook)
        if reply.status != 200:
            raise RuntimeError(f"webhook returned HTTP {reply.status}")
    return (time.process_time() - began) / len(hooks) * 1e6


def cpu_seconds(pid: int) -> float:
    """Return the user plus system CPU time of process ``pid`` (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def machine() -> str:
    model = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    return f"{os.cpu_count()} CPUs ({model}), Python {platform.python_version()}"


def measure(options: argparse.Namespace) -> dict[str, Any]:
    """Start the server and the load generator, and collect the figures of both runs."""
    ready = multiprocessing.Event()
    server = multiprocessing.Process(
        target=serve, args=(options.port, options.loop, options.handler, ready), daemon=True
    )
    server.start()
    ours, theirs = multiprocessing.Pipe()
    settings = {
        "requests": options.requests,
        "connections": options.connections,
        "rate": options.rate,
        "seconds": options.seconds,
    }
    client = multiprocessing.Process(
        target=generate, args=(options.port, options.loop, settings, theirs), daemon=True
    )
    try:
        if not ready.wait(30):
            raise RuntimeError("the benchmark server did not start within 30 s")
        client.start()
        assert server.pid is not None
        if not ours.poll(120):
            raise RuntimeError("the load generator did not finish its warm-up within 120 s")
        ours.recv()
        cpu_before = cpu_seconds(server.pid)
        ours.send("go")
        ours.recv()
        server_cpu = cpu_seconds(server.pid) - cpu_before
        if not ours.poll(options.seconds + 120):
            raise RuntimeError("the paced run did not finish within 120 s of its end")
        figures: dict[str, Any] = ours.recv()
    finally:
        for process in (client, server):
            if process.pid is not None:
                process.terminate()
                process.join(5)
    figures["server_cpu"] = server_cpu
    return figures


def report(options: argparse.Namespace, figures: dict[str, Any], load: float) -> None:
    latencies = figures["latencies"]
    requests = options.requests

    def percentile(share: float) -> float:
        return float(latencies[max(0, int(len(latencies) * share) - 1)]) * 1000

    print(f"machine: {machine()}, 1-minute load average {load:.1f} before the runs")
    print(f"server: {options.handler} handler on {options.loop}")
    print(
        f"throughput: {requests / figures['elapsed']:,.0f} signed voice webhooks/s "
        f"({requests} requests, {options.connections} connections)"
    )
    print(
        f"paced {options.rate:,.0f}/s for {options.seconds:g} s: p50 {percentile(0.5):.2f} ms, "
        f"p99 {percentile(0.99):.2f} ms, max {latencies[-1] * 1000:.2f} ms"
    )
    print(f"server CPU time: {figures['server_cpu'] / requests * 1e6:.0f} us per request")
    print(f"load generator CPU time: {figures['client_cpu'] / requests * 1e6:.0f} us per request")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--port", type=int, default=18931, help="server port on 127.0.0.1")
    parser.add_argument(
        "--loop",
        choices=("uvloop", "asyncio"),
        default="uvloop",
        help="event loop of the server and the load generator",
    )
    parser.add_argument(
        "--handler",
        choices=("connector", "bare"),
        default="connector",
        help="connector: the Twilio routes; bare: a fixed reply from aiohttp alone",
    )
    parser.add_argument(
        "--requests", type=int, default=20000, help="requests in the throughput run"
    )
    parser.add_argument("--connections", type=int, default=32, help="keep-alive connections")
    parser.add_argument("--rate", type=float, default=1000.0, help="paced run, requests per second")
    parser.add_argument("--seconds", type=float, default=5.0, help="paced run length in seconds")
    options = parser.parse_args()
    load = os.getloadavg()[0]
    quiet_logs()
    figures = measure(options)
    report(options, figures, load)
    if options.handler == "connector":
        cost = run_on(options.loop, in_process(signed_bodies(5000)))
        print(f"in process, without HTTP: {cost:.0f} us of CPU per webhook")


if __name__ == "__main__":
    main()
