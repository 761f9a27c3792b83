"""The discrete-event simulator: a contact-centre day through the real router.

The simulator owns a ``VirtualClock`` and a heap of future events (arrivals, callers
hanging up, agents accepting offers, conversations ending, shifts starting and ending,
router timers). It moves the clock to each event in turn and feeds it to
``acd.router.Router`` as the live engine does, so only the clock differs from live. The
router's decisions schedule further events and are counted by ``KpiRecorder``. Simulated
agents accept every offer after ``answer_delay`` seconds, and the router then connects
them at once.
"""

from __future__ import annotations

import heapq
import logging
import math
import multiprocessing
import random
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from itertools import count
from typing import Any

import structlog

from acd.decisions import (
    AgentStateChanged,
    AgentStatusChanged,
    Connected,
    Decision,
    InteractionEnded,
    JoinRejected,
    Offer,
    OfferEnded,
)
from acd.router import Router
from acd.sim_kpi import ALL_QUEUES, TOTAL, IntervalKpi, SummaryRow, summarise
from acd.sim_random import Sampler, poisson_arrivals, replication_rngs, sampler
from acd.sim_recorder import KpiRecorder
from acd.sim_scenario import ArrivalStream, Scenario
from santral.clock import VirtualClock
from santral.errors import SantralError

# Event kinds, in the order they run when they fall on the same instant.
_SHIFT_START = 0
_ARRIVAL = 1
_ACCEPT = 2
_END = 3
_HANGUP = 4
_TIMER = 5
_SHIFT_END = 6

# How long after the last arrival the run may go on to let the queues drain, in seconds.
DRAIN_LIMIT = 7 * 86_400.0
# Events at one instant before the run is declared stuck (a router timer that never moves).
_MAX_EVENTS_AT_ONE_INSTANT = 1_000_000


class SimulationError(SantralError):
    """A simulation could not run to the end."""


@dataclass(frozen=True)
class Replication:
    """One run of the scenario: its KPI rows and how much work it did."""

    index: int
    seed: int
    kpis: list[IntervalKpi]
    arrivals: int
    decisions: int
    end: float


@dataclass(frozen=True)
class SimulationResult:
    """Every replication of a scenario and the KPIs estimated over them."""

    scenario: Scenario
    seed: int
    replications: list[Replication]
    rows: list[SummaryRow]

    @property
    def service_level_target(self) -> float | None:
        """The target of the first queue that has arrivals, for the chart's target line."""
        queue = self.scenario.arrivals[0].queue
        return self.scenario.acd.queues[queue].service_level_target

    def total(self, queue: str = ALL_QUEUES) -> SummaryRow:
        """Return the row summing every interval after the warm-up for ``queue``."""
        for row in self.rows:
            if row.start == TOTAL and row.queue == queue:
                return row
        raise KeyError(f"no total row for queue {queue!r}")

    def meta(self) -> dict[str, Any]:
        """Return the run's parameters for the JSON output."""
        return {
            "scenario": self.scenario.name,
            "seed": self.seed,
            "replications": len(self.replications),
            "interval_seconds": self.scenario.interval,
            "warm_up_seconds": self.scenario.warm_up,
            "arrivals": sum(replication.arrivals for replication in self.replications),
        }


def run_scenario(
    scenario: Scenario,
    *,
    replications: int | None = None,
    seed: int | None = None,
    jobs: int = 1,
    on_replication: Callable[[int], None] | None = None,
) -> SimulationResult:
    """Run ``replications`` independent replications and estimate the KPIs over them.

    ``replications`` and ``seed`` default to the scenario's. With ``jobs`` above 1 the
    replications run in that many worker processes. ``on_replication`` is called with the
    number of replications done after each one. The same seed gives the same result,
    whatever ``jobs`` is.
    """
    total = replications or scenario.replications
    base_seed = scenario.seed if seed is None else seed
    progress = on_replication or _ignore_progress
    if jobs > 1 and total > 1:
        runs = _run_in_processes(scenario, base_seed, total, jobs, progress)
    else:
        runs = []
        for index in range(total):
            runs.append(run_replication(scenario, base_seed, index))
            progress(index + 1)
    rows = summarise([run.kpis for run in runs])
    return SimulationResult(scenario=scenario, seed=base_seed, replications=runs, rows=rows)


def _ignore_progress(done: int) -> None:
    pass


def _run_in_processes(
    scenario: Scenario, seed: int, total: int, jobs: int, progress: Callable[[int], None]
) -> list[Replication]:
    # Spawned, not forked, workers: forking a process that runs threads can deadlock.
    context = multiprocessing.get_context("spawn")
    workers = min(jobs, total)
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_quiet_worker) as pool:
        futures = [pool.submit(run_replication, scenario, seed, index) for index in range(total)]
        for done, _ in enumerate(as_completed(futures), start=1):
            progress(done)
        return [future.result() for future in futures]


def _quiet_worker() -> None:
    # A worker process only simulates, and the router logs every agent status change at
    # INFO, so workers log warnings and errors only.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))


def run_replication(
    scenario: Scenario,
    seed: int,
    index: int,
    *,
    observer: Callable[[float, Decision], None] | None = None,
) -> Replication:
    """Run replication ``index`` of ``scenario`` with streams derived from ``seed``.

    ``observer`` receives every router decision with its time, for tests and tracing.
    """
    engine = _Engine(scenario, replication_rngs(seed, index), observer)
    engine.run()
    return Replication(
        index=index,
        seed=seed,
        kpis=engine.recorder.finish(engine.clock.now()),
        arrivals=engine.arrivals,
        decisions=engine.decisions,
        end=engine.clock.now(),
    )


class _Stream:
    """One arrival stream's iterator of times, its duration samplers and its routing."""

    __slots__ = (
        "channel",
        "handle_time",
        "language",
        "patience",
        "priority",
        "queue",
        "skills",
        "spec",
        "times",
    )

    def __init__(
        self, spec: ArrivalStream, times: Iterator[float], rngs: dict[str, random.Random]
    ) -> None:
        self.spec = spec
        self.times = times
        self.handle_time: Sampler = sampler(spec.handle_time, rngs["handle_time"])
        self.patience: Sampler = sampler(spec.patience, rngs["patience"])
        self.queue = spec.queue
        self.channel = spec.channel
        self.skills = spec.skills or None
        self.language = spec.language or None
        self.priority = spec.priority


class _Engine:
    """The event loop of one replication."""

    def __init__(
        self,
        scenario: Scenario,
        rngs: dict[str, random.Random],
        observer: Callable[[float, Decision], None] | None,
    ) -> None:
        self.scenario = scenario
        self.clock = VirtualClock(scenario.start)
        settings = scenario.router_settings()
        self.router = Router(settings, self.clock, rng=rngs["router"], record_statistics=False)
        thresholds = {
            name: queue.service_level_threshold for name, queue in settings.queues.items()
        }
        self.end = scenario.end_time()
        self.recorder = KpiRecorder(
            scenario.start, scenario.interval, self.end, scenario.warm_up, thresholds
        )
        self.observer = observer
        self.arrivals = 0
        self.decisions = 0
        self._events: list[tuple[float, int, int, Any]] = []
        self._sequence = count()
        self._timer_at = math.inf
        # The loop's copy of ``clock.now()``: only ``run`` moves the clock.
        self._now = self.clock.now()
        self._handle_times: dict[str, float] = {}
        self._open_offers: set[str] = set()
        self._ended_offers: set[str] = set()  # ended before their Offer was handled
        self._streams = [self._stream(spec, rngs) for spec in scenario.arrivals]
        self._handlers: dict[type, Callable[[Any], None]] = {
            Offer: self._on_offer,
            OfferEnded: self._on_offer_ended,
            Connected: self._on_connected,
            InteractionEnded: self._on_ended,
            JoinRejected: self._on_rejected,
            AgentStatusChanged: self._on_status,
        }

    def _stream(self, spec: ArrivalStream, rngs: dict[str, random.Random]) -> _Stream:
        if spec.poisson is not None:
            start = self.scenario.stream_start(spec)
            rng = rngs["arrivals"]
            times = poisson_arrivals(spec.poisson, self.scenario.interval, start, rng)
        else:
            times = iter(self.scenario.csv_arrivals(spec))
        return _Stream(spec, times, rngs)

    def run(self) -> None:
        """Process events in time order until none are left or the drain limit passes."""
        self._schedule_shifts()
        for index in range(len(self._streams)):
            self._schedule_next_arrival(index)
        limit = self.end + DRAIN_LIMIT
        same_instant = 0
        events = self._events
        clock = self.clock
        router = self.router
        heappop = heapq.heappop
        now = self._now
        # The loop inlines ``_dispatch`` for the two most frequent kinds and
        # ``_schedule_router_timer``: it runs several times per simulated customer.
        while events:
            when, kind, _, payload = heappop(events)
            if when > limit:
                break
            if when == now:
                same_instant += 1
                if same_instant > _MAX_EVENTS_AT_ONE_INSTANT:
                    raise SimulationError(f"the simulation is stuck at {when} s of virtual time")
            else:
                same_instant = 0
                clock.set(when)
                now = self._now = when
            if kind == _ARRIVAL:
                self._arrive(payload)
            elif kind == _END:
                self._apply(router.end_interaction(payload))
            else:
                self._dispatch(kind, payload)
            due = router.next_timer()
            if due is not None and due < self._timer_at:
                self._timer_at = due
                self._push(max(due, now), _TIMER, None)

    def _push(self, when: float, kind: int, payload: Any) -> None:
        heapq.heappush(self._events, (when, kind, next(self._sequence), payload))

    def _dispatch(self, kind: int, payload: Any) -> None:
        if kind == _ARRIVAL:
            self._arrive(payload)
        elif kind == _END:
            self._apply(self.router.end_interaction(payload))
        elif kind == _ACCEPT:
            self._accept(payload)
        elif kind == _HANGUP:
            self._hang_up(payload)
        elif kind == _TIMER:
            self._timer_at = math.inf
            self._apply(self.router.tick())
        elif kind == _SHIFT_START:
            self._apply(self.router.set_agent_status(payload, "available"))
        else:
            self._apply(self.router.set_agent_status(payload, "logged_out"))

    def _apply(self, decisions: list[Decision]) -> None:
        self.decisions += len(decisions)
        now = self._now
        if self.observer is not None:
            for decision in decisions:
                self.observer(now, decision)
        handlers = self._handlers
        agent_state = self.recorder.agent_state
        for decision in decisions:
            kind = type(decision)
            # State changes are the most frequent decision: record them without a handler.
            if kind is AgentStateChanged:
                agent_state(decision.agent_id, decision.new, now)  # type: ignore[union-attr]
                continue
            handler = handlers.get(kind)
            if handler is not None:
                handler(decision)

    def _schedule_router_timer(self) -> None:
        due = self.router.next_timer()
        if due is not None and due < self._timer_at:
            self._timer_at = due
            self._push(max(due, self._now), _TIMER, None)

    # Arrivals and callers

    def _schedule_next_arrival(self, index: int) -> None:
        when = next(self._streams[index].times, None)
        if when is not None and when < self.end:
            self._push(when, _ARRIVAL, index)

    def _arrive(self, index: int) -> None:
        stream = self._streams[index]
        now = self._now
        self.arrivals += 1
        interaction_id = f"i{self.arrivals}"
        self._handle_times[interaction_id] = stream.handle_time()
        patience = stream.patience()
        self.recorder.arrived(interaction_id, stream.queue, now)
        self._schedule_next_arrival(index)
        if patience != math.inf:
            self._push(now + patience, _HANGUP, interaction_id)
        decisions = self.router.add_interaction(
            interaction_id,
            stream.queue,
            stream.channel,
            skills=stream.skills,
            language=stream.language,
            priority=stream.priority,
        )
        self._apply(decisions)

    def _hang_up(self, interaction_id: str) -> None:
        # The caller's patience ran out; only a caller still waiting or ringing hangs up.
        if interaction_id in self._handle_times:
            self._apply(self.router.remove_interaction(interaction_id))

    # Decisions

    def _on_offer(self, offer: Offer) -> None:
        # Under ring-all, accepting the first offer of a batch ends the others before this
        # loop reaches them, so an offer may arrive here already ended.
        if offer.offer_id in self._ended_offers:
            self._ended_offers.discard(offer.offer_id)
            return
        delay = self.scenario.answer_delay
        if delay > 0:
            self._open_offers.add(offer.offer_id)
            self._push(self._now + delay, _ACCEPT, offer.offer_id)
        else:
            # Accepted at once, so the offer is never open between two events.
            self._apply(self.router.accept(offer.offer_id, connect=True))

    def _on_offer_ended(self, ended: OfferEnded) -> None:
        if ended.offer_id in self._open_offers:
            self._open_offers.discard(ended.offer_id)
        else:
            self._ended_offers.add(ended.offer_id)

    def _accept(self, offer_id: str) -> None:
        # The offer may have ended while the phone rang: the caller hung up, another agent
        # took a ring-all call, or the agent's shift ended.
        if offer_id in self._open_offers:
            self._open_offers.discard(offer_id)
            self._apply(self.router.accept(offer_id, connect=True))

    def _on_connected(self, connected: Connected) -> None:
        now = self._now
        handle_time = self._handle_times.pop(connected.interaction_id)
        self.recorder.connected(connected.interaction_id, connected.waited, now)
        self._push(now + handle_time, _END, connected.interaction_id)

    def _on_ended(self, ended: InteractionEnded) -> None:
        self._handle_times.pop(ended.interaction_id, None)
        now = self._now
        self.recorder.ended(ended.interaction_id, ended.outcome, ended.waited, now)

    def _on_rejected(self, rejected: JoinRejected) -> None:
        self._handle_times.pop(rejected.interaction_id, None)
        self.recorder.ended(rejected.interaction_id, "rejected", 0.0, self._now)

    def _on_status(self, changed: AgentStatusChanged) -> None:
        self.recorder.agent_status(changed.agent_id, changed.new, self._now)

    # Agents

    def _schedule_shifts(self) -> None:
        for agent_id, shifts in self.scenario.shifts().items():
            for shift in shifts:
                self._push(shift.start, _SHIFT_START, agent_id)
                if math.isfinite(shift.end):
                    self._push(shift.end, _SHIFT_END, agent_id)
