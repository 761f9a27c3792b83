"""The router's outputs: decisions the engine carries out and statistics count.

Each decision maps one to one onto an event in ``santral/events.py`` where one exists
(``Offer`` → ``OfferCreated``, ``OfferEnded``, ``Connected`` → ``InteractionConnected``,
``InteractionEnded``, ``WrapupStarted``, ``WrapupEnded``, ``AgentStatusChanged``,
``AgentStateChanged``) and uses the same field names and reason words. ``Queued``,
``JoinRejected``, ``OfferAccepted``, ``Overflow`` and ``Escalated`` have no event there yet.

Decisions are values: nothing assigns to one after the router builds it. They are slotted
dataclasses but not frozen, because a frozen dataclass sets each field through
``object.__setattr__`` in ``__init__``, which costs about four times as much, and the
router builds several decisions per input. ``unsafe_hash`` keeps them hashable by value.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True, unsafe_hash=True)
class Queued:
    """An interaction joined a queue (or moved to it by overflow) and waits for an agent."""

    interaction_id: str
    queue: str
    channel: str
    priority: int


@dataclass(slots=True, unsafe_hash=True)
class JoinRejected:
    """The queue refused an interaction: ``queue_full`` or ``queue_empty``."""

    interaction_id: str
    queue: str
    reason: str


@dataclass(slots=True, unsafe_hash=True)
class Offer:
    """An interaction is reserved for one agent, who has ``timeout`` seconds to accept."""

    offer_id: str
    interaction_id: str
    agent_id: str
    queue: str
    channel: str
    timeout: float


@dataclass(slots=True, unsafe_hash=True)
class OfferAccepted:
    """The agent accepted; the engine now connects the agent (voice) or opens the chat."""

    offer_id: str
    interaction_id: str
    agent_id: str


@dataclass(slots=True, unsafe_hash=True)
class OfferEnded:
    """An offer ended without a connection.

    ``reason``: ``rejected``, ``timeout``, ``no_answer``, ``busy``, ``failed`` (misses
    reported by the agent or the connector), ``caller_hangup``, ``agent_not_ready``,
    ``agent_logged_out`` or ``taken_elsewhere`` (ring-all).
    """

    offer_id: str
    interaction_id: str
    agent_id: str
    reason: str


@dataclass(slots=True, unsafe_hash=True)
class Connected:
    """The agent and the interaction are connected; ``waited`` counts from enqueue."""

    interaction_id: str
    agent_id: str
    offer_id: str
    queue: str
    channel: str
    waited: float


@dataclass(slots=True, unsafe_hash=True)
class InteractionEnded:
    """An interaction left the ACD for good.

    ``outcome``: ``answered`` (conversation over), ``abandoned_in_queue`` (caller left while
    waiting or during an offer), ``overflowed``, ``removed`` (the queue became empty under
    ``leave_when_empty``). ``waited`` is the time from enqueue to connection or departure.
    """

    interaction_id: str
    outcome: str
    queue: str
    channel: str
    waited: float
    agent_id: str = ""
    overflow_target: str = ""


@dataclass(slots=True, unsafe_hash=True)
class Overflow:
    """An interaction waited ``max_wait`` and goes to ``target``.

    When ``target`` names a configured queue the router moves the interaction there itself
    (``Queued`` follows, or ``JoinRejected`` and ``InteractionEnded`` when that queue
    rejects it). Otherwise the engine sends it to ``target`` (a dialplan node or a number)
    and ``InteractionEnded`` follows.
    """

    interaction_id: str
    queue: str
    target: str


@dataclass(slots=True, unsafe_hash=True)
class Escalated:
    """An interaction's requirements were relaxed to escalation ``step`` (counting from 1)."""

    interaction_id: str
    queue: str
    step: int


@dataclass(slots=True, unsafe_hash=True)
class WrapupStarted:
    agent_id: str
    interaction_id: str
    duration: float


@dataclass(slots=True, unsafe_hash=True)
class WrapupEnded:
    """The agent's wrap-up is over; ``interaction_id`` is the last one wrapped up."""

    agent_id: str
    interaction_id: str


@dataclass(slots=True, unsafe_hash=True)
class AgentStatusChanged:
    """The status an agent or supervisor sets: ``logged_out``, ``available``, ``not_ready``."""

    agent_id: str
    old: str
    new: str
    reason: str = ""


@dataclass(slots=True, unsafe_hash=True)
class AgentStateChanged:
    """The state the router sets: ``idle``, ``reserved``, ``busy``, ``wrap_up``."""

    agent_id: str
    old: str
    new: str


Decision = (
    Queued
    | JoinRejected
    | Offer
    | OfferAccepted
    | OfferEnded
    | Connected
    | InteractionEnded
    | Overflow
    | Escalated
    | WrapupStarted
    | WrapupEnded
    | AgentStatusChanged
    | AgentStateChanged
)
