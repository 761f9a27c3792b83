"""Measure the Asterisk connector's wire layers and print the figures.

1. AMI: events per second framed, mapped and applied to the channel table, from a
   recorded call's event sequence repeated with new unique ids.
2. FastAGI: sessions per second between the scripted Asterisk peer's callers (in a second
   process) and the FastAGI server (header block, ANSWER, STREAM FILE, HANGUP, close).
   The time includes starting the callers' process.

Both figures are also given per CPU second of the measuring process, which depends less on
other load on a shared machine.

Usage: ``.venv/bin/python benchmarks/bench_asterisk.py [--events N] [--sessions N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import multiprocessing
import os
import platform
import time
from pathlib import Path

import structlog

from santral.telephony.asterisk import agi, ami_events
from santral.telephony.asterisk.agi_server import AgiSession, FastAgiServer
from santral.telephony.asterisk.ami import AmiFramer
from santral.testing.asterisk_peer import AsteriskPeer

TRANSCRIPT = Path(__file__).resolve().parents[1] / "tests/asterisk/transcripts/agent_call.ami"
CHUNK = 65536


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


async def run_callers(port: int, sessions: int, concurrency: int) -> None:
    """Run ``sessions`` scripted callers against ``port``, ``concurrency`` at a time."""
    peer = AsteriskPeer()

    async def caller_loop(count: int) -> None:
        for _ in range(count):
            caller = await peer.call(port, "ivr?lang=en")
            await caller.finished()
            peer.callers.remove(caller)

    await asyncio.gather(*(caller_loop(sessions // concurrency) for _ in range(concurrency)))


def callers_process(port: int, sessions: int, concurrency: int) -> None:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    asyncio.run(run_callers(port, sessions, concurrency))


async def bench_fastagi(sessions: int, concurrency: int) -> tuple[int, float, float]:
    """Serve FastAGI here while the scripted callers run in a second process."""
    server = FastAgiServer(short_call, port=0, max_sessions=concurrency * 2)
    await server.start()
    total = sessions // concurrency * concurrency
    process = multiprocessing.Process(
        target=callers_process, args=(server.address[1], total, concurrency)
    )
    cpu_started = time.process_time()
    started = time.perf_counter()
    process.start()
    await asyncio.to_thread(process.join, 600)
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    if process.is_alive():
        process.terminate()
        process.join(5)
    await server.stop()
    return server.sessions_started, elapsed, cpu


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
    parser.add_argument("--sessions", type=int, default=4_000, help="FastAGI sessions to run")
    parser.add_argument("--concurrency", type=int, default=50, help="callers at a time")
    options = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))

    print(f"machine: {machine()}")
    events, elapsed, cpu = bench_ami(options.calls)
    print(
        f"AMI: {events} events in {elapsed:.2f} s = {events / elapsed:,.0f} events/s"
        f" ({events / cpu:,.0f} per CPU second)"
    )
    done, elapsed, cpu = asyncio.run(bench_fastagi(options.sessions, options.concurrency))
    print(
        f"FastAGI: {done} sessions in {elapsed:.2f} s = {done / elapsed:,.0f} sessions/s"
        f" ({done / cpu:,.0f} per CPU second of the server process)"
    )


if __name__ == "__main__":
    main()
