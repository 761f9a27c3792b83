"""Simulated customers per CPU second for M/M/500: santral's simulator, ciw and SimPy.

The model: Poisson arrivals at 1.5 per second, exponential handle times with a mean of
300 s, 500 agents (offered load 450 Erlangs, occupancy 0.9), callers who never hang up,
no wrap-up. Each tool simulates the same hours from an empty system and counts customers
whose service completed, divided by the process CPU time of the run (one core). santral
also finishes the calls in progress at the horizon (its queues drain), and counts them.

santral runs the full router path: every arrival, offer, accept, end of call and agent
state change goes through ``acd.router.Router`` and the KPI recorder, as in
``santral simulate``. ciw and SimPy run a bare M/M/c queue with no routing rules.

"bare loop" is the floor of any event-driven Python simulator of this model: a heapq of
(time, kind) events, a count of free agents and a FIFO of waiting arrival times, with
exponential draws from ``random``. It does no routing and records nothing but the count.

Run: ``.venv/bin/python benchmarks/bench_simulator.py [--hours 4]``
"""

from __future__ import annotations

import argparse
import heapq
import logging
import os
import platform
import random
import time
from collections import deque
from collections.abc import Callable, Generator
from typing import Any

import ciw
import simpy
import structlog

from acd.router import Router
from acd.settings import AcdSettings
from acd.sim_random import replication_rngs
from acd.sim_scenario import Scenario
from acd.simulator import run_replication
from santral.clock import VirtualClock

ARRIVAL_RATE = 1.5  # customers per second
MEAN_HANDLE_TIME = 300.0  # seconds
AGENTS = 500


def mm_scenario(hours: float) -> Scenario:
    """Return the M/M/500 model as a santral scenario."""
    calls_per_hour = ARRIVAL_RATE * 3600.0
    return Scenario.model_validate(
        {
            "interval": 3600,
            "acd": {"queues": {"q": {"wrapup": 0}}},
            "arrivals": [
                {
                    "queue": "q",
                    "poisson": [calls_per_hour] * round(hours),
                    "handle_time": {"distribution": "exponential", "mean": MEAN_HANDLE_TIME},
                }
            ],
            "agent_groups": [{"name": "agent", "count": AGENTS, "queues": ["q"]}],
        }
    )


def santral_run(hours: float, seed: int) -> int:
    """Simulate with santral's simulator and the real router; return completed customers."""
    replication = run_replication(mm_scenario(hours), seed, 0)
    total = next(row for row in replication.kpis if row.start < 0 and row.queue == "*")
    return total.answered


def ciw_run(hours: float, seed: int) -> int:
    """Simulate with ciw; return customers whose service completed by the horizon."""
    ciw.seed(seed)
    network = ciw.create_network(
        arrival_distributions=[ciw.dists.Exponential(rate=ARRIVAL_RATE)],
        service_distributions=[ciw.dists.Exponential(rate=1.0 / MEAN_HANDLE_TIME)],
        number_of_servers=[AGENTS],
    )
    simulation = ciw.Simulation(network)
    simulation.simulate_until_max_time(hours * 3600.0)
    return len(simulation.get_all_records())


def simpy_run(hours: float, seed: int) -> int:
    """Simulate with SimPy; return customers whose service completed by the horizon."""
    rng = random.Random(seed)
    environment = simpy.Environment()
    agents = simpy.Resource(environment, capacity=AGENTS)
    completed = [0]
    waits: list[float] = []

    def customer() -> Generator[simpy.events.Event, None, None]:
        arrived = environment.now
        with agents.request() as request:
            yield request
            waits.append(environment.now - arrived)
            yield environment.timeout(rng.expovariate(1.0 / MEAN_HANDLE_TIME))
        completed[0] += 1

    def arrivals() -> Generator[simpy.events.Event, None, None]:
        while True:
            yield environment.timeout(rng.expovariate(ARRIVAL_RATE))
            environment.process(customer())

    environment.process(arrivals())
    environment.run(until=hours * 3600.0)
    return completed[0]


def bare_loop_run(hours: float, seed: int) -> int:
    """Simulate M/M/c with a bare heapq event loop; return customers completed by the horizon."""
    rng = random.Random(seed)
    horizon = hours * 3600.0
    events: list[tuple[float, int]] = [(rng.expovariate(ARRIVAL_RATE), 0)]
    waiting: deque[float] = deque()
    free = AGENTS
    completed = 0
    service_rate = 1.0 / MEAN_HANDLE_TIME
    heappush, heappop = heapq.heappush, heapq.heappop
    while events:
        now, kind = heappop(events)
        if now > horizon:
            break
        if kind == 0:
            heappush(events, (now + rng.expovariate(ARRIVAL_RATE), 0))
            if free:
                free -= 1
                heappush(events, (now + rng.expovariate(service_rate), 1))
            else:
                waiting.append(now)
            continue
        completed += 1
        if waiting:
            waiting.popleft()
            heappush(events, (now + rng.expovariate(service_rate), 1))
        else:
            free += 1
    return completed


def measure(run: Callable[[float, int], int], hours: float, seed: int) -> tuple[int, float]:
    """Return completed customers and CPU seconds of one run."""
    started = time.process_time()
    customers = run(hours, seed)
    return customers, time.process_time() - started


_ROUTER_INPUTS = (
    "add_interaction",
    "remove_interaction",
    "accept",
    "end_interaction",
    "set_agent_status",
    "tick",
    "next_timer",
)


def router_replay(hours: float, seed: int) -> tuple[int, float]:
    """Return the customers of one santral run and the CPU seconds of its router calls alone.

    Records every router input of a run with its virtual time, then replays them on a new
    router and times the replay as a whole, so no per-call timer inflates the figure. The
    replay loop itself (setting the clock, looking up the method) counts as router time.
    """
    calls: list[tuple[Router, float, str, tuple[Any, ...], dict[str, Any]]] = []
    clocks: dict[int, VirtualClock] = {}
    depth = [0]
    originals = {name: getattr(Router, name) for name in _ROUTER_INPUTS}
    original_init = Router.__init__

    def init(self: Router, settings: AcdSettings, clock: Any, *args: Any, **kwargs: Any) -> None:
        clocks[id(self)] = clock
        original_init(self, settings, clock, *args, **kwargs)

    def recording(name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(self: Router, *args: Any, **kwargs: Any) -> Any:
            # Inputs the router makes to itself (remove_interaction ending a connected
            # interaction) are replayed by their outer call.
            if not depth[0]:
                calls.append((self, clocks[id(self)].now(), name, args, kwargs))
            depth[0] += 1
            try:
                return method(self, *args, **kwargs)
            finally:
                depth[0] -= 1

        return wrapper

    Router.__init__ = init  # type: ignore[method-assign]
    for name, method in originals.items():
        setattr(Router, name, recording(name, method))
    try:
        customers = santral_run(hours, seed)
    finally:
        Router.__init__ = original_init  # type: ignore[method-assign]
        for name, method in originals.items():
            setattr(Router, name, method)

    clock = VirtualClock(calls[0][1])
    settings = mm_scenario(hours).router_settings()
    router = Router(
        settings, clock, rng=replication_rngs(seed, 0)["router"], record_statistics=False
    )
    started = time.process_time()
    for _, when, name, args, kwargs in calls:
        clock.set(when)
        getattr(router, name)(*args, **kwargs)
    return customers, time.process_time() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=4.0, help="simulated hours per run")
    parser.add_argument("--seed", type=int, default=1)
    arguments = parser.parse_args()
    # The router logs agent status changes at INFO; a benchmark measures routing, not logs.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})

    print(f"M/M/{AGENTS}, λ = {ARRIVAL_RATE}/s, AHT {MEAN_HANDLE_TIME:g} s, {arguments.hours:g} h")
    print(f"python {platform.python_version()}, {_cpu_model()}, one core")
    print(f"load average {os.getloadavg()[0]:.2f} at the start")
    results = {}
    runs = (
        ("santral", santral_run),
        ("ciw", ciw_run),
        ("simpy", simpy_run),
        ("bare loop", bare_loop_run),
    )
    for name, run in runs:
        customers, seconds = measure(run, arguments.hours, arguments.seed)
        results[name] = customers / seconds
        print(f"{name:9s} {customers:8d} customers {seconds:8.2f} s CPU {results[name]:10.0f} /s")
    print(f"santral / ciw   {results['santral'] / results['ciw']:.2f}x")
    print(f"santral / simpy {results['santral'] / results['simpy']:.2f}x")
    customers, router_seconds = router_replay(arguments.hours, arguments.seed)
    santral_seconds = customers / results["santral"]
    print(
        f"router calls alone (replayed): {router_seconds:.2f} s CPU, "
        f"{router_seconds / santral_seconds:.0%} of santral's, "
        f"{router_seconds / customers * 1e6:.1f} µs per customer; so at most "
        f"{customers / router_seconds:,.0f} customers/s with a simulator that cost nothing"
    )


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


if __name__ == "__main__":
    main()
