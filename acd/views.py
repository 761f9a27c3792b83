"""Read-only copies of router state for the CTI, supervisors and wallboards."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class AgentView:
    """An agent's status (set by people), state (set by the router) and work in hand."""

    agent_id: str
    status: str
    reason: str
    state: str
    offer_id: str | None
    interactions: tuple[str, ...]
    wrapup_until: float | None
    missed: int


@dataclass(frozen=True, slots=True)
class InteractionView:
    interaction_id: str
    queue: str
    channel: str
    status: str
    priority: int
    enqueued_at: float
    step: int
    agent_id: str | None
    offer_ids: tuple[str, ...]
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Explanation:
    """The routing state of one interaction and the reason each agent can or cannot take it.

    ``agents`` maps every configured agent to ``"eligible"`` or to the first reason it
    cannot take the interaction now (status, missing skill, level too low, wrap-up,
    capacity full, not in the queue, recently missed it).
    """

    interaction_id: str
    queue: str
    status: str
    step: int
    next_step_at: float | None
    required_skills: dict[str, int]
    language: str | None
    queues: tuple[str, ...]
    groups: tuple[str, ...]
    preferred_agent: str | None
    agents: dict[str, str]

    def eligible(self) -> list[str]:
        return [agent_id for agent_id, why in self.agents.items() if why == "eligible"]


@dataclass(frozen=True, slots=True)
class WaitingView:
    """One interaction still in a queue, in queue order; ``status`` waiting or offered."""

    interaction_id: str
    priority: int
    waited: float
    status: str
    estimated_wait: float | None = None


@dataclass(frozen=True, slots=True)
class QueueSnapshot:
    """Real-time figures of one queue.

    ``estimated_wait`` is for a new arrival; each entry of ``waiting`` carries its own.
    ``service_level`` is answered within the threshold divided by answered since the
    statistics started, or None before the first answer.
    """

    queue: str
    waiting_count: int
    longest_wait: float
    agents_by_state: dict[str, int]
    staffed: int
    estimated_wait: float | None
    service_level: float | None
    average_handle_time: float
    waiting: tuple[WaitingView, ...]
