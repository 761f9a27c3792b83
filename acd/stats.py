"""ACD statistics: per-interval accumulators per queue and agent, and real-time figures.

``Statistics`` is fed the router's decisions with the time they were made, so the router
(live) and the simulator (virtual time) count the same way. Definitions:

- offered: interactions that joined the queue (``Queued``);
- answered: connected to an agent;
- abandoned: left while waiting or during an offer; a short abandon left within the
  queue's ``short_abandon_threshold`` (inclusive) and is counted apart, not as abandoned;
- service level: answered within the threshold ÷ answered; service level with abandons:
  (answered within + abandoned within the threshold) ÷ (answered + abandoned);
- ASA: mean wait of answered interactions; AHT: mean of talk + hold + wrap-up, where
  talk + hold runs from connection to end and wrap-up is added when it ends;
- occupancy: time reserved, busy or in wrap-up ÷ that time plus time idle and available;
  a queue's occupancy is that of the agents who serve it.

Queue figures count in the interval in which the interaction was enqueued, as the stored
reports do; agent figures count in the interval in which they happen. Intervals are
aligned to multiples of the interval length in POSIX time.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any

from acd.decisions import (
    AgentStateChanged,
    AgentStatusChanged,
    Connected,
    Decision,
    InteractionEnded,
    Offer,
    OfferEnded,
    Overflow,
    Queued,
    WrapupEnded,
    WrapupStarted,
)
from acd.model import AgentRecord, AgentStatus
from acd.settings import AcdSettings, QueueSettings
from acd.views import QueueSnapshot, WaitingView

MISS_REASONS = frozenset({"rejected", "timeout", "no_answer", "busy", "failed"})
WORKING_MODES = ("reserved", "busy", "wrap_up")


class QueueCounters:
    """Accumulators of one queue over one interval (or since the start)."""

    __slots__ = (
        "abandoned",
        "abandoned_within",
        "answered",
        "answered_within",
        "handle_time",
        "handled",
        "hold_time",
        "longest_wait",
        "offered",
        "overflowed",
        "removed",
        "short_abandoned",
        "wait_answered",
        "wrapup_time",
    )

    def __init__(self) -> None:
        self.offered = 0
        self.answered = 0
        self.answered_within = 0
        self.abandoned = 0
        self.abandoned_within = 0
        self.short_abandoned = 0
        self.overflowed = 0
        self.removed = 0
        self.wait_answered = 0.0
        self.handled = 0
        self.handle_time = 0.0
        self.hold_time = 0.0
        self.wrapup_time = 0.0
        self.longest_wait = 0.0


class AgentCounters:
    """Accumulators of one agent over one interval."""

    __slots__ = (
        "answered",
        "answered_within",
        "handle_time",
        "handled",
        "longest_wait",
        "missed",
        "modes",
        "offers",
        "wait_answered",
        "wrapup_time",
    )

    def __init__(self) -> None:
        self.offers = 0
        self.answered = 0
        self.answered_within = 0
        self.wait_answered = 0.0
        self.longest_wait = 0.0
        self.missed = 0
        self.handled = 0
        self.handle_time = 0.0
        self.wrapup_time = 0.0
        self.modes: dict[str, float] = {}


# The placeholder row of a new track. Its bucket, minus infinity, never matches a real one.
_NO_ROW = AgentCounters()


class _AgentTrack:
    """One agent's status, state and open mode segment, and its current interval row.

    ``counters`` is the row of interval ``bucket``, kept so that consecutive decisions in
    one interval find the row without building a key.
    """

    __slots__ = ("bucket", "counters", "mode", "since", "state", "status")

    def __init__(self) -> None:
        self.status = "logged_out"
        self.state = "idle"
        self.mode: str | None = None
        self.since = 0.0
        self.bucket = -math.inf
        self.counters = _NO_ROW


class _QueueTrack:
    """One queue's totals, its settings and its current interval row with the totals."""

    __slots__ = ("bucket", "rows", "settings", "totals")

    def __init__(self, totals: QueueCounters, settings: QueueSettings) -> None:
        self.totals = totals
        self.settings = settings
        self.bucket = -math.inf
        self.rows = (totals, totals)


@dataclass(frozen=True, slots=True)
class QueueInterval:
    """One row of the queue interval report; ratios are None when undefined."""

    queue: str
    start: float
    end: float
    offered: int
    answered: int
    abandoned: int
    short_abandoned: int
    overflowed: int
    service_level: float | None
    service_level_with_abandons: float | None
    asa: float | None
    aht: float | None
    occupancy: float | None
    longest_wait: float


@dataclass(frozen=True, slots=True)
class AgentInterval:
    """One row of the agent interval report; ``modes`` maps idle, busy… to seconds.

    ``service_level``, ``asa`` and ``longest_wait`` cover the interactions this agent
    answered in the interval, with the threshold of each interaction's queue.
    """

    agent_id: str
    start: float
    end: float
    offers: int
    answered: int
    missed: int
    handled: int
    service_level: float | None
    asa: float | None
    longest_wait: float
    aht: float | None
    occupancy: float | None
    modes: dict[str, float]


class Statistics:
    """Counts the router's decisions into intervals per queue and per agent."""

    def __init__(self, settings: AcdSettings, interval: float | None = None) -> None:
        self._settings = settings
        self.interval = float(interval or settings.interval)
        self._queues: dict[tuple[float, str], QueueCounters] = {}
        self._agents: dict[tuple[float, str], AgentCounters] = {}
        self._totals: dict[str, QueueCounters] = {}
        self._connected: dict[str, tuple[str, str, float, float]] = {}
        self._wrapups: dict[str, tuple[str, float, float]] = {}
        self._enqueued: dict[str, float] = {}
        self._last_queue: dict[str, tuple[str, float]] = {}
        self._holds: dict[str, float] = {}
        self._hold_spent: dict[str, float] = {}
        self._tracks: dict[str, _AgentTrack] = {}
        self._queue_tracks: dict[str, _QueueTrack] = {}
        self._handlers = self._build_handlers()

    def update_settings(self, settings: AcdSettings) -> None:
        """Use new queue thresholds for what is counted from now on."""
        self._settings = settings
        for queue, track in self._queue_tracks.items():
            track.settings = self._threshold(queue)

    # Feeding

    def record_all(self, decisions: Iterable[Decision], now: float) -> None:
        handlers = self._handlers
        for decision in decisions:
            handler = handlers.get(type(decision))
            if handler is not None:
                handler(decision, now)

    def record(self, decision: Decision, now: float) -> None:
        """Count one decision made at ``now``."""
        handler = self._handlers.get(type(decision))
        if handler is not None:
            handler(decision, now)

    def _build_handlers(self) -> dict[type[Any], Callable[[Any, float], None]]:
        return {
            Queued: self._queued,
            Connected: self._answered,
            InteractionEnded: self._ended,
            Overflow: self._overflowed,
            Offer: self._offered,
            OfferEnded: self._offer_ended,
            WrapupStarted: self._wrapup_started,
            WrapupEnded: self._wrapup_ended,
            AgentStatusChanged: self._status_changed,
            AgentStateChanged: self._state_changed,
        }

    def _offered(self, decision: Offer, now: float) -> None:
        self._agent(decision.agent_id, now).offers += 1

    def _offer_ended(self, decision: OfferEnded, now: float) -> None:
        if decision.reason in MISS_REASONS:
            self._agent(decision.agent_id, now).missed += 1

    def _status_changed(self, decision: AgentStatusChanged, now: float) -> None:
        track = self._track(decision.agent_id)
        track.status = decision.new
        self._switch_mode(decision.agent_id, track, now)

    def _state_changed(self, decision: AgentStateChanged, now: float) -> None:
        # The router reports about three state changes per interaction, so this repeats
        # ``_switch_mode`` inline instead of calling it.
        agent_id = decision.agent_id
        track = self._tracks.get(agent_id)
        if track is None:
            track = self._track(agent_id)
        state = track.state = decision.new
        mode = track.mode
        if mode is not None and now > track.since:
            self._add_mode_time(agent_id, track, mode, track.since, now)
        if state == "idle":
            status = track.status
            state = "idle" if status == "available" else status
        track.mode = state
        track.since = now

    def record_hold(self, interaction_id: str, on_hold: bool, now: float) -> None:
        """Count hold time of a connected interaction (talk + hold is measured anyway)."""
        if on_hold:
            self._holds.setdefault(interaction_id, now)
            return
        started = self._holds.pop(interaction_id, None)
        if started is not None:
            spent = self._hold_spent.get(interaction_id, 0.0)
            self._hold_spent[interaction_id] = spent + now - started

    def discard_before(self, start: float) -> None:
        """Forget interval rows that begin before ``start``; totals so far stay.

        A long-running engine calls this after it has stored or published old intervals,
        so memory does not grow with uptime.
        """
        self._queues = {key: value for key, value in self._queues.items() if key[0] >= start}
        self._agents = {key: value for key, value in self._agents.items() if key[0] >= start}
        for track in self._tracks.values():
            track.since = max(track.since, start)
            track.bucket = -math.inf
        for queue_track in self._queue_tracks.values():
            queue_track.bucket = -math.inf

    # Reading

    def average_handle_time(self, queue: str) -> float | None:
        totals = self._totals.get(queue)
        if totals is None or not totals.handled:
            return None
        return (totals.handle_time + totals.wrapup_time) / totals.handled

    def service_level_so_far(self, queue: str) -> float | None:
        totals = self._totals.get(queue)
        return _ratio(totals.answered_within, totals.answered) if totals else None

    def totals(self, queue: str) -> QueueCounters:
        return self._totals.get(queue) or QueueCounters()

    def queue_intervals(self, now: float) -> list[QueueInterval]:
        """Return one row per queue and interval with activity, oldest first."""
        agent_rows = self._agent_modes(now)
        rows = []
        for (start, queue), counters in sorted(self._queues.items()):
            members = [
                agent_id
                for agent_id, agent in self._settings.agents.items()
                if queue in agent.queues
            ]
            occupancy = _occupancy([agent_rows.get((start, agent_id), {}) for agent_id in members])
            rows.append(self._queue_row(queue, start, counters, occupancy))
        return rows

    def agent_intervals(self, now: float) -> list[AgentInterval]:
        """Return one row per agent and interval with activity, oldest first."""
        modes = self._agent_modes(now)
        keys = sorted(set(self._agents) | set(modes))
        rows = []
        for start, agent_id in keys:
            counters = self._agents.get((start, agent_id)) or AgentCounters()
            spent = modes.get((start, agent_id), {})
            rows.append(
                AgentInterval(
                    agent_id=agent_id,
                    start=start,
                    end=start + self.interval,
                    offers=counters.offers,
                    answered=counters.answered,
                    missed=counters.missed,
                    handled=counters.handled,
                    service_level=_ratio(counters.answered_within, counters.answered),
                    asa=_ratio(counters.wait_answered, counters.answered),
                    longest_wait=counters.longest_wait,
                    aht=_ratio(counters.handle_time + counters.wrapup_time, counters.handled),
                    occupancy=_occupancy([spent]),
                    modes=dict(spent),
                )
            )
        return rows

    # Internals

    def _bucket(self, now: float) -> float:
        return (now // self.interval) * self.interval

    def _queue_counters(self, queue: str, now: float) -> tuple[QueueCounters, QueueCounters]:
        """Return the queue's row of the interval holding ``now`` and its totals."""
        track = self._queue_tracks.get(queue)
        if track is None:
            track = self._queue_track(queue)
        interval = self.interval
        bucket = (now // interval) * interval
        if bucket == track.bucket:
            return track.rows
        key = (bucket, queue)
        counters = self._queues.get(key)
        if counters is None:
            counters = self._queues[key] = QueueCounters()
        track.bucket = bucket
        track.rows = (counters, track.totals)
        return track.rows

    def _queue_track(self, queue: str) -> _QueueTrack:
        totals = self._totals.get(queue)
        if totals is None:
            totals = self._totals[queue] = QueueCounters()
        track = self._queue_tracks[queue] = _QueueTrack(totals, self._threshold(queue))
        return track

    def _queue_settings(self, queue: str) -> QueueSettings:
        track = self._queue_tracks.get(queue)
        if track is None:
            track = self._queue_track(queue)
        return track.settings

    def _agent(self, agent_id: str, now: float) -> AgentCounters:
        """Return the agent's row of the interval holding ``now``."""
        track = self._tracks.get(agent_id)
        if track is None:
            track = self._track(agent_id)
        interval = self.interval
        bucket = (now // interval) * interval
        if bucket == track.bucket:
            return track.counters
        key = (bucket, agent_id)
        counters = self._agents.get(key)
        if counters is None:
            counters = self._agents[key] = AgentCounters()
        track.bucket = bucket
        track.counters = counters
        return counters

    def _track(self, agent_id: str) -> _AgentTrack:
        track = self._tracks.get(agent_id)
        if track is None:
            track = self._tracks[agent_id] = _AgentTrack()
        return track

    def _threshold(self, queue: str) -> QueueSettings:
        return self._settings.queues.get(queue) or QueueSettings()

    def _queued(self, decision: Queued, now: float) -> None:
        self._enqueued[decision.interaction_id] = now
        counters, totals = self._queue_counters(decision.queue, now)
        counters.offered += 1
        totals.offered += 1

    def _overflowed(self, decision: Overflow, now: float) -> None:
        enqueued = self._enqueued.pop(decision.interaction_id, now)
        for counters in self._queue_counters(decision.queue, enqueued):
            counters.overflowed += 1
            counters.longest_wait = max(counters.longest_wait, now - enqueued)

    def _answered(self, decision: Connected, now: float) -> None:
        queue = decision.queue
        waited = decision.waited
        within = waited <= self._queue_settings(queue).service_level_threshold
        enqueued = self._enqueued.pop(decision.interaction_id, now - waited)
        for counters in self._queue_counters(queue, enqueued):
            counters.answered += 1
            counters.answered_within += within
            counters.wait_answered += waited
            if waited > counters.longest_wait:
                counters.longest_wait = waited
        agent = self._agent(decision.agent_id, now)
        agent.answered += 1
        agent.answered_within += within
        agent.wait_answered += waited
        if waited > agent.longest_wait:
            agent.longest_wait = waited
        self._connected[decision.interaction_id] = (queue, decision.agent_id, now, enqueued)

    def _ended(self, decision: InteractionEnded, now: float) -> None:
        if decision.outcome != "answered":
            self._left(decision, now)
            return
        # An answered interaction's handling, counted here instead of in a helper because
        # nearly every interaction ends this way.
        connected = self._connected.pop(decision.interaction_id, None)
        if connected is None:
            return
        queue, agent_id, since, enqueued = connected
        if self._holds:
            self.record_hold(decision.interaction_id, False, now)
        hold = self._hold_spent.pop(decision.interaction_id, 0.0) if self._hold_spent else 0.0
        for counters in self._queue_counters(queue, enqueued):
            counters.handled += 1
            counters.handle_time += now - since
            counters.hold_time += hold
        self._last_queue[agent_id] = (queue, enqueued)
        agent = self._agent(agent_id, now)
        agent.handled += 1
        agent.handle_time += now - since

    def _left(self, decision: InteractionEnded, now: float) -> None:
        """Count an interaction that left the queue without being answered."""
        settings = self._queue_settings(decision.queue)
        enqueued = self._enqueued.pop(decision.interaction_id, now - decision.waited)
        for counters in self._queue_counters(decision.queue, enqueued):
            counters.longest_wait = max(counters.longest_wait, decision.waited)
            if decision.outcome == "removed":
                counters.removed += 1
            elif decision.outcome != "abandoned_in_queue":
                continue
            elif decision.waited <= settings.short_abandon_threshold:
                counters.short_abandoned += 1
            else:
                counters.abandoned += 1
                counters.abandoned_within += decision.waited <= settings.service_level_threshold

    def _wrapup_started(self, decision: WrapupStarted, now: float) -> None:
        previous = self._wrapups.get(decision.agent_id)
        queue, enqueued = self._last_queue.get(decision.agent_id, ("", now))
        since = previous[2] if previous is not None else now
        self._wrapups[decision.agent_id] = (queue, enqueued, since)

    def _wrapup_ended(self, decision: WrapupEnded, now: float) -> None:
        started = self._wrapups.pop(decision.agent_id, None)
        if started is None:
            return
        queue, enqueued, since = started
        spent = now - since
        if queue:
            for counters in self._queue_counters(queue, enqueued):
                counters.wrapup_time += spent
        self._agent(decision.agent_id, now).wrapup_time += spent

    def _switch_mode(self, agent_id: str, track: _AgentTrack, now: float) -> None:
        mode = track.mode
        if mode is not None and now > track.since:
            self._add_mode_time(agent_id, track, mode, track.since, now)
        state = track.state
        if state == "idle":
            status = track.status
            state = "idle" if status == "available" else status
        track.mode = state
        track.since = now

    def _add_mode_time(
        self, agent_id: str, track: _AgentTrack, mode: str, start: float, end: float
    ) -> None:
        if end <= start:
            return
        interval = self.interval
        bucket = (start // interval) * interval
        if end <= bucket + interval:
            counters = track.counters if bucket == track.bucket else self._agent(agent_id, bucket)
            modes = counters.modes
            modes[mode] = modes.get(mode, 0.0) + end - start
            return
        for bucket, seconds in self._split(start, end):
            modes = self._agent(agent_id, bucket).modes
            modes[mode] = modes.get(mode, 0.0) + seconds

    def _agent_modes(self, now: float) -> dict[tuple[float, str], dict[str, float]]:
        """Return time per mode per agent and interval, including open segments to ``now``."""
        result = {key: dict(counters.modes) for key, counters in self._agents.items()}
        for agent_id, track in self._tracks.items():
            mode, since = track.mode, track.since
            if mode is None:
                continue
            for bucket, seconds in self._split(since, now):
                modes = result.setdefault((bucket, agent_id), {})
                modes[mode] = modes.get(mode, 0.0) + seconds
        return result

    def _split(self, start: float, end: float) -> list[tuple[float, float]]:
        """Split the time from ``start`` to ``end`` into (interval start, seconds) parts."""
        parts = []
        cursor = start
        for _ in range(int(max(0.0, end - start) // self.interval) + 2):
            if cursor >= end:
                break
            bucket = self._bucket(cursor)
            stop = min(end, bucket + self.interval)
            parts.append((bucket, stop - cursor))
            cursor = stop
        return parts

    def _queue_row(
        self, queue: str, start: float, counters: QueueCounters, occupancy: float | None
    ) -> QueueInterval:
        both = counters.answered + counters.abandoned
        return QueueInterval(
            queue=queue,
            start=start,
            end=start + self.interval,
            offered=counters.offered,
            answered=counters.answered,
            abandoned=counters.abandoned,
            short_abandoned=counters.short_abandoned,
            overflowed=counters.overflowed,
            service_level=_ratio(counters.answered_within, counters.answered),
            service_level_with_abandons=_ratio(
                counters.answered_within + counters.abandoned_within, both
            ),
            asa=_ratio(counters.wait_answered, counters.answered),
            aht=_ratio(counters.handle_time + counters.wrapup_time, counters.handled),
            occupancy=occupancy,
            longest_wait=counters.longest_wait,
        )


def realtime_snapshot(
    queue: str,
    settings: QueueSettings,
    waiting: list[WaitingView],
    members: list[AgentRecord],
    stats: Statistics | None,
    now: float,
) -> QueueSnapshot:
    """Build the real-time figures of ``queue`` from the router's state.

    The estimated wait is position-based: with ``idle`` idle agents and ``staffed``
    agents available, the interaction at position ``k`` (from 1) waits
    ``max(0, k - idle) × AHT ÷ staffed``. AHT is the queue's so far, or its
    ``default_handle_time`` before the first handled interaction. This is an estimate that
    assumes agents free up evenly; it is None when no agent is available.
    """
    by_state: dict[str, int] = {}
    for agent in members:
        mode = _agent_mode(agent)
        by_state[mode] = by_state.get(mode, 0) + 1
    staffed = sum(1 for agent in members if agent.status is AgentStatus.AVAILABLE)
    idle = by_state.get("idle", 0)
    aht = (stats.average_handle_time(queue) if stats else None) or settings.default_handle_time

    def estimate(position: int) -> float | None:
        if not staffed:
            return None
        return max(0, position - idle) * aht / staffed

    estimated = tuple(
        replace(item, estimated_wait=estimate(index)) for index, item in enumerate(waiting, start=1)
    )
    return QueueSnapshot(
        queue=queue,
        waiting_count=len(waiting),
        longest_wait=max((item.waited for item in waiting), default=0.0),
        agents_by_state=by_state,
        staffed=staffed,
        estimated_wait=estimate(len(waiting) + 1),
        service_level=stats.service_level_so_far(queue) if stats else None,
        average_handle_time=aht,
        waiting=estimated,
    )


def _agent_mode(agent: AgentRecord) -> str:
    if agent.state.value != "idle":
        return agent.state.value
    if agent.status is AgentStatus.AVAILABLE:
        return "idle"
    return agent.status.value


def _occupancy(rows: list[dict[str, float]]) -> float | None:
    working = sum(row.get(mode, 0.0) for row in rows for mode in WORKING_MODES)
    idle = sum(row.get("idle", 0.0) for row in rows)
    return _ratio(working, working + idle)


def _ratio(part: float, whole: float) -> float | None:
    return part / whole if whole else None
