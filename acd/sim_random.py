"""Random streams for the simulator: durations, patience and arrival times.

Each replication draws from its own independent streams, one per purpose, spawned from the
scenario seed with NumPy's ``SeedSequence``. The same seed therefore gives the same run, and
changing, say, the patience leaves the arrival times unchanged (common random numbers).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator

from numpy.random import SeedSequence

from acd.sim_scenario import (
    Empirical,
    Exponential,
    Fixed,
    Lognormal,
    NoPatience,
)

Sampler = Callable[[], float]

STREAMS = ("arrivals", "handle_time", "patience", "router")


def replication_rngs(seed: int, replication: int) -> dict[str, random.Random]:
    """Return one generator per stream name in ``STREAMS`` for a replication."""
    children = SeedSequence(entropy=seed, spawn_key=(replication,)).spawn(len(STREAMS))
    return {
        name: random.Random(int(child.generate_state(2, dtype="uint64")[0]))
        for name, child in zip(STREAMS, children, strict=True)
    }


def sampler(
    spec: Exponential | Lognormal | Empirical | Fixed | NoPatience, rng: random.Random
) -> Sampler:
    """Return a function that draws one duration in seconds from ``spec``.

    ``NoPatience`` draws infinity: the caller never hangs up.
    """
    if isinstance(spec, Exponential):
        rate = 1.0 / spec.mean
        return lambda: rng.expovariate(rate)
    if isinstance(spec, Lognormal):
        sigma_squared = math.log1p((spec.sd / spec.mean) ** 2)
        mu = math.log(spec.mean) - sigma_squared / 2.0
        sigma = math.sqrt(sigma_squared)
        return lambda: rng.lognormvariate(mu, sigma)
    if isinstance(spec, Empirical):
        values = list(spec.values)
        return lambda: rng.choice(values)
    if isinstance(spec, Fixed):
        value = spec.value
        return lambda: value
    return lambda: math.inf


def poisson_arrivals(
    counts: list[float], interval: float, start: float, rng: random.Random
) -> Iterator[float]:
    """Yield arrival times of a Poisson process whose rate is constant within each interval.

    ``counts[i]`` is the expected number of arrivals in interval ``i``. Because the process
    is memoryless, restarting the exponential gaps at each interval boundary is exact.
    """
    for index, count in enumerate(counts):
        begin = start + index * interval
        end = begin + interval
        if count <= 0:
            continue
        rate = count / interval
        now = begin + rng.expovariate(rate)
        while now < end:
            yield now
            now += rng.expovariate(rate)
