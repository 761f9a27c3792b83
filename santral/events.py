"""Typed domain events and the in-process event bus.

Every step of a call or an agent emits one of these events. The bus stamps each with a
sequence number and a timestamp; the store, CTI and metrics subscribe to it. Event ``type``
names are stable snake_case strings and every event carries a schema ``version``, so CTI
clients and stored records can tell formats apart.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import structlog

from santral.clock import Clock, SystemClock

log = structlog.get_logger(__name__)


@dataclass(frozen=True, kw_only=True)
class Event:
    """Base of every domain event; ``seq`` and ``ts`` are set by the bus."""

    type: ClassVar[str] = "event"
    version: ClassVar[int] = 1
    seq: int = 0
    ts: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """Return the event as a JSON-ready dict with its type and version."""
        body = dataclasses.asdict(self)
        return {"type": self.type, "version": self.version, **body}


# Calls and the IVR


@dataclass(frozen=True, kw_only=True)
class CallStarted(Event):
    type: ClassVar[str] = "call_started"
    call_id: str
    connector: str
    caller: str
    called: str
    dialplan: str = ""


@dataclass(frozen=True, kw_only=True)
class IvrNodeEntered(Event):
    type: ClassVar[str] = "ivr_node_entered"
    call_id: str
    dialplan: str
    node: str
    kind: str


@dataclass(frozen=True, kw_only=True)
class IvrFinished(Event):
    """The caller left the IVR: queued, transferred, hung up, or sent to voicemail."""

    type: ClassVar[str] = "ivr_finished"
    call_id: str
    outcome: str
    path: list[str] = field(default_factory=list)
    variables: dict[str, Any] = field(default_factory=dict)  # sensitive values already masked
    language: str = ""


@dataclass(frozen=True, kw_only=True)
class CallEnded(Event):
    type: ClassVar[str] = "call_ended"
    call_id: str
    outcome: str
    cause: str = ""


@dataclass(frozen=True, kw_only=True)
class SurveyAnswered(Event):
    type: ClassVar[str] = "survey_answered"
    call_id: str
    question: str
    score: int
    interaction_id: str = ""


# Interactions in the ACD


@dataclass(frozen=True, kw_only=True)
class InteractionQueued(Event):
    type: ClassVar[str] = "interaction_queued"
    interaction_id: str
    channel: str
    queue: str
    caller: str = ""
    called: str = ""
    call_id: str = ""
    priority: int = 0
    language: str = ""
    skills: dict[str, int] = field(default_factory=dict)
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class OfferCreated(Event):
    """An interaction is offered (reserved) to one agent; carries the screen-pop data."""

    type: ClassVar[str] = "offer_created"
    offer_id: str
    interaction_id: str
    agent_id: str
    queue: str
    channel: str
    timeout: float
    pop: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class OfferEnded(Event):
    """An offer ended without a connection: rejected, timed out, or cancelled."""

    type: ClassVar[str] = "offer_ended"
    offer_id: str
    interaction_id: str
    agent_id: str
    reason: str  # rejected, timeout, caller_hangup, agent_not_ready, taken_elsewhere, failed


@dataclass(frozen=True, kw_only=True)
class InteractionConnected(Event):
    type: ClassVar[str] = "interaction_connected"
    interaction_id: str
    agent_id: str
    queue: str = ""
    channel: str = "voice"


@dataclass(frozen=True, kw_only=True)
class InteractionHeld(Event):
    type: ClassVar[str] = "interaction_held"
    interaction_id: str
    agent_id: str
    on_hold: bool


@dataclass(frozen=True, kw_only=True)
class InteractionEnded(Event):
    """An interaction left the ACD for good; ``outcome`` is one of the record outcomes."""

    type: ClassVar[str] = "interaction_ended"
    interaction_id: str
    outcome: str  # answered, abandoned_in_queue, overflowed, transferred, timeout, rejected
    queue: str = ""
    agent_id: str = ""
    overflow_target: str = ""
    transfer_target: str = ""  # "queue:NAME", "agent:ID" or "number:NUMBER" when transferred


@dataclass(frozen=True, kw_only=True)
class WrapupStarted(Event):
    type: ClassVar[str] = "wrapup_started"
    agent_id: str
    interaction_id: str
    duration: float


@dataclass(frozen=True, kw_only=True)
class WrapupEnded(Event):
    type: ClassVar[str] = "wrapup_ended"
    agent_id: str
    interaction_id: str
    disposition: str = ""
    notes: str = ""


# Agents


@dataclass(frozen=True, kw_only=True)
class AgentStatusChanged(Event):
    """The status an agent or supervisor sets: logged_out, available, not_ready."""

    type: ClassVar[str] = "agent_status_changed"
    agent_id: str
    old: str
    new: str
    reason: str = ""


@dataclass(frozen=True, kw_only=True)
class AgentStateChanged(Event):
    """The state the system sets: idle, reserved, busy, wrap_up."""

    type: ClassVar[str] = "agent_state_changed"
    agent_id: str
    old: str
    new: str


Subscriber = Callable[[Event], None]


class EventBus:
    """The in-memory event bus: stamps events and hands them to every subscriber in order.

    Subscribers are plain callables run synchronously in the publisher's thread, so they
    must be quick (append to a buffer, put on a queue). A subscriber that raises is logged
    and the others still run.
    """

    def __init__(self, clock: Clock | None = None) -> None:
        self._clock = clock or SystemClock()
        self._subscribers: list[Subscriber] = []
        self._seq = 0

    @property
    def last_seq(self) -> int:
        return self._seq

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        """Add ``subscriber`` and return a function that removes it again."""
        self._subscribers.append(subscriber)

        def unsubscribe() -> None:
            if subscriber in self._subscribers:
                self._subscribers.remove(subscriber)

        return unsubscribe

    def publish(self, event: Event) -> Event:
        """Stamp ``event`` with the next sequence number and the time, deliver it, return it."""
        self._seq += 1
        stamped = dataclasses.replace(event, seq=self._seq, ts=event.ts or self._clock.now())
        for subscriber in list(self._subscribers):
            try:
                subscriber(stamped)
            except Exception:
                log.exception("event_subscriber_failed", event_type=stamped.type, seq=stamped.seq)
        return stamped


# CTI


@dataclass(frozen=True, kw_only=True)
class QueueStatsUpdated(Event):
    """A statistics snapshot of every queue, published by CTI when a figure changed.

    Each entry has ``queue``, ``waiting``, ``longest_wait`` (seconds), ``service_level``
    (0..1 or None) and ``agents`` (state -> count).
    """

    type: ClassVar[str] = "queue_stats_updated"
    queues: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True)
class OfferHistoryFound(Event):
    """The caller's previous interactions, looked up by CTI after an offer was created."""

    type: ClassVar[str] = "offer_history_found"
    offer_id: str
    interaction_id: str
    agent_id: str
    caller: str
    days: int
    interactions: list[dict[str, Any]] = field(default_factory=list)


# Recordings


@dataclass(frozen=True, kw_only=True)
class RecordingSaved(Event):
    """A recording file of a call was written; the store tracks it for retention and erasure."""

    type: ClassVar[str] = "recording_saved"
    call_id: str
    path: str
    duration: float = 0.0
    interaction_id: str = ""


# Telephony: agents' phones and agent legs


@dataclass(frozen=True, kw_only=True)
class EndpointStateChanged(Event):
    """An agent's phone registered, went away or changed device state on the PBX.

    ``available`` is False when the phone cannot take a call (unregistered, unavailable),
    so the ACD must not offer voice calls to ``agent_id`` until it is True again.
    """

    type: ClassVar[str] = "endpoint_state_changed"
    connector: str
    endpoint: str
    state: str
    available: bool
    agent_id: str = ""


@dataclass(frozen=True, kw_only=True)
class AgentLegChanged(Event):
    """The state of the agent's call leg: ``ringing``, ``answered``, ``bridged`` or ``left``.

    ``left`` means the agent's phone left the conversation; availability and wrap-up start
    from it even when the caller stays on the line.
    """

    type: ClassVar[str] = "agent_leg_changed"
    connector: str
    call_id: str
    agent_id: str
    endpoint: str
    state: str
    cause: str = ""


# Written channels: email and web chat


@dataclass(frozen=True, kw_only=True)
class InteractionMessage(Event):
    """A message in an email or chat interaction; the transcript is the list of these.

    ``direction`` is ``in`` (from the customer) or ``out`` (from the agent). ``attachments``
    lists ``{"name", "content_type", "size", "path"}`` of files kept with the message.
    """

    type: ClassVar[str] = "interaction_message"
    interaction_id: str
    channel: str
    direction: str
    sender: str
    text: str
    message_id: str = ""
    subject: str = ""
    agent_id: str = ""
    attachments: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True)
class TypingChanged(Event):
    """Someone in a chat started or stopped typing; for the other side's display only."""

    type: ClassVar[str] = "typing_changed"
    interaction_id: str
    sender: str  # customer or agent
    typing: bool
    agent_id: str = ""


# Consult transfers


@dataclass(frozen=True, kw_only=True)
class ConsultChanged(Event):
    """A consultation of agent ``agent_id`` about interaction ``interaction_id`` changed state.

    ``state`` is ``requested`` (waiting for the target agent to accept), ``ringing`` (the
    connector rings the target while the caller holds), ``connected`` (the agent talks with
    the target), or one of the final states: ``completed`` (the caller now talks with the
    target), ``cancelled`` (by the agent), ``failed`` (the target missed, rejected or could
    not be reached; ``reason`` says how), ``target_left`` (the consulted party hung up) and
    ``ended`` (the caller or the agent left, so the consultation ended with the call).
    ``target_interaction_id`` is the consulted agent's own interaction, empty for a number.
    """

    type: ClassVar[str] = "consult_changed"
    consult_id: str
    interaction_id: str
    agent_id: str
    call_id: str
    target_kind: str  # agent, queue or number
    target: str
    state: str
    target_agent_id: str = ""
    target_interaction_id: str = ""
    reason: str = ""
