"""Agent time from status and state changes: occupied versus available-and-idle seconds.

An agent is occupied while the system state is ``reserved``, ``busy`` or ``wrap_up``
(whatever the status), and available while the status is ``available`` and the state is
``idle``. Logged-out and not-ready idle time counts as neither.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

OCCUPIED_STATES = frozenset({"reserved", "busy", "wrap_up"})


@dataclass(frozen=True)
class Segment:
    agent_id: str
    begin: float
    end: float
    status: str
    state: str

    @property
    def occupied(self) -> bool:
        return self.state in OCCUPIED_STATES and self.status != "logged_out"

    @property
    def available(self) -> bool:
        return self.status == "available" and self.state == "idle"


def build_segments(
    changes: Iterable[dict[str, Any]],
    initial: dict[str, dict[str, str]],
    start: float,
    end: float,
) -> list[Segment]:
    """Turn ordered changes (``agent_id, ts, kind, new``) into segments inside [start, end).

    ``initial`` gives each agent's ``status`` and ``state`` at ``start``; agents not in it
    start logged out and idle.
    """
    current = {agent: dict(values) for agent, values in initial.items()}
    since = dict.fromkeys(current, start)
    segments: list[Segment] = []
    for change in changes:
        agent = change["agent_id"]
        values = current.setdefault(agent, {})
        _close(segments, agent, since.get(agent, start), min(change["ts"], end), values)
        values[change["kind"]] = change["new"]
        since[agent] = max(change["ts"], start)
    for agent, values in current.items():
        _close(segments, agent, since.get(agent, start), end, values)
    return segments


def _close(
    segments: list[Segment], agent: str, begin: float, end: float, values: dict[str, str]
) -> None:
    if end > begin:
        segments.append(Segment(agent, begin, end, values.get("status", "logged_out"),
                                values.get("state", "idle")))


def occupancy(segments: Sequence[Segment], begin: float, end: float) -> float | None:
    """Return occupied ÷ (occupied + available) seconds within [begin, end), or None."""
    occupied = available = 0.0
    for segment in segments:
        overlap = min(segment.end, end) - max(segment.begin, begin)
        if overlap <= 0:
            continue
        if segment.occupied:
            occupied += overlap
        elif segment.available:
            available += overlap
    total = occupied + available
    return occupied / total if total > 0 else None
