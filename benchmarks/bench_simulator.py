"""Simulated customers per CPU second for M/M/500: santral's simulator, ciw and SimPy.

The model: Poisson arrivals at 1.5 per second, exponential handle times with a mean of
300 s, 500 agents (offered load 450 Erlangs, occupancy 0.9), callers who never hang up,
no wrap-up. Each tool simulates the same hours from an empty system and counts customers
whose service completed, divided by the process CPU time of the run (one core). santral
also finishes the calls in progress at the horizon (its queues drain), and counts them.

santral runs the full router path: every arrival, offer, accept, end of call and agent
state change goes through ``acd.router.Router`` and the KPI recorder, as in
``santral simulate``. ciw and SimPy run a bare M/M/c queue with no routing rules.

Run: ``.venv/bin/python benchmarks/bench_simulator.py [--hours 4]``
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import random
import time
from collections.abc import Callable, Generator
from typing import Any

import ciw
import simpy
import structlog

from acd.router import Router
from acd.sim_scenario import Scenario
from acd.simulator import run_replication

ARRIVAL_RATE = 1.5  # customers per second
MEAN_HANDLE_TIME = 300.0  # seconds
AGENTS = 500


def santral_run(hours: float, seed: int) -> int:
    """Simulate with santral's simulator and the real router; return completed customers."""
    calls_per_hour = ARRIVAL_RATE * 3600.0
    scenario = Scenario.model_validate(
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
    replication = run_replication(scenario, seed, 0)
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


def router_share(hours: float, seed: int) -> float:
    """Return the share of santral's CPU time spent inside router calls.

    Wraps each router input with a CPU-time counter for one run; the wrapper's own cost
    counts as router time, so the share is a slight overestimate.
    """
    spent = [0.0]
    originals = {name: getattr(Router, name) for name in _ROUTER_INPUTS}

    def timed(method: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.process_time()
            try:
                return method(*args, **kwargs)
            finally:
                spent[0] += time.process_time() - started

        return wrapper

    for name, method in originals.items():
        setattr(Router, name, timed(method))
    try:
        _, seconds = measure(santral_run, hours, seed)
    finally:
        for name, method in originals.items():
            setattr(Router, name, method)
    return spent[0] / seconds


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
    results = {}
    for name, run in (("santral", santral_run), ("ciw", ciw_run), ("simpy", simpy_run)):
        customers, seconds = measure(run, arguments.hours, arguments.seed)
        results[name] = customers / seconds
        print(f"{name:8s} {customers:8d} customers {seconds:8.2f} s CPU {results[name]:10.0f} /s")
    print(f"santral / ciw   {results['santral'] / results['ciw']:.2f}x")
    print(f"santral / simpy {results['santral'] / results['simpy']:.2f}x")
    share = router_share(arguments.hours, arguments.seed)
    print(f"share of santral's CPU time inside router calls: {share:.0%}")


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
