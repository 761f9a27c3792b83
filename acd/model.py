"""The router's mutable records: agents, interactions and offers, and their enums.

These records belong to the router, and other code reads them only through the router's
lookups. The router changes an agent's state only through its one transition method, so
every state change is reported as a decision.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from enum import StrEnum
from itertools import count
from typing import TYPE_CHECKING, Any

from acd.settings import CHANNELS, AgentSettings, Channel, QueueSettings
from santral.errors import SantralError

if TYPE_CHECKING:
    from acd.profiles import Profile, Requirements


class AcdError(SantralError):
    """A router input refers to something the router does not have, or is out of order."""


class UnknownAgentError(AcdError):
    def __init__(self, agent_id: str) -> None:
        self.agent_id = agent_id
        super().__init__(f"agent {agent_id!r} is not configured; add it under acd.agents")


class UnknownInteractionError(AcdError):
    def __init__(self, interaction_id: str) -> None:
        self.interaction_id = interaction_id
        super().__init__(f"interaction {interaction_id!r} is not in the ACD (ended or not queued)")


class UnknownOfferError(AcdError):
    def __init__(self, offer_id: str) -> None:
        self.offer_id = offer_id
        super().__init__(f"offer {offer_id!r} is not open (it ended or never existed)")


class AgentStatus(StrEnum):
    """The status an agent or supervisor sets."""

    LOGGED_OUT = "logged_out"
    AVAILABLE = "available"
    NOT_READY = "not_ready"


_AVAILABLE = AgentStatus.AVAILABLE


class AgentState(StrEnum):
    """The state the router derives from the agent's work."""

    IDLE = "idle"
    RESERVED = "reserved"
    BUSY = "busy"
    WRAP_UP = "wrap_up"


class InteractionStatus(StrEnum):
    WAITING = "waiting"
    OFFERED = "offered"
    ACCEPTED = "accepted"
    CONNECTED = "connected"
    ENDED = "ended"


_WAITING = InteractionStatus.WAITING


class QueueRules:
    """A queue's settings as they were when an interaction joined.

    A reload builds new rules; interactions already waiting keep the rules they joined
    with, so a reload changes routing for new arrivals only.
    """

    __slots__ = ("generation", "name", "settings")

    def __init__(self, name: str, settings: QueueSettings, generation: int) -> None:
        self.name = name
        self.settings = settings
        self.generation = generation


class AgentRecord:
    """One configured agent: status, derived state, work in hand and routing counters."""

    __slots__ = (
        "active",
        "agent_id",
        "channels",
        "free_since",
        "handled",
        "last_offered",
        "missed",
        "offer",
        "order_seq",
        "profiles",
        "reason",
        "settings",
        "slots",
        "state",
        "status",
        "talk_time",
        "version",
        "voice_exclusive",
        "wrapup_interaction",
        "wrapup_until",
    )

    def __init__(self, agent_id: str, settings: AgentSettings, order_seq: int) -> None:
        self.agent_id = agent_id
        self.order_seq = order_seq
        self.configure(settings)
        self.status = AgentStatus.LOGGED_OUT
        self.reason = ""
        self.state = AgentState.IDLE
        # Channel -> connected interactions; a channel with none has no key.
        self.active: dict[str, set[InteractionRecord]] = {}
        self.offer: OfferRecord | None = None
        self.wrapup_until: float | None = None
        self.wrapup_interaction = ""
        self.free_since = 0.0
        self.version = 0
        self.missed = 0
        self.handled = 0
        self.talk_time = 0.0
        self.last_offered: dict[str, int] = {}
        self.profiles: list[Profile] = []

    def configure(self, settings: AgentSettings) -> None:
        self.settings = settings
        # Capacity per channel name, read on every routing decision without validation.
        self.slots: dict[str, int] = {
            channel: settings.capacity.get(channel, 0) for channel in CHANNELS
        }
        self.voice_exclusive = settings.voice_exclusive
        self.channels = tuple(channel for channel in CHANNELS if self.slots[channel] > 0)

    def active_count(self) -> int:
        return sum(len(items) for items in self.active.values())

    def interactions(self) -> Iterator[InteractionRecord]:
        for items in self.active.values():
            yield from items

    def free_channels(self) -> tuple[str, ...]:
        """Return the channels the agent can be offered one more interaction on now."""
        if self.status is not _AVAILABLE or self.offer is not None:
            return ()
        if self.wrapup_until is not None:
            return ()
        if not self.active:
            return self.channels
        if self.voice_exclusive and "voice" in self.active:
            return ()
        return tuple(channel for channel in self.channels if self.capacity_reason(channel) is None)

    def can_take(self, channel: str) -> bool:
        """Tell whether the agent can be offered one more interaction on ``channel`` now."""
        if self.status is not _AVAILABLE or self.offer is not None:
            return False
        if self.wrapup_until is not None:
            return False
        active = self.active
        if not active:
            # Nothing in hand: only a channel without capacity rules the agent out.
            slots = self.slots.get(channel)
            return slots > 0 if slots is not None else self.capacity_reason(channel) is None
        return self.capacity_reason(channel) is None

    def capacity_reason(self, channel: str) -> str | None:
        """Return why the agent's capacity rules out one more ``channel`` interaction."""
        slots = self.slots.get(channel)
        if slots is None:
            slots = self.settings.capacity.get(_as_channel(channel), 0)
        if len(self.active.get(channel, ())) >= slots:
            return "capacity full" if slots else f"no {channel} capacity"
        if self.voice_exclusive and self.active:
            busy_voice = bool(self.active.get("voice"))
            if busy_voice or (channel == "voice" and self.active_count()):
                return "capacity full (voice excludes other work)"
        return None

    def derive_state(self) -> AgentState:
        if self.offer is not None:
            return AgentState.RESERVED
        if self.active:
            return AgentState.BUSY
        if self.wrapup_until is not None:
            return AgentState.WRAP_UP
        return AgentState.IDLE


class InteractionRecord:
    """One voice call, chat or email from the moment it joins a queue until it ends."""

    __slots__ = (
        "agent",
        "attributes",
        "channel",
        "connected_at",
        "enqueued_at",
        "excluded",
        "interaction_id",
        "offers",
        "priority",
        "profile",
        "queue",
        "requirements",
        "rules",
        "seq",
        "sort_key",
        "status",
        "step",
        "sticky_until",
        "version",
    )

    def __init__(
        self,
        interaction_id: str,
        channel: str,
        priority: int,
        attributes: dict[str, Any],
        enqueued_at: float,
        rules: QueueRules,
        requirements: Requirements,
        seq: int,
    ) -> None:
        self.interaction_id = interaction_id
        self.channel = channel
        self.priority = priority
        self.attributes = attributes
        self.enqueued_at = enqueued_at
        self.rules = rules
        self.queue = rules.name
        self.requirements = requirements
        self.seq = seq
        self.sort_key: tuple[float, float, int] = (0.0, enqueued_at, seq)
        self.status = _WAITING
        self.step = 0
        self.sticky_until: float | None = None
        self.profile: Profile | None = None
        self.offers: list[OfferRecord] = []
        self.excluded: dict[str, float] | None = None
        self.agent: AgentRecord | None = None
        self.connected_at = 0.0
        self.version = 0

    def is_excluded(self, agent_id: str, now: float) -> bool:
        if not self.excluded:
            return False
        until = self.excluded.get(agent_id)
        return until is not None and until > now


class OfferRecord:
    __slots__ = ("accepted", "agent", "created_at", "interaction", "offer_id", "open")

    def __init__(
        self, offer_id: str, interaction: InteractionRecord, agent: AgentRecord, now: float
    ) -> None:
        self.offer_id = offer_id
        self.interaction = interaction
        self.agent = agent
        self.created_at = now
        self.accepted = False
        self.open = True


def sequential_ids(prefix: str = "offer-") -> Callable[[], str]:
    """Return a generator of ids ``offer-1``, ``offer-2``…, deterministic for tests."""
    counter = count(1)
    return lambda: f"{prefix}{next(counter)}"


def _as_channel(channel: str) -> Channel:
    for known in CHANNELS:
        if channel == known:
            return known
    raise AcdError(f"unknown channel {channel!r}; use voice, chat or email")
