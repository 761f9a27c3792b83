"""Erlang C and Erlang A staffing formulas.

Erlang C models an M/M/N queue: Poisson arrivals, exponential handle times, ``N`` agents and
callers who never hang up. Erlang A (M/M/N+M) adds exponential patience, so callers abandon
and the queue stays stable even when the traffic exceeds the agents. Both are steady-state
results for one interval; the simulator checks them and goes where they cannot (shifts,
skills, non-exponential handle times).

Units: calls per interval, interval length and all durations in seconds, traffic in
Erlangs (``arrival rate × AHT``), probabilities and ratios in [0, 1].
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from santral.errors import SantralError

# Erlang A sums the birth-death chain until the probability left in its tail is below this.
_TAIL_TOLERANCE = 1e-13
# Hard limit on queue states summed for Erlang A, so an extreme input cannot loop for long.
_MAX_QUEUE_STATES = 200_000
# Staffing searches at most this many agents above the offered traffic.
_MAX_EXTRA_AGENTS = 100_000


class ErlangError(SantralError):
    """An Erlang formula was called with values outside its domain."""


@dataclass(frozen=True)
class Workload:
    """Calls offered in one interval and how long each takes.

    ``aht`` is the average handle time in seconds (talk, hold and wrap-up).
    """

    calls: float
    interval: float
    aht: float

    def __post_init__(self) -> None:
        if self.calls < 0:
            raise ErlangError(f"calls must be 0 or more, got {self.calls}")
        if self.interval <= 0:
            raise ErlangError(f"interval must be more than 0 seconds, got {self.interval}")
        if self.aht <= 0:
            raise ErlangError(f"AHT must be more than 0 seconds, got {self.aht}")

    @property
    def arrival_rate(self) -> float:
        """Calls per second."""
        return self.calls / self.interval

    @property
    def traffic(self) -> float:
        """Offered load in Erlangs."""
        return self.arrival_rate * self.aht


@dataclass(frozen=True)
class ErlangCResult:
    """Steady-state figures of an M/M/N queue for one staffing level.

    ``asa`` is the average speed of answer in seconds over all calls, those answered at
    once included. ``service_level`` is the share of calls answered within ``threshold``.
    """

    agents: int
    traffic: float
    threshold: float
    p_wait: float
    service_level: float
    asa: float
    occupancy: float


@dataclass(frozen=True)
class ErlangAResult:
    """Steady-state figures of an M/M/N+M queue (exponential patience).

    ``service_level`` is the share of offered calls answered within ``threshold``; calls
    that abandon count against it. ``asa`` is the mean wait of answered calls in seconds.
    ``occupancy`` counts only the work of answered calls.
    """

    agents: int
    traffic: float
    threshold: float
    patience: float
    p_wait: float
    p_abandon: float
    service_level: float
    asa: float
    mean_queue_length: float
    occupancy: float


@dataclass(frozen=True)
class Staffing:
    """Agents needed for a target, before and after shrinkage.

    ``scheduled`` is the number to put on the schedule so that ``agents`` are on the
    phones when a share ``shrinkage`` of paid time goes to breaks, training and absence.
    """

    agents: int
    scheduled: int
    shrinkage: float
    metrics: ErlangCResult | ErlangAResult


def erlang_b(agents: int, traffic: float) -> float:
    """Return the blocking probability of an M/M/N/N system (Erlang B).

    Uses the stable recursion ``B(n) = A·B(n-1) / (n + A·B(n-1))``.
    """
    _check_agents(agents)
    _check_traffic(traffic)
    blocking = 1.0
    for n in range(1, agents + 1):
        blocking = traffic * blocking / (n + traffic * blocking)
    return blocking


def erlang_c(agents: int, traffic: float) -> float:
    """Return the probability that a call waits in an M/M/N queue (Erlang C).

    With as many Erlangs as agents or more the queue grows without bound, so every call
    waits and this returns 1.0.
    """
    _check_agents(agents)
    _check_traffic(traffic)
    if agents == 0 or traffic >= agents:
        return 1.0
    blocking = erlang_b(agents, traffic)
    return agents * blocking / (agents - traffic * (1.0 - blocking))


def erlang_c_metrics(workload: Workload, agents: int, threshold: float) -> ErlangCResult:
    """Compute P(wait), service level, ASA and occupancy for ``agents`` agents.

    Raises ``ErlangError`` when the traffic is not below the number of agents, because
    the M/M/N queue then has no steady state.
    """
    _check_threshold(threshold)
    traffic = workload.traffic
    if agents <= traffic:
        raise ErlangError(
            f"{agents} agents cannot carry {traffic:.2f} Erlangs without callers abandoning; "
            "add agents or use Erlang A with a patience"
        )
    p_wait = erlang_c(agents, traffic)
    spare = agents - traffic
    service_level = 1.0 - p_wait * math.exp(-spare * threshold / workload.aht)
    return ErlangCResult(
        agents=agents,
        traffic=traffic,
        threshold=threshold,
        p_wait=p_wait,
        service_level=service_level,
        asa=p_wait * workload.aht / spare,
        occupancy=traffic / agents,
    )


def erlang_a_metrics(
    workload: Workload, agents: int, threshold: float, patience: float
) -> ErlangAResult:
    """Compute P(wait), abandon rate, service level and ASA with mean ``patience`` seconds.

    Solves the birth-death chain of the M/M/N+M queue, truncated where its tail
    probability is negligible, then follows one arriving caller through the queue.
    """
    _check_agents(agents)
    _check_threshold(threshold)
    if patience <= 0:
        raise ErlangError(f"patience must be more than 0 seconds, got {patience}")
    if agents == 0:
        raise ErlangError("Erlang A needs at least 1 agent")

    chain = _MmnmChain(workload, agents, 1.0 / patience)
    served_by_threshold = chain.service_level(threshold)
    answered = 1.0 - chain.p_abandon
    return ErlangAResult(
        agents=agents,
        traffic=workload.traffic,
        threshold=threshold,
        patience=patience,
        p_wait=chain.p_wait,
        p_abandon=chain.p_abandon,
        service_level=served_by_threshold,
        asa=chain.answered_wait / answered if answered > 0 else math.inf,
        mean_queue_length=chain.mean_queue_length,
        occupancy=min(1.0, workload.traffic * answered / agents),
    )


def staff_erlang_c(
    workload: Workload,
    threshold: float,
    target: float,
    *,
    shrinkage: float = 0.0,
    max_asa: float | None = None,
    max_occupancy: float | None = None,
) -> Staffing:
    """Find the fewest agents whose Erlang C service level reaches ``target``.

    ``max_asa`` (seconds) and ``max_occupancy`` add further conditions that must all hold.
    """
    _check_target(target)
    _check_shrinkage(shrinkage)
    agents = max(1, math.floor(workload.traffic) + 1)
    for _ in range(_MAX_EXTRA_AGENTS):
        metrics = erlang_c_metrics(workload, agents, threshold)
        if _meets(metrics, target, max_asa, max_occupancy):
            return _staffing(agents, shrinkage, metrics)
        agents += 1
    raise ErlangError(f"no staffing up to {agents} agents reaches the target {target}")


def staff_erlang_a(
    workload: Workload,
    threshold: float,
    target: float,
    patience: float,
    *,
    shrinkage: float = 0.0,
    max_abandon: float | None = None,
    max_asa: float | None = None,
) -> Staffing:
    """Find the fewest agents whose Erlang A service level reaches ``target``.

    ``max_abandon`` (a share of offered calls) and ``max_asa`` (seconds) add further
    conditions that must all hold. The search doubles the staffing until it meets them,
    then bisects, which relies on every figure improving as agents are added.
    """
    _check_target(target)
    _check_shrinkage(shrinkage)

    def meets(agents: int) -> ErlangAResult | None:
        metrics = erlang_a_metrics(workload, agents, threshold, patience)
        if max_abandon is not None and metrics.p_abandon > max_abandon:
            return None
        return metrics if _meets(metrics, target, max_asa, None) else None

    low, high = 0, max(1, math.ceil(workload.traffic))
    while meets(high) is None:
        if high > workload.traffic + _MAX_EXTRA_AGENTS:
            raise ErlangError(f"no staffing up to {high} agents reaches the target {target}")
        low, high = high, high * 2
    while high - low > 1:
        middle = (low + high) // 2
        if meets(middle) is None:
            low = middle
        else:
            high = middle
    metrics = meets(high)
    assert metrics is not None  # high always meets the target inside the bisection
    return _staffing(high, shrinkage, metrics)


def _meets(
    metrics: ErlangCResult | ErlangAResult,
    target: float,
    max_asa: float | None,
    max_occupancy: float | None,
) -> bool:
    if metrics.service_level < target:
        return False
    if max_asa is not None and metrics.asa > max_asa:
        return False
    return max_occupancy is None or metrics.occupancy <= max_occupancy


def _staffing(agents: int, shrinkage: float, metrics: ErlangCResult | ErlangAResult) -> Staffing:
    # A small epsilon keeps 10 / (1 - 0.5) from rounding up to 21 on float noise.
    scheduled = math.ceil(agents / (1.0 - shrinkage) - 1e-9)
    return Staffing(agents=agents, scheduled=scheduled, shrinkage=shrinkage, metrics=metrics)


class _MmnmChain:
    """The stationary M/M/N+M birth-death chain and one tagged caller's path through it.

    State ``k`` is the number of calls in the system. Below ``N`` the chain is the
    Poisson distribution's shape; above, each step divides by ``Nμ + jθ`` for ``j``
    callers in queue. A caller who arrives with ``j`` callers ahead moves up one place at
    rate ``Nμ + jθ`` (an agent frees up or someone ahead abandons) and abandons at rate θ.
    """

    def __init__(self, workload: Workload, agents: int, abandon_rate: float) -> None:
        self.agents = agents
        self.arrival_rate = workload.arrival_rate
        self.service_rate = 1.0 / workload.aht
        self.abandon_rate = abandon_rate
        # queue_probabilities[j]: an arrival finds all agents busy and j callers waiting.
        self.queue_probabilities = self._queue_probabilities()
        self.p_wait = math.fsum(self.queue_probabilities)
        self._follow_tagged_caller()

    def _queue_probabilities(self) -> list[float]:
        # Log weights keep large N and tiny or huge loads from overflowing a float.
        if self.arrival_rate == 0.0:
            return [0.0]
        log_load = math.log(self.arrival_rate / self.service_rate)
        below = [k * log_load - math.lgamma(k + 1) for k in range(self.agents)]
        queue = [self.agents * log_load - math.lgamma(self.agents + 1)]
        full_rate = self.agents * self.service_rate
        for j in range(1, _MAX_QUEUE_STATES):
            rate_out = full_rate + j * self.abandon_rate
            queue.append(queue[-1] + math.log(self.arrival_rate / rate_out))
            peak = max(queue[0], below[-1] if below else queue[0], queue[-2])
            if rate_out > self.arrival_rate and queue[-1] < peak + math.log(_TAIL_TOLERANCE):
                break
        peak = max(*below, *queue)
        total = math.fsum(math.exp(w - peak) for w in below + queue)
        return [math.exp(w - peak) / total for w in queue]

    def _forward_rate(self, ahead: int) -> float:
        return self.agents * self.service_rate + ahead * self.abandon_rate

    def _follow_tagged_caller(self) -> None:
        p_served = 0.0
        waited_if_served = 0.0
        served_from = 1.0  # P(answered | at the head of the queue), built up by position
        time_if_served = 0.0
        for ahead, probability in enumerate(self.queue_probabilities):
            forward = self._forward_rate(ahead)
            leave = forward + self.abandon_rate
            served_from = forward / leave * (1.0 if ahead == 0 else served_from)
            time_if_served = served_from / leave + forward / leave * time_if_served
            p_served += probability * served_from
            waited_if_served += probability * time_if_served
        self.p_abandon = self.p_wait - p_served
        self.answered_wait = waited_if_served
        self.mean_queue_length = math.fsum(j * p for j, p in enumerate(self.queue_probabilities))

    def service_level(self, threshold: float) -> float:
        """Return the share of callers answered within ``threshold`` seconds.

        Uses uniformisation on the tagged caller's chain. Each jump of a Poisson process at
        the chain's largest exit rate moves the caller up, makes it abandon or leaves it in
        place. The share answered after ``n`` jumps is weighted by P(n jumps by ``threshold``).
        """
        if threshold == 0.0:
            return 1.0 - self.p_wait
        positions = list(self.queue_probabilities)
        uniform_rate = self._forward_rate(len(positions)) + self.abandon_rate
        mean_jumps = uniform_rate * threshold
        max_jumps = int(mean_jumps + 12.0 * math.sqrt(mean_jumps) + 30)
        answered_within_jumps = 0.0
        answered = 0.0
        log_poisson = -mean_jumps
        for jumps in range(max_jumps + 1):
            if jumps > 0:
                answered_now, positions = self._jump(positions, uniform_rate)
                answered_within_jumps += answered_now
                log_poisson += math.log(mean_jumps / jumps)
            answered += math.exp(log_poisson) * answered_within_jumps
        return 1.0 - self.p_wait + answered

    def _jump(self, positions: list[float], uniform_rate: float) -> tuple[float, list[float]]:
        moved = [0.0] * len(positions)
        answered = 0.0
        for ahead, probability in enumerate(positions):
            if probability == 0.0:
                continue
            forward = self._forward_rate(ahead) / uniform_rate
            stay = 1.0 - forward - self.abandon_rate / uniform_rate
            if ahead == 0:
                answered += probability * forward
            else:
                moved[ahead - 1] += probability * forward
            moved[ahead] += probability * stay
        return answered, moved


def _check_agents(agents: int) -> None:
    if agents < 0:
        raise ErlangError(f"agents must be 0 or more, got {agents}")


def _check_traffic(traffic: float) -> None:
    if traffic < 0:
        raise ErlangError(f"traffic must be 0 Erlangs or more, got {traffic}")


def _check_threshold(threshold: float) -> None:
    if threshold < 0:
        raise ErlangError(f"service-level threshold must be 0 seconds or more, got {threshold}")


def _check_target(target: float) -> None:
    if not 0.0 < target < 1.0:
        raise ErlangError(f"service-level target must be between 0 and 1, got {target}")


def _check_shrinkage(shrinkage: float) -> None:
    if not 0.0 <= shrinkage < 1.0:
        raise ErlangError(f"shrinkage must be from 0 up to (not including) 1, got {shrinkage}")
