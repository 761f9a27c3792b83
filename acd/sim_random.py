"""Random streams for the simulator: durations, patience and arrival times.

Each replication draws from its own independent streams, one per purpose, spawned from the
scenario seed with NumPy's ``SeedSequence``. The same seed therefore gives the same run, and
changing, say, the patience leaves the arrival times unchanged (common random numbers).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator

import numpy
from numpy.random import PCG64, Generator, SeedSequence

from acd.sim_scenario import (
    Empirical,
    Exponential,
    Fixed,
    Lognormal,
    NoPatience,
)

Sampler = Callable[[], float]

STREAMS = ("arrivals", "handle_time", "patience", "router")

# Values drawn per NumPy call. Each call has a fixed cost of a few microseconds, so values
# are drawn in batches and handed out from a list.
BATCH = 4096


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

    Random durations come from a NumPy generator seeded from ``rng``, drawn ``BATCH`` at a
    time. ``NoPatience`` draws infinity: the caller never hangs up.
    """
    if isinstance(spec, Fixed):
        value = spec.value
        return lambda: value
    if isinstance(spec, NoPatience):
        return lambda: math.inf
    generator = numpy_generator(rng)
    if isinstance(spec, Exponential):
        mean = spec.mean
        return batched(lambda size: generator.exponential(mean, size))
    if isinstance(spec, Lognormal):
        sigma_squared = math.log1p((spec.sd / spec.mean) ** 2)
        mu = math.log(spec.mean) - sigma_squared / 2.0
        sigma = math.sqrt(sigma_squared)
        return batched(lambda size: generator.lognormal(mu, sigma, size))
    values = numpy.asarray(spec.values, dtype=float)
    return batched(lambda size: generator.choice(values, size))


def numpy_generator(rng: random.Random) -> Generator:
    """Return a NumPy generator seeded from ``rng``, so one seed fixes both."""
    return Generator(PCG64(rng.getrandbits(128)))


def batched(draw: Callable[[int], numpy.ndarray]) -> Sampler:
    """Return a function that hands out ``draw(BATCH)``'s values one by one, refilling."""
    buffer: list[float] = []

    def take() -> float:
        if not buffer:
            # Reversed, so that ``pop`` from the end hands them out in drawn order.
            buffer.extend(reversed(draw(BATCH).tolist()))
        return buffer.pop()

    return take


def poisson_arrivals(
    counts: list[float], interval: float, start: float, rng: random.Random
) -> Iterator[float]:
    """Yield arrival times of a Poisson process whose rate is constant within each interval.

    ``counts[i]`` is the expected number of arrivals in interval ``i``. Because the process
    is memoryless, restarting the exponential gaps at each interval boundary is exact.
    """
    gap = batched(numpy_generator(rng).standard_exponential)
    for index, count in enumerate(counts):
        begin = start + index * interval
        end = begin + interval
        if count <= 0:
            continue
        mean_gap = interval / count
        now = begin + gap() * mean_gap
        while now < end:
            yield now
            now += gap() * mean_gap
