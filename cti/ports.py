"""What CTI needs from the rest of the engine: the agent desk and the interaction history.

``AcdService`` implements ``AgentDesk``; the store implements ``InteractionHistory``. CTI
depends on these protocols only, so its tests run against an in-memory desk and the engine
can swap the implementations.

Every ``AgentDesk`` method raises ``DeskError`` when the action is not possible. Its
``code`` sets the HTTP status of the API response (see ``DESK_ERROR_STATUS``).
"""

from __future__ import annotations

from typing import Any, Final, Protocol

from santral.errors import SantralError

AGENT_STATUSES: Final = ("logged_out", "available", "not_ready")
TRANSFER_TARGET_KINDS: Final = ("queue", "agent", "number")

# DeskError codes and the HTTP status the API maps each to.
DESK_ERROR_STATUS: Final[dict[str, int]] = {
    "invalid": 400,  # a malformed value: unknown status, empty disposition, negative seconds
    "forbidden": 403,  # the agent may not do this (e.g. transfer to a queue it lacks rights to)
    "not_found": 404,  # unknown agent, offer, interaction, queue or transfer target
    "invalid_state": 409,  # the action does not fit the current state (no offer, not in wrap-up)
    "not_supported": 501,  # the channel or connector cannot do this (e.g. hold on email)
    "failed": 502,  # the connector that owns the call failed to carry out the action
}


class DeskError(SantralError):
    """An agent action or view that the desk cannot carry out.

    ``code`` is one of the keys of ``DESK_ERROR_STATUS``; the message names the bad value
    and, where there is one, the fix.
    """

    def __init__(self, message: str, code: str = "invalid_state", *, agent_id: str = "") -> None:
        if code not in DESK_ERROR_STATUS:
            known = ", ".join(DESK_ERROR_STATUS)
            raise ValueError(f"unknown DeskError code {code!r}; use one of {known}")
        self.code = code
        self.agent_id = agent_id
        super().__init__(message)


class AgentDesk(Protocol):
    """The agent-facing side of the ACD, implemented by ``AcdService``.

    Views are plain JSON-ready dicts. Coroutines return once the ACD has taken the action
    (for voice, once the connector that owns the call has carried it out) and raise
    ``DeskError`` otherwise. Events describing the change are published on the event bus,
    not returned.
    """

    def agent_view(self, agent_id: str) -> dict[str, Any]:
        """Return one agent's current view.

        Keys: ``agent_id``, ``name``, ``status`` (logged_out | available | not_ready),
        ``reason``, ``state`` (idle | reserved | busy | wrap_up), ``offer`` (None or a dict
        with ``offer_id``, ``interaction_id``, ``queue``, ``channel``, ``timeout``,
        ``expires_at`` and ``pop``), ``interactions`` (list of dicts with
        ``interaction_id``, ``channel``, ``queue``, ``caller``, ``connected_at``,
        ``on_hold``, ``attributes``), ``wrapup`` (None or a dict with ``interaction_id``
        and ``deadline``). Raises ``DeskError`` (not_found) for an unknown agent.
        """
        ...

    def agents(self) -> list[dict[str, Any]]:
        """Return the view of every configured agent, for supervisors."""
        ...

    def queues(self) -> list[dict[str, Any]]:
        """Return a statistics snapshot per queue.

        Keys: ``queue``, ``waiting``, ``longest_wait`` (seconds), ``service_level``
        (fraction 0..1 or None when nothing was answered or abandoned yet),
        ``agents`` (dict state -> count, e.g. ``{"idle": 2, "busy": 1, "not_ready": 0}``).
        """
        ...

    async def set_status(self, agent_id: str, status: str, reason_code: str = "") -> None:
        """Set the status an agent chose: logged_out, available or not_ready."""
        ...

    async def accept(self, agent_id: str, offer_id: str) -> None: ...

    async def reject(self, agent_id: str, offer_id: str) -> None: ...

    async def hangup(self, agent_id: str, interaction_id: str) -> None: ...

    async def hold(self, agent_id: str, interaction_id: str, on_hold: bool) -> None: ...

    async def transfer(
        self, agent_id: str, interaction_id: str, target_kind: str, target: str, consult: bool
    ) -> None:
        """Transfer to a queue, an agent or a number; ``consult`` keeps the agent on the line."""
        ...

    async def end_wrapup(self, agent_id: str, disposition: str, notes: str = "") -> None: ...

    async def extend_wrapup(self, agent_id: str, seconds: float) -> None: ...

    async def send_message(self, agent_id: str, interaction_id: str, text: str) -> None:
        """Send an email or chat reply; raises ``DeskError`` (not_supported) until wired."""
        ...

    def reason_codes(self) -> list[str]: ...

    def disposition_codes(self) -> list[str]: ...


class InteractionHistory(Protocol):
    """Past interactions of a caller, implemented by the store."""

    async def previous_interactions(
        self, caller: str, since: float, limit: int
    ) -> list[dict[str, Any]]:
        """Return at most ``limit`` interactions of ``caller`` that started after ``since``.

        Newest first; each dict has at least ``interaction_id``, ``arrived_at``, ``queue``,
        ``channel``, ``outcome``, ``agent_id`` and ``disposition``.
        """
        ...
