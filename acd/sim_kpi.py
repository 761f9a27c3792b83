"""Interval KPIs of a simulation run and their confidence intervals over replications.

An interaction counts in the interval in which it arrived, as staffing models assume.
Agent time is split at interval boundaries. The figures:

- ``service_level``: answered within the queue's threshold ÷ (answered + abandoned +
  still waiting when the run stopped, for example because no agent can serve them).
- ``p_wait``: share of answered interactions that waited at all.
- ``asa``: mean wait of answered interactions, in seconds.
- ``abandon_rate``: abandoned ÷ offered.
- ``occupancy``: agent time reserved, busy or in wrap-up ÷ that time plus idle available
  time, in the all-queues rows only (NaN in a single queue's rows).
- ``agents``: mean number of agents logged in, in the all-queues rows only.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field

ALL_QUEUES = "*"
TOTAL = -1.0  # ``start`` of the row that sums every interval after the warm-up

# Two-sided 95 % quantiles of Student's t distribution by degrees of freedom.
_T_975 = {
    1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306,
    9: 2.262, 10: 2.228, 11: 2.201, 12: 2.179, 13: 2.160, 14: 2.145, 15: 2.131,
    16: 2.120, 17: 2.110, 18: 2.101, 19: 2.093, 20: 2.086, 25: 2.060, 30: 2.042,
    40: 2.021, 60: 2.000, 120: 1.980,
}  # fmt: skip

METRICS = ("service_level", "p_wait", "asa", "abandon_rate", "occupancy", "agents", "aht")


def t_quantile_975(degrees: int) -> float:
    """Return the 97.5 % quantile of Student's t, rounding the degrees down to the table.

    Rounding down gives a slightly wider interval, never a narrower one.
    """
    if degrees < 1:
        raise ValueError(f"degrees of freedom must be 1 or more, got {degrees}")
    known = [df for df in _T_975 if df <= degrees]
    return _T_975[max(known)] if degrees <= 120 else 1.960


@dataclass
class QueueCounts:
    """Counts and sums for the interactions of one queue that arrived in one interval."""

    offered: int = 0
    answered: int = 0
    abandoned: int = 0
    other: int = 0  # overflowed, rejected or removed
    unserved: int = 0  # still waiting when the run stopped
    answered_within: int = 0
    delayed: int = 0
    wait_sum: float = 0.0
    handle_sum: float = 0.0
    max_wait: float = 0.0

    def add(self, other: QueueCounts) -> None:
        """Add the counts of ``other`` to these."""
        self.offered += other.offered
        self.answered += other.answered
        self.abandoned += other.abandoned
        self.other += other.other
        self.unserved += other.unserved
        self.answered_within += other.answered_within
        self.delayed += other.delayed
        self.wait_sum += other.wait_sum
        self.handle_sum += other.handle_sum
        self.max_wait = max(self.max_wait, other.max_wait)


@dataclass
class AgentTime:
    """Agent-seconds in one interval: handling work and idle while available."""

    busy: float = 0.0
    idle: float = 0.0
    logged_in: float = 0.0

    def add(self, other: AgentTime) -> None:
        """Add the times of ``other`` to these."""
        self.busy += other.busy
        self.idle += other.idle
        self.logged_in += other.logged_in


@dataclass(frozen=True)
class IntervalKpi:
    """The figures of one interval (``start`` in seconds, ``TOTAL`` for the whole run)."""

    start: float
    queue: str
    offered: int
    answered: int
    abandoned: int
    service_level: float
    p_wait: float
    asa: float
    abandon_rate: float
    occupancy: float
    agents: float
    aht: float
    max_wait: float

    def metric(self, name: str) -> float:
        """Return the metric called ``name``, one of ``METRICS`` or a count."""
        return float(getattr(self, name))


def interval_kpi(
    start: float, queue: str, counts: QueueCounts, time: AgentTime, length: float
) -> IntervalKpi:
    """Derive the figures of one interval of ``length`` seconds from its counts."""
    left = counts.answered + counts.abandoned + counts.unserved
    working = time.busy + time.idle
    return IntervalKpi(
        start=start,
        queue=queue,
        offered=counts.offered,
        answered=counts.answered,
        abandoned=counts.abandoned,
        service_level=_ratio(counts.answered_within, left),
        p_wait=_ratio(counts.delayed, counts.answered),
        asa=_ratio(counts.wait_sum, counts.answered),
        abandon_rate=_ratio(counts.abandoned, counts.offered),
        occupancy=_ratio(time.busy, working),
        agents=time.logged_in / length,
        aht=_ratio(counts.handle_sum, counts.answered),
        max_wait=counts.max_wait,
    )


def _ratio(part: float, whole: float) -> float:
    return part / whole if whole > 0 else math.nan


@dataclass(frozen=True)
class Estimate:
    """The mean of a metric over replications and the half-width of its 95 % interval.

    ``half_width`` is NaN with fewer than two replications that produced the metric.
    """

    mean: float
    half_width: float

    @property
    def low(self) -> float:
        return self.mean - self.half_width

    @property
    def high(self) -> float:
        return self.mean + self.half_width

    def contains(self, value: float) -> bool:
        """Tell whether ``value`` lies inside the 95 % confidence interval."""
        return self.low <= value <= self.high


def estimate(values: list[float]) -> Estimate:
    """Return the mean and 95 % confidence half-width of replication results.

    NaN values (an interval with no calls) are left out.
    """
    known = [value for value in values if not math.isnan(value)]
    if not known:
        return Estimate(math.nan, math.nan)
    mean = statistics.fmean(known)
    if len(known) < 2:
        return Estimate(mean, math.nan)
    spread = statistics.stdev(known) / math.sqrt(len(known))
    return Estimate(mean, t_quantile_975(len(known) - 1) * spread)


@dataclass(frozen=True)
class SummaryRow:
    """One interval and queue, with each metric estimated over replications."""

    start: float
    queue: str
    offered: float
    answered: float
    abandoned: float
    metrics: dict[str, Estimate] = field(default_factory=dict)


def summarise(replications: list[list[IntervalKpi]]) -> list[SummaryRow]:
    """Estimate every metric of every interval and queue over the replications.

    Each replication lists its rows in the same order, as ``Replication.kpis`` does.
    """
    if not replications:
        return []
    rows = []
    for position, first in enumerate(replications[0]):
        same = [kpis[position] for kpis in replications]
        metrics = {name: estimate([row.metric(name) for row in same]) for name in METRICS}
        rows.append(
            SummaryRow(
                start=first.start,
                queue=first.queue,
                offered=statistics.fmean(row.offered for row in same),
                answered=statistics.fmean(row.answered for row in same),
                abandoned=statistics.fmean(row.abandoned for row in same),
                metrics=metrics,
            )
        )
    return rows
