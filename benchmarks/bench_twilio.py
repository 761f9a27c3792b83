"""Benchmark the Twilio connector: signed voice webhooks, each replied to with TwiML.

The server (aiohttp, the connector, an in-memory engine side that returns a menu ``Gather``
for every call) runs in a child process on 127.0.0.1; this process sends pre-signed
POST requests, each for a new CallSid, over keep-alive connections. Two runs:

* throughput: ``--requests`` requests with ``--concurrency`` in flight, as fast as they go;
* paced: ``--rate`` requests per second for ``--seconds`` seconds, latency percentiles.

Wall-clock figures depend on what else runs on the machine, so the script also reports
CPU time. One figure is the server process's CPU time per request in the throughput run
(read from ``/proc``). The other is the connector's CPU time per webhook handed to it in
this process, without HTTP.

Usage: ``.venv/bin/python benchmarks/bench_twilio.py [--rate 1000] [--seconds 5]``
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import multiprocessing
import os
import platform
import statistics
import time
from pathlib import Path
from urllib.parse import urlencode

import aiohttp
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

    async def wait_queue_result(self, call_id: str) -> QueueResult:
        raise NotImplementedError

    def queue_status(self, call_id: str) -> QueueStatus | None:
        return None

    def prompt_file(self, language: str, name: str) -> Path | None:
        return None


def serve(port: int, ready: multiprocessing.synchronize.Event) -> None:
    """Run the connector's routes on 127.0.0.1:``port`` until terminated."""

    async def main() -> None:
        settings = TwilioSettings(public_url=PUBLIC_URL, hold_music=None)
        environ = {"TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN}
        connector = TwilioConnector(
            settings,
            MenuOnly(),
            clock=SystemClock(),
            bus=EventBus(),
            environ=environ,
            rest_client=object(),  # type: ignore[arg-type]  # never used: no agent legs
        )
        await connector.start()
        app = web.Application()
        setup_routes(app, connector)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        ready.set()
        await asyncio.Event().wait()

    quiet_logs()
    asyncio.run(main())


def quiet_logs() -> None:
    """Drop INFO lines (one per call) so the figures measure webhooks, not the terminal."""
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))


def signed_requests(count: int) -> list[tuple[bytes, str]]:
    """Return ``count`` voice webhook bodies with their signatures, one CallSid each."""
    url = f"{PUBLIC_URL}/twilio/voice"
    requests = []
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
        requests.append((urlencode(params).encode(), signature))
    return requests


async def post(session: aiohttp.ClientSession, url: str, body: bytes, signature: str) -> float:
    headers = {"X-Twilio-Signature": signature, "Content-Type": "application/x-www-form-urlencoded"}
    began = time.perf_counter()
    async with session.post(url, data=body, headers=headers) as response:
        await response.read()
        if response.status != 200:
            raise RuntimeError(f"webhook returned HTTP {response.status}")
    return time.perf_counter() - began


async def throughput(url: str, requests: list[tuple[bytes, str]], concurrency: int) -> float:
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        pending = iter(requests)

        async def worker() -> None:
            for body, signature in pending:
                await post(session, url, body, signature)

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return len(requests) / (time.perf_counter() - began)


async def paced(url: str, requests: list[tuple[bytes, str]], rate: float) -> list[float]:
    latencies: list[float] = []
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=256)) as session:
        began = time.perf_counter()
        tasks = []
        for index, (body, signature) in enumerate(requests):
            delay = began + index / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(post(session, url, body, signature)))
        latencies = list(await asyncio.gather(*tasks))
    return latencies


async def in_process(requests: list[tuple[bytes, str]]) -> float:
    """Return the connector's CPU time per webhook in microseconds, without HTTP.

    Process CPU time, not wall time, so other jobs on the machine do not count.
    """
    connector = TwilioConnector(
        TwilioSettings(public_url=PUBLIC_URL, hold_music=None),
        MenuOnly(),
        clock=SystemClock(),
        bus=EventBus(),
        environ={"TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN},
        rest_client=object(),  # type: ignore[arg-type]  # never used: no agent legs
    )
    await connector.start()
    hooks = [Webhook("voice", "POST", "/twilio/voice", {}, body, sig) for body, sig in requests]
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=18931, help="server port on 127.0.0.1")
    parser.add_argument(
        "--requests", type=int, default=20000, help="requests in the throughput run"
    )
    parser.add_argument("--concurrency", type=int, default=64, help="requests in flight")
    parser.add_argument("--rate", type=float, default=1000.0, help="paced run, requests per second")
    parser.add_argument("--seconds", type=float, default=5.0, help="paced run length in seconds")
    options = parser.parse_args()
    load = os.getloadavg()[0]
    quiet_logs()

    ready = multiprocessing.Event()
    server = multiprocessing.Process(target=serve, args=(options.port, ready), daemon=True)
    server.start()
    try:
        if not ready.wait(30):
            raise RuntimeError("the benchmark server did not start within 30 s")
        url = f"http://127.0.0.1:{options.port}/twilio/voice"
        warm = signed_requests(2000)
        asyncio.run(throughput(url, warm, options.concurrency))
        requests = signed_requests(options.requests)
        assert server.pid is not None
        cpu_before = cpu_seconds(server.pid)
        rate = asyncio.run(throughput(url, requests, options.concurrency))
        server_cpu = (cpu_seconds(server.pid) - cpu_before) / options.requests * 1e6
        count = int(options.rate * options.seconds)
        latencies = sorted(asyncio.run(paced(url, signed_requests(count), options.rate)))
    finally:
        server.terminate()
        server.join(5)
    cost = asyncio.run(in_process(signed_requests(5000)))
    p50 = statistics.median(latencies) * 1000
    p99 = latencies[int(len(latencies) * 0.99) - 1] * 1000
    print(f"machine: {machine()}, 1-minute load average {load:.1f} before the runs")
    print(
        f"throughput: {rate:,.0f} signed voice webhooks/s "
        f"({options.requests} requests, {options.concurrency} in flight)"
    )
    print(
        f"paced {options.rate:,.0f}/s for {options.seconds:g} s: p50 {p50:.2f} ms, "
        f"p99 {p99:.2f} ms, max {latencies[-1] * 1000:.2f} ms"
    )
    print(f"server CPU time: {server_cpu:.0f} us per request with HTTP")
    print(f"in process, without HTTP: {cost:.0f} us of CPU per webhook")


if __name__ == "__main__":
    main()
