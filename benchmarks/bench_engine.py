"""Whole calls per second through one engine process, placed by the virtual caller.

Each call walks the sample IVR (English, sales), waits in the sales queue, is accepted by
an auto-accepting agent, is hung up by the agent at once, answers the survey and ends. So
the figure covers the interpreter, CallService, the router, events, the SQLite store and
the connector contract, without telephony I/O.

Usage: python benchmarks/bench_engine.py [--calls 2000] [--concurrency 100] [--agents 50]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPOSITORY))

from santral import events as ev  # noqa: E402
from santral.clock import ShiftedClock  # noqa: E402
from santral.config import load_config  # noqa: E402
from santral.engine import Engine  # noqa: E402
from santral.logging import configure_logging  # noqa: E402
from santral.telephony.virtual import KeyScript  # noqa: E402

MONDAY_MORNING = datetime.fromisoformat("2026-12-07T10:00:00+03:00").timestamp()


def engine_environ(folder: Path, agents: int) -> dict[str, str]:
    roster = {
        f"agent{number:03d}": {
            "skills": {"sales": 5},
            "languages": ["en", "tr"],
            "queues": ["sales"],
            "auto_accept": True,
            "wrapup": 0,
        }
        for number in range(agents)
    }
    return {
        "SANTRAL_HTTP__PORT": "0",
        "SANTRAL_STORE__URL": f"sqlite:///{folder / 'bench.db'}",
        "SANTRAL_EMAIL__ENABLED": "false",
        "SANTRAL_ASTERISK__FASTAGI__ENABLED": "false",
        "SANTRAL_LOG__LEVEL": "error",
        "SANTRAL_ACD__AGENTS": json.dumps(roster),
    }


async def run(calls: int, concurrency: int, agents: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as folder:
        environ = engine_environ(Path(folder), agents)
        config = load_config(REPOSITORY / "config.yaml", environ=environ)
        engine = Engine(config, clock=ShiftedClock(MONDAY_MORNING), environ=environ)
        await engine.start()
        assert engine.virtual is not None
        virtual = engine.virtual
        hangups: set[asyncio.Task[None]] = set()

        def agent_hangs_up(event: ev.Event) -> None:
            if isinstance(event, ev.InteractionConnected):
                task = asyncio.ensure_future(
                    engine.acd.hangup(event.agent_id, event.interaction_id)
                )
                hangups.add(task)
                task.add_done_callback(hangups.discard)

        engine.bus.subscribe(agent_hangs_up)
        for number in range(agents):
            await engine.acd.set_status(f"agent{number:03d}", "available")

        durations: list[float] = []
        slots = asyncio.Semaphore(concurrency)

        async def one_call(number: int) -> None:
            async with slots:
                started = time.perf_counter()
                script = KeyScript(keys=["1", "3", "5"], key_gap=0.05, time_scale=0.0)
                await virtual.place_call(f"+90555{number:07d}", "100", script, lambda _: None)
                durations.append(time.perf_counter() - started)

        began = time.perf_counter()
        await asyncio.gather(*(one_call(number) for number in range(calls)))
        elapsed = time.perf_counter() - began
        assert engine.store is not None
        await engine.store.flush()
        await engine.stop()
    durations.sort()
    return {
        "calls": calls,
        "seconds": elapsed,
        "calls_per_second": calls / elapsed,
        "median_ms": statistics.median(durations) * 1000,
        "p99_ms": durations[int(len(durations) * 0.99) - 1] * 1000,
        "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--agents", type=int, default=50)
    options = parser.parse_args()
    configure_logging(os.environ.get("BENCH_LOG_LEVEL", "error"), "console")
    result = asyncio.run(run(options.calls, options.concurrency, options.agents))
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}")
    print(f"calls: {result['calls']:.0f} at concurrency {options.concurrency}, "
          f"{options.agents} agents")
    print(f"throughput: {result['calls_per_second']:.0f} whole calls/s "
          f"({result['seconds']:.2f} s)")
    print(f"call duration: median {result['median_ms']:.1f} ms, p99 {result['p99_ms']:.1f} ms")
    print(f"max RSS: {result['max_rss_mb']:.0f} MB")


if __name__ == "__main__":
    main()
