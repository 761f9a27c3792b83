"""Measure the IVR: dialplan load time, interpreter steps per second, state size.

Run: ``.venv/bin/python benchmarks/bench_ivr.py [--calls 2000]``.

Loading validates the shipped dialplans (all checks, as ``santral check`` does). The
interpreter figures replay the shipped scenarios' calls: each ``start`` or ``handle`` is
one step and is timed on its own with ``perf_counter_ns``, with the state passed through
``json.dumps``/``json.loads`` between steps as a webhook connector stores it. The DTMF
collector is not in the timed part.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import statistics
import time
from pathlib import Path

import structlog

from ivr import interpreter
from ivr.actions import Action, CallInfo, Event
from ivr.dialplans import DialplanSet
from ivr.loader import load_dialplans
from ivr.scenarios import key_inputs, load_scenarios, scenario_files
from ivr.settings import IvrSettings
from ivr.simulator import FakeHttpReply, Simulator, scripted_keys
from santral.clock import VirtualClock

REPOSITORY = Path(__file__).resolve().parent.parent
DIALPLANS = REPOSITORY / "dialplans"


def measure_load(settings: IvrSettings, rounds: int = 20) -> float:
    """Return the median seconds to load and validate the shipped dialplans."""
    timings = []
    for _ in range(rounds):
        started = time.perf_counter()
        load_dialplans(DIALPLANS, settings)
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)


def record_calls(dialplans: DialplanSet) -> list[tuple[CallInfo, str | None, list[Event]]]:
    """Run each shipped scenario once and keep the events its call received."""
    recorded = []
    for path in scenario_files(DIALPLANS):
        for scenario in load_scenarios(path)[1].scenarios:
            simulator = Simulator(
                dialplans,
                VirtualClock(1796626800.0),
                scripted_keys(key_inputs(scenario.keys)),
                http=[FakeHttpReply(**reply.model_dump()) for reply in scenario.http],
                queue_results=scenario.queue,
            )
            call = CallInfo(call_id="bench", caller=scenario.caller, called=scenario.called)
            transcript = simulator.run(call, scenario.entry)
            recorded.append((call, scenario.entry, [event for _, event in transcript.events]))
    return recorded


def replay(
    dialplans: DialplanSet, calls: list[tuple[CallInfo, str | None, list[Event]]], count: int
) -> tuple[list[int], list[int]]:
    """Replay ``count`` calls; return step durations (ns) and stored state sizes (bytes)."""
    clock = VirtualClock(1796626800.0)
    durations: list[int] = []
    sizes: list[int] = []
    for index in range(count):
        call, entry, events = calls[index % len(calls)]
        started = time.perf_counter_ns()
        state, _ = interpreter.start(dialplans, call, clock, entry)
        durations.append(time.perf_counter_ns() - started)
        for event in events:
            stored = json.dumps(state)
            sizes.append(len(stored))
            state = json.loads(stored)
            started = time.perf_counter_ns()
            state, _actions = _handle(dialplans, state, event, clock)
            durations.append(time.perf_counter_ns() - started)
    return durations, sizes


def _handle(
    dialplans: DialplanSet, state: dict[str, object], event: Event, clock: VirtualClock
) -> tuple[dict[str, object], list[Action]]:
    return interpreter.handle(dialplans, state, event, clock)


def percentile(values: list[int], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=2000, help="calls to replay")
    arguments = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))

    settings = IvrSettings(dialplans=DIALPLANS, recordings=REPOSITORY / "recordings")
    load_seconds = measure_load(settings)
    dialplans = load_dialplans(DIALPLANS, settings)
    calls = record_calls(dialplans)

    started = time.perf_counter()
    durations, sizes = replay(dialplans, calls, arguments.calls)
    elapsed = time.perf_counter() - started

    print(f"python {platform.python_version()} on {platform.machine()}")
    print(f"load and validate shipped dialplans: {load_seconds * 1000:.1f} ms (median of 20)")
    print(f"calls replayed: {arguments.calls} ({len(calls)} scenario calls in rotation)")
    print(f"interpreter steps: {len(durations)} in {elapsed:.2f} s (with JSON store/load)")
    print(f"steps per second (interpreter only): {len(durations) / (sum(durations) / 1e9):,.0f}")
    print(
        f"step latency: median {percentile(durations, 0.5) / 1000:.0f} us, "
        f"p99 {percentile(durations, 0.99) / 1000:.0f} us, "
        f"max {max(durations) / 1000:.0f} us"
    )
    print(f"stored state: median {statistics.median(sizes):.0f} bytes, max {max(sizes)} bytes")


if __name__ == "__main__":
    main()
