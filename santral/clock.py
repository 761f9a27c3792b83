"""Clocks injected into the pure cores, the engine and the simulator.

The IVR interpreter and the ACD router never read the wall clock themselves: they take a
``Clock`` so tests and the simulator can run a whole day in virtual time without sleeping.
Times are POSIX seconds as floats.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """A source of the current time in POSIX seconds."""

    def now(self) -> float: ...


class SystemClock:
    """The wall clock, for the live engine."""

    def now(self) -> float:
        return time.time()


class VirtualClock:
    """A clock that moves only when advanced, for tests and the simulator."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = start

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> float:
        """Move the clock forward by ``seconds`` and return the new time."""
        if seconds < 0:
            raise ValueError(f"cannot move a clock backwards (by {seconds} s)")
        self._now += seconds
        return self._now

    def set(self, when: float) -> None:
        """Move the clock to ``when``, which must not be in its past."""
        if when < self._now:
            raise ValueError(f"cannot move a clock backwards from {self._now} to {when}")
        self._now = when


class ShiftedClock:
    """The wall clock moved by a fixed offset: time runs, but starts at a chosen moment.

    Tests and demos use it to run the live engine "on a Monday at 10:00" while its timers
    still fire in real time.
    """

    def __init__(self, start: float) -> None:
        self._offset = start - time.time()

    def now(self) -> float:
        return time.time() + self._offset
