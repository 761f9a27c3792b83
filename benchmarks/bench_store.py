"""Sustained write rate of the store while the event loop keeps serving timers.

For each database the script publishes whole interaction lifecycles (IVR, queue, offer,
answer, hold, wrap-up, agent state changes: 16 events a call) at ``--rate`` events per
second for ``--seconds`` seconds, and meanwhile measures the lateness of a 1 ms timer on
the event loop: routing decisions run on that loop, so its p99 lateness is the routing
latency the store adds. It prints the lateness with and without the store attached, the
sustained write rate, the largest backlog, and the writer's peak rate (publish as fast as
possible, then flush).

    .venv/bin/python benchmarks/bench_store.py --rate 5000 --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

from santral import events as ev
from santral.store import Store, StoreSettings, open_store

TICK = 0.01


def call_events(number: int) -> list[ev.Event]:
    """Return the 16 events of one answered call with hold and wrap-up."""
    call, interaction, agent = f"c{number}", f"i{number}", f"a{number % 200}"
    return [
        ev.CallStarted(call_id=call, connector="virtual", caller=f"+90555{number:07d}",
                       called="+902120000000", dialplan="main"),
        ev.IvrNodeEntered(call_id=call, dialplan="main", node="welcome", kind="play"),
        ev.IvrNodeEntered(call_id=call, dialplan="main", node="menu", kind="menu"),
        ev.IvrFinished(call_id=call, outcome="queued", path=["welcome", "menu"],
                       variables={"choice": "1"}),
        ev.InteractionQueued(interaction_id=interaction, channel="voice", queue="sales",
                             call_id=call),
        ev.OfferCreated(offer_id=f"o{number}", interaction_id=interaction, agent_id=agent,
                        queue="sales", channel="voice", timeout=15),
        ev.AgentStateChanged(agent_id=agent, old="idle", new="reserved"),
        ev.InteractionConnected(interaction_id=interaction, agent_id=agent, queue="sales"),
        ev.AgentStateChanged(agent_id=agent, old="reserved", new="busy"),
        ev.InteractionHeld(interaction_id=interaction, agent_id=agent, on_hold=True),
        ev.InteractionHeld(interaction_id=interaction, agent_id=agent, on_hold=False),
        ev.InteractionEnded(interaction_id=interaction, outcome="answered", queue="sales",
                            agent_id=agent),
        ev.WrapupStarted(agent_id=agent, interaction_id=interaction, duration=10),
        ev.CallEnded(call_id=call, outcome="completed"),
        ev.WrapupEnded(agent_id=agent, interaction_id=interaction, disposition="sale"),
        ev.AgentStateChanged(agent_id=agent, old="wrap_up", new="idle"),
    ]


def event_stream() -> Iterator[ev.Event]:
    number = 0
    while True:
        yield from call_events(number)
        number += 1


async def probe_lateness(stop: asyncio.Event, samples: list[float]) -> None:
    """Sleep 1 ms at a time until ``stop`` and record how late each wake-up was."""
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        planned = loop.time() + 0.001
        await asyncio.sleep(0.001)
        samples.append(loop.time() - planned)


async def publish_for(bus: ev.EventBus, rate: int, seconds: float, store: Store | None) -> int:
    """Publish ``rate`` events a second for ``seconds``; return the largest store backlog."""
    stream = event_stream()
    per_tick = max(1, int(rate * TICK))
    loop = asyncio.get_running_loop()
    started = loop.time()
    backlog = 0
    for tick in range(int(seconds / TICK)):
        for _ in range(per_tick):
            bus.publish(next(stream))
        backlog = max(backlog, store.pending if store else 0)
        await asyncio.sleep(max(0.0, started + (tick + 1) * TICK - loop.time()))
    return backlog


async def measure(url: str | None, rate: int, seconds: float) -> dict[str, float]:
    bus = ev.EventBus()
    store = await open_store(StoreSettings(url=url)) if url else None
    if store:
        store.attach(bus)
    samples: list[float] = []
    stop = asyncio.Event()
    probe = asyncio.create_task(probe_lateness(stop, samples))
    started = time.perf_counter()
    backlog = await publish_for(bus, rate, seconds, store)
    stop.set()
    await probe
    result = {"p50_ms": _quantile(samples, 0.5), "p99_ms": _quantile(samples, 0.99),
              "backlog": float(backlog)}
    if store:
        await store.close()
        result["written_per_s"] = store.written / (time.perf_counter() - started)
    return result


async def peak_rate(url: str, events: int) -> float:
    bus = ev.EventBus()
    store = await open_store(StoreSettings(url=url, flush_interval=1.0))
    store.attach(bus)
    stream = event_stream()
    for _ in range(events):
        bus.publish(next(stream))
    started = time.perf_counter()
    await store.flush()
    elapsed = time.perf_counter() - started
    await store.close()
    return events / elapsed


def _quantile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def run(urls: dict[str, str], rate: int, seconds: float) -> None:
    baseline = await measure(None, rate, seconds)
    print(f"no store: timer lateness p50 {baseline['p50_ms']:.2f} ms,"
          f" p99 {baseline['p99_ms']:.2f} ms at {rate} events/s")
    for name, url in urls.items():
        loaded = await measure(url, rate, seconds)
        print(f"{name}: timer lateness p50 {loaded['p50_ms']:.2f} ms,"
              f" p99 {loaded['p99_ms']:.2f} ms; written {loaded['written_per_s']:.0f} events/s"
              f" of {rate}; largest backlog {loaded['backlog']:.0f} events")
        print(f"{name}: writer peak {await peak_rate(url, 50_000):.0f} events/s"
              " (50,000 events in one flush)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=5000, help="events published per second")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each run")
    parser.add_argument("--no-postgres", action="store_true", help="measure SQLite only")
    parser.add_argument("--switch-interval", type=float, default=None,
                        help="sys.setswitchinterval in seconds (CPython's default is 0.005)")
    options = parser.parse_args()
    if options.switch_interval is not None:
        sys.setswitchinterval(options.switch_interval)
    with ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        urls = {"sqlite": f"sqlite:///{folder / 'bench.db'}"}
        if not options.no_postgres:
            from santral.testing.postgres import postgres_server

            server = stack.enter_context(postgres_server())
            urls["postgresql"] = server.create_database("bench")
        asyncio.run(run(urls, options.rate, options.seconds))


if __name__ == "__main__":
    main()
