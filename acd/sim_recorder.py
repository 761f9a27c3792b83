"""Turn the router's decisions during one simulated run into interval KPIs."""

from __future__ import annotations

import functools
import math

from acd.sim_kpi import (
    ALL_QUEUES,
    TOTAL,
    AgentTime,
    IntervalKpi,
    QueueCounts,
    interval_kpi,
)

_ANSWERED = "answered"
_ABANDONED = "abandoned_in_queue"
_LOGGED_OUT = ("logged_out", "idle")
# Agents may serve several queues, so agent time is only reported for all queues together.
_NO_AGENT_TIME = AgentTime(busy=math.nan, idle=math.nan, logged_in=math.nan)


class _Interaction:
    """An interaction in progress: its queue, arrival interval and that interval's counts."""

    __slots__ = ("bin", "connected_at", "counts", "queue")

    def __init__(self, queue: str, bin_index: int, counts: QueueCounts) -> None:
        self.queue = queue
        self.bin = bin_index
        self.counts = counts
        self.connected_at = math.nan


@functools.cache
def _flags(status: str, state: str) -> tuple[int, int, int]:
    """Return (logged in, busy, idle and available) as 0 or 1 for a status and state."""
    logged_in = status != "logged_out"
    busy = state != "idle"
    idle = not busy and status == "available"
    return int(logged_in), int(busy), int(idle)


class KpiRecorder:
    """Counts per arrival interval and queue, and agent time per interval, of one run.

    Intervals count from ``origin``. ``end`` is when arrivals stop: agent time after it is
    not counted, while interactions that arrived before it count in full even when they
    finish later. Intervals that start less than ``warm_up`` seconds after ``origin`` are
    reported but left out of the ``TOTAL`` rows.
    """

    def __init__(
        self,
        origin: float,
        interval: float,
        end: float,
        warm_up: float,
        thresholds: dict[str, float],
    ) -> None:
        self.origin = origin
        self.interval = interval
        self.end = end
        self.warm_up = warm_up
        self.thresholds = thresholds
        self.bins = max(1, math.ceil((end - origin) / interval))
        self._counts: dict[tuple[int, str], QueueCounts] = {}
        self._time = [AgentTime() for _ in range(self.bins)]
        self._interactions: dict[str, _Interaction] = {}
        self._agents: dict[str, tuple[str, str]] = {}  # agent id -> (status, state)
        # Agents logged in, busy, and idle while available since ``_booked_until``.
        self._logged_in = 0
        self._busy = 0
        self._idle = 0
        self._booked_until = origin
        # The agent time row of the interval holding ``_booked_until``, and its end.
        self._open_time = self._time[0]
        self._open_end = origin + interval

    def arrived(self, interaction_id: str, queue: str, now: float) -> None:
        """Count an interaction offered to ``queue`` at ``now``."""
        bin_index = self._bin(now)
        counts = self._queue_counts(bin_index, queue)
        self._interactions[interaction_id] = _Interaction(queue, bin_index, counts)
        counts.offered += 1

    def connected(self, interaction_id: str, waited: float, now: float) -> None:
        """Count an answer after ``waited`` seconds in queue."""
        record = self._interactions[interaction_id]
        record.connected_at = now
        counts = record.counts
        counts.answered += 1
        counts.wait_sum += waited
        if waited > counts.max_wait:
            counts.max_wait = waited
        if waited > 0:
            counts.delayed += 1
        if waited <= self.thresholds.get(record.queue, 0.0):
            counts.answered_within += 1

    def ended(self, interaction_id: str, outcome: str, waited: float, now: float) -> None:
        """Count an interaction leaving the ACD with the router's ``outcome``."""
        record = self._interactions.pop(interaction_id, None)
        if record is None:
            return
        counts = record.counts
        if outcome == _ANSWERED:
            counts.handle_sum += now - record.connected_at
        elif outcome == _ABANDONED:
            counts.abandoned += 1
            counts.max_wait = max(counts.max_wait, waited)
        else:
            counts.other += 1

    def agent_status(self, agent_id: str, status: str, now: float) -> None:
        """Record the status an agent set (``logged_out``, ``available``, ``not_ready``)."""
        _, state = self._agents.get(agent_id, _LOGGED_OUT)
        self._change(agent_id, status, state, now)

    def agent_state(self, agent_id: str, state: str, now: float) -> None:
        """Record the state the router set (``idle``, ``reserved``, ``busy``, ``wrap_up``)."""
        # ``_change`` for a state change, inlined: the status and so the logged-in count
        # stay, and the agent is idle and available only while not busy. Most changes
        # fall in the interval already open, where booking is three additions.
        start = self._booked_until
        if start < now <= self._open_end and now <= self.end:
            seconds = now - start
            time = self._open_time
            time.logged_in += seconds * self._logged_in
            time.busy += seconds * self._busy
            time.idle += seconds * self._idle
            self._booked_until = now
        elif now > start:
            self._book(now)
        agents = self._agents
        status, old_state = agents.get(agent_id, _LOGGED_OUT)
        agents[agent_id] = (status, state)
        was_busy = old_state != "idle"
        busy = state != "idle"
        if busy is not was_busy:
            step = 1 if busy else -1
            self._busy += step
            if status == "available":
                self._idle -= step

    def finish(self, now: float) -> list[IntervalKpi]:
        """Book agent time up to ``now`` and return the KPI rows.

        Rows come interval by interval, each with one row per queue (sorted) and one for
        all queues, then the ``TOTAL`` rows in the same queue order.
        """
        self._book(now)
        self._count_unserved()
        queues = sorted({queue for _, queue in self._counts} | set(self.thresholds))
        rows: list[IntervalKpi] = []
        for bin_index in range(self.bins):
            rows.extend(self._interval_rows(bin_index, queues))
        rows.extend(self._total_rows(queues))
        return rows

    def _count_unserved(self) -> None:
        for interaction_id, record in list(self._interactions.items()):
            if math.isnan(record.connected_at):
                record.counts.unserved += 1
                del self._interactions[interaction_id]

    def _interval_rows(self, bin_index: int, queues: list[str]) -> list[IntervalKpi]:
        start = self.origin + bin_index * self.interval
        length = self._length(bin_index)
        time = self._time[bin_index]
        rows = []
        everything = QueueCounts()
        for queue in queues:
            counts = self._counts.get((bin_index, queue), QueueCounts())
            everything.add(counts)
            rows.append(interval_kpi(start, queue, counts, _NO_AGENT_TIME, length))
        rows.append(interval_kpi(start, ALL_QUEUES, everything, time, length))
        return rows

    def _total_rows(self, queues: list[str]) -> list[IntervalKpi]:
        counted = [b for b in range(self.bins) if b * self.interval >= self.warm_up]
        time = AgentTime()
        for bin_index in counted:
            time.add(self._time[bin_index])
        length = sum(self._length(bin_index) for bin_index in counted) or math.nan
        rows = []
        everything = QueueCounts()
        for queue in queues:
            counts = QueueCounts()
            for bin_index in counted:
                counts.add(self._counts.get((bin_index, queue), QueueCounts()))
            everything.add(counts)
            rows.append(interval_kpi(TOTAL, queue, counts, _NO_AGENT_TIME, length))
        rows.append(interval_kpi(TOTAL, ALL_QUEUES, everything, time, length))
        return rows

    def _queue_counts(self, bin_index: int, queue: str) -> QueueCounts:
        key = (bin_index, queue)
        counts = self._counts.get(key)
        if counts is None:
            counts = self._counts[key] = QueueCounts()
        return counts

    def _change(self, agent_id: str, status: str, state: str, now: float) -> None:
        # Book the time since the last change at the old counts, then move the agent from
        # its old counts to its new ones.
        if now > self._booked_until:
            self._book(now)
        old = _flags(*self._agents.get(agent_id, _LOGGED_OUT))
        new = _flags(status, state)
        self._agents[agent_id] = (status, state)
        self._logged_in += new[0] - old[0]
        self._busy += new[1] - old[1]
        self._idle += new[2] - old[2]

    def _book(self, now: float) -> None:
        until = min(now, self.end)
        start = self._booked_until
        if until <= start:
            return
        if until <= self._open_end:
            # Within one interval: ``_spread`` with a single step.
            seconds = until - start
            time = self._open_time
            time.logged_in += seconds * self._logged_in
            time.busy += seconds * self._busy
            time.idle += seconds * self._idle
        else:
            self._spread(start, until)
            bin_index = self._bin(until)
            self._open_time = self._time[bin_index]
            self._open_end = self.origin + (bin_index + 1) * self.interval
        self._booked_until = until

    def _length(self, bin_index: int) -> float:
        start = self.origin + bin_index * self.interval
        return min(self.interval, self.end - start)

    def _bin(self, now: float) -> int:
        return max(0, min(int((now - self.origin) // self.interval), self.bins - 1))

    def _spread(self, start: float, until: float) -> None:
        bin_index = self._bin(start)
        while start < until and bin_index < self.bins:
            bin_end = min(until, self.origin + (bin_index + 1) * self.interval)
            seconds = bin_end - start
            time = self._time[bin_index]
            time.logged_in += seconds * self._logged_in
            time.busy += seconds * self._busy
            time.idle += seconds * self._idle
            start = bin_end
            bin_index += 1
