"""Measure the ACD router: decisions per second, latency per input, memory per interaction.

Run: ``.venv/bin/python benchmarks/bench_routing.py [--agents 10000] [--waiting 10000]``.

The floor: ``--agents`` agents in 10 queues with 100 skill profiles (10 per queue, one or
two required skills), every agent in 2 queues with 10 of 20 skills. Steady state keeps
about ``--waiting`` interactions waiting, and every agent who can serve one of them busy
(agents whose profiles have nothing waiting stay idle). One cycle is three router inputs:
an agent ends an interaction (the router offers it the best waiting interaction it can
serve), the agent accepts and connects, and a new interaction arrives and waits. Each
input is timed on its own, in wall time and in CPU time of the thread. Objects built
during setup are moved out of the garbage collector's reach with ``gc.freeze()`` before
timing, as a long-running engine can do after start-up.

A naive scan router (the same choice, made by scanning every waiting interaction and
every agent) runs the same cycle on the same floor for comparison, with fewer cycles
because each of its decisions is linear in the floor size.
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import platform
import random
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import structlog

from acd.decisions import Decision, Offer
from acd.router import Router
from acd.settings import AcdSettings
from santral.clock import VirtualClock

SKILLS = [f"s{index}" for index in range(20)]
QUEUES = [f"q{index}" for index in range(10)]


@dataclass(frozen=True)
class ProfileSpec:
    queue: str
    skills: dict[str, int]


def build_floor(agent_count: int, rng: random.Random) -> tuple[AcdSettings, list[ProfileSpec]]:
    """Return the settings and the 100 skill profiles of the benchmark floor."""
    # Ten profiles per queue, each with its own first skill, so all 100 differ.
    profiles = []
    for queue_index, queue in enumerate(QUEUES):
        for offset in range(10):
            first = SKILLS[(queue_index + offset) % len(SKILLS)]
            second = SKILLS[(queue_index + offset + 7) % len(SKILLS)]
            skills = {first: 3} if offset % 2 else {first: 3, second: 3}
            profiles.append(ProfileSpec(queue, skills))
    assert len({(spec.queue, tuple(spec.skills.items())) for spec in profiles}) == 100
    agents = {
        f"agent{index}": {
            "queues": rng.sample(QUEUES, 2),
            "skills": {skill: rng.randint(3, 10) for skill in rng.sample(SKILLS, 10)},
        }
        for index in range(agent_count)
    }
    queues = {name: {"wrapup": 0, "ring_timeout": 30} for name in QUEUES}
    settings = AcdSettings.model_validate({"queues": queues, "agents": agents})
    return settings, profiles


class NaiveRouter:
    """The comparison: the same choices as ``Router`` by linear scans, voice only."""

    def __init__(self, settings: AcdSettings, clock: VirtualClock) -> None:
        self.settings = settings
        self.clock = clock
        self.waiting: list[tuple[int, float, int, str, ProfileSpec]] = []
        self.idle: dict[str, float] = {}
        self.busy: dict[str, str] = {}
        self.sequence = 0

    def eligible(self, agent_id: str, spec: ProfileSpec) -> bool:
        agent = self.settings.agents[agent_id]
        if spec.queue not in agent.queues:
            return False
        return all(agent.skills.get(skill, 0) >= level for skill, level in spec.skills.items())

    def add(self, interaction_id: str, spec: ProfileSpec) -> str | None:
        best = None
        for agent_id, since in self.idle.items():
            if self.eligible(agent_id, spec) and (best is None or since < self.idle[best]):
                best = agent_id
        if best is not None:
            del self.idle[best]
            self.busy[best] = interaction_id
            return best
        self.sequence += 1
        self.waiting.append((0, self.clock.now(), self.sequence, interaction_id, spec))
        return None

    def add_decisions(self, interaction_id: str, spec: ProfileSpec) -> list[str | None]:
        return [self.add(interaction_id, spec)]

    def free_decisions(self, agent_id: str) -> list[str | None]:
        return [self.free(agent_id)]

    def free(self, agent_id: str) -> str | None:
        del self.busy[agent_id]
        best = None
        for entry in self.waiting:
            if self.eligible(agent_id, entry[4]) and (best is None or entry < best):
                best = entry
        if best is None:
            self.idle[agent_id] = self.clock.now()
            return None
        self.waiting.remove(best)
        self.busy[agent_id] = best[3]
        return best[3]


@dataclass
class Samples:
    """Durations of router inputs in ns: wall clock, and CPU time of this thread.

    CPU time leaves out the time the process waits for a core, so it shows the router's
    own cost on a machine shared with other work; wall time is what a caller sees.
    """

    wall: list[int] = field(default_factory=list)
    cpu: list[int] = field(default_factory=list)

    def report(self, decisions: int, elapsed: float) -> str:
        """Return rates per wall second and per CPU second of the timed inputs, and latencies."""
        cpu_seconds = sum(self.cpu) / 1e9
        return (
            f"{len(self.wall) / elapsed:,.0f} inputs/s and {decisions / elapsed:,.0f} "
            f"decisions/s of wall time; {len(self.cpu) / cpu_seconds:,.0f} inputs and "
            f"{decisions / cpu_seconds:,.0f} decisions per CPU second\n"
            f"  wall p50 {_percentile(self.wall, 0.5)} p99 {_percentile(self.wall, 0.99)} µs; "
            f"CPU p50 {_percentile(self.cpu, 0.5)} p99 {_percentile(self.cpu, 0.99)} µs"
        )


def _percentile(values: list[int], share: float) -> str:
    ordered = sorted(values)
    return f"{ordered[min(len(ordered) - 1, int(len(ordered) * share))] / 1000:.1f}"


def timed(
    call: Callable[[], list[Any]],
    samples: Samples,
    counts: list[int],
    kind: Samples | None = None,
) -> list[Any]:
    """Run one router input; record its wall and CPU durations (ns) and decision count.

    ``kind`` also receives the CPU duration, to report each kind of input apart.
    """
    wall = time.perf_counter_ns()
    cpu = time.thread_time_ns()
    decisions = call()
    spent = time.thread_time_ns() - cpu
    samples.cpu.append(spent)
    samples.wall.append(time.perf_counter_ns() - wall)
    counts.append(len(decisions))
    if kind is not None:
        kind.cpu.append(spent)
    return decisions


class Floor:
    """A router filled to steady state: every able agent busy, ``waiting`` waiting."""

    def __init__(
        self, agent_count: int, waiting: int, seed: int, *, record_statistics: bool
    ) -> None:
        self.rng = random.Random(seed)
        self.settings, self.profiles = build_floor(agent_count, self.rng)
        self.clock = VirtualClock(0)
        self.router = Router(
            self.settings,
            self.clock,
            rng=random.Random(seed),
            record_statistics=record_statistics,
        )
        self.counter = 0
        self.specs: dict[str, ProfileSpec] = {}
        self.counts: list[int] = []
        self.connected: list[str] = []
        # CPU durations of each kind of input during the timed cycles.
        self.by_input = {"end": Samples(), "accept": Samples(), "arrive": Samples()}
        for agent_id in self.settings.agents:
            self.router.set_agent_status(agent_id, "available")
        self.fill(agent_count + waiting)

    def arrive(self) -> list[Decision]:
        self.counter += 1
        spec = self.profiles[self.rng.randrange(len(self.profiles))]
        self.specs[f"i{self.counter}"] = spec
        self.clock.advance(0.01)
        return self.router.add_interaction(f"i{self.counter}", spec.queue, skills=spec.skills)

    def fill(self, count: int) -> None:
        for _ in range(count):
            self.connect_offers(self.arrive(), Samples())

    def connect_offers(self, decisions: list[Decision], samples: Samples) -> None:
        for offer in [item for item in decisions if isinstance(item, Offer)]:
            accept = partial(self.router.accept, offer.offer_id, connect=True)
            timed(accept, samples, self.counts, self.by_input["accept"])
            self.connected.append(offer.interaction_id)

    def cycle(self, samples: Samples) -> None:
        """End one interaction, connect what the router offers, add one interaction."""
        index = self.rng.randrange(len(self.connected))
        self.connected[index], self.connected[-1] = self.connected[-1], self.connected[index]
        interaction_id = self.connected.pop()
        end = partial(self.router.end_interaction, interaction_id)
        ended = timed(end, samples, self.counts, self.by_input["end"])
        self.connect_offers(ended, samples)
        arrived = timed(self.arrive, samples, self.counts, self.by_input["arrive"])
        self.connect_offers(arrived, samples)


def run_router(args: argparse.Namespace, *, record_statistics: bool) -> tuple[str, Floor]:
    started = time.perf_counter()
    floor = Floor(args.agents, args.waiting, args.seed, record_statistics=record_statistics)
    setup = time.perf_counter() - started
    waiting = sum(1 for _ in floor.router.interactions()) - len(floor.connected)
    samples = Samples()
    floor.counts.clear()
    for kind in floor.by_input.values():
        kind.cpu.clear()
    gc.collect()
    gc.freeze()
    begin = time.perf_counter()
    for _ in range(args.cycles):
        floor.cycle(samples)
    elapsed = time.perf_counter() - begin
    gc.unfreeze()
    decisions = sum(floor.counts)
    label = "router, statistics on" if record_statistics else "router, statistics off"
    header = (
        f"{label}: {args.agents} agents, {len(floor.connected)} connected, {waiting} waiting, "
        f"100 profiles, setup {setup:.1f} s"
    )
    kinds = "; ".join(
        f"{name} p50 {_percentile(kind.cpu, 0.5)} p99 {_percentile(kind.cpu, 0.99)}"
        for name, kind in floor.by_input.items()
    )
    report = samples.report(decisions, elapsed)
    return f"{header}\n  {args.cycles} cycles: {report}\n  CPU µs by input: {kinds}", floor


def run_naive(args: argparse.Namespace, floor: Floor) -> str:
    """Time the naive scan router on a copy of ``floor``'s state."""
    naive = NaiveRouter(floor.settings, floor.clock)
    for interaction_id in floor.router.interactions():
        view = floor.router.interaction(interaction_id)
        spec = floor.specs[interaction_id]
        if view.agent_id is not None:
            naive.busy[view.agent_id] = interaction_id
        else:
            naive.sequence += 1
            entry = (0, view.enqueued_at, naive.sequence, interaction_id, spec)
            naive.waiting.append(entry)
    for agent_id in floor.settings.agents:
        if agent_id not in naive.busy:
            naive.idle[agent_id] = 0.0
    rng, clock, counter, profiles = floor.rng, floor.clock, floor.counter, floor.profiles
    busy = list(naive.busy)
    samples = Samples()
    begin = time.perf_counter()
    for _ in range(args.naive_cycles):
        agent_id = busy[rng.randrange(len(busy))]
        timed(partial(naive.free_decisions, agent_id), samples, [])
        counter += 1
        clock.advance(0.01)
        spec = profiles[rng.randrange(len(profiles))]
        timed(partial(naive.add_decisions, f"i{counter}", spec), samples, [])
        busy = list(naive.busy)
    elapsed = time.perf_counter() - begin
    header = f"naive scan: {args.agents} agents, {len(naive.waiting)} waiting"
    # One decision per input: the agent or interaction chosen, or none.
    return f"{header}\n  {args.naive_cycles} cycles: {samples.report(len(samples.wall), elapsed)}"


def measure_memory(count: int, seed: int) -> str:
    """Return the traced memory per waiting interaction while no agent is logged in."""
    rng = random.Random(seed)
    settings, profiles = build_floor(100, rng)
    clock = VirtualClock(0)
    router = Router(settings, clock, record_statistics=False)
    for index in range(200):
        spec = profiles[index % len(profiles)]
        router.add_interaction(f"warm{index}", spec.queue, skills=spec.skills)
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for index in range(count):
        spec = profiles[rng.randrange(len(profiles))]
        clock.advance(0.01)
        router.add_interaction(
            f"interaction-{index:08d}",
            spec.queue,
            skills=spec.skills,
            attributes={"caller": "+905551112233", "account": str(index)},
        )
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    per_item = (after - before) / count
    return f"memory: {per_item:,.0f} bytes per waiting interaction ({count} waiting, tracemalloc)"


def machine() -> str:
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return (
        f"{model}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"load average {os.getloadavg()[0]:.2f} at the start"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=10_000, help="agents on the floor")
    parser.add_argument("--waiting", type=int, default=10_000, help="interactions waiting")
    parser.add_argument("--cycles", type=int, default=50_000, help="router cycles to time")
    parser.add_argument("--naive-cycles", type=int, default=300, help="naive cycles to time")
    parser.add_argument("--seed", type=int, default=1, help="random seed")
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))

    print(machine())
    report, _ = run_router(args, record_statistics=True)
    print(report)
    report, floor = run_router(args, record_statistics=False)
    print(report)
    print(run_naive(args, floor))
    print(measure_memory(args.waiting, args.seed))


if __name__ == "__main__":
    main()
