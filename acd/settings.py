"""The ``acd:`` section of ``config.yaml``: queues, agents, reason codes, statistics.

Every duration is in seconds. The defaults load with no external service and describe an
empty contact centre: one ``default`` queue and no agents.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Channel = Literal["voice", "chat", "email"]
CHANNELS: tuple[Channel, ...] = ("voice", "chat", "email")


class Strategy(StrEnum):
    """The rule by which a queue picks one of several idle agents that can take an interaction."""

    LONGEST_IDLE = "longest_idle"
    ROUND_ROBIN = "round_robin"
    FEWEST_INTERACTIONS = "fewest_interactions"
    LEAST_TALK_TIME = "least_talk_time"
    BEST_PROFICIENCY = "best_proficiency"
    TOP_DOWN = "top_down"
    RANDOM = "random"
    RING_ALL = "ring_all"


class EmptyCondition(StrEnum):
    """An agent condition that makes a queue count the agent as absent.

    Used by ``join_empty`` and ``leave_when_empty`` in the way Asterisk's ``joinempty`` and
    ``leavewhenempty`` factors are: when every agent that could serve an interaction is in
    one of the listed conditions, the queue is empty for it.
    """

    LOGGED_OUT = "logged_out"
    NOT_READY = "not_ready"
    WRAP_UP = "wrap_up"
    BUSY = "busy"
    RESERVED = "reserved"


class EscalationStep(BaseModel):
    """A relaxation of an interaction's requirements after it has waited ``after`` seconds.

    Steps apply cumulatively in the order of ``after``: a skill dropped at step 1 stays
    dropped at step 2.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    after: float = Field(gt=0)
    drop_skills: list[str] = Field(default_factory=list)
    min_levels: dict[str, int] = Field(default_factory=dict)
    add_queues: list[str] = Field(default_factory=list)
    add_groups: list[str] = Field(default_factory=list)
    drop_language: bool = False
    drop_preferred_skills: bool = False

    @model_validator(mode="after")
    def _levels_in_range(self) -> EscalationStep:
        _check_levels(self.min_levels, "min_levels")
        return self


class AnnouncementSettings(BaseModel):
    """Announcements the connector plays to a waiting caller; the router only carries them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    position: bool = True
    estimated_wait: bool = True
    periodic: list[str] = Field(default_factory=list)
    frequency: float = Field(default=60.0, gt=0)


class QueueSettings(BaseModel):
    """One queue: its routing strategy, service-level goal, limits and escalation steps."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    strategy: Strategy = Strategy.LONGEST_IDLE
    weight: int = Field(default=0, ge=0)
    skills: dict[str, int] = Field(default_factory=dict)
    groups: list[str] = Field(default_factory=list)
    service_level_threshold: float = Field(default=20.0, ge=0)
    service_level_target: float = Field(default=0.8, ge=0, le=1)
    short_abandon_threshold: float = Field(default=5.0, ge=0)
    max_length: int | None = Field(default=None, ge=0)
    max_wait: float | None = Field(default=None, gt=0)
    overflow_target: str | None = None
    join_empty: list[EmptyCondition] = Field(default_factory=list)
    leave_when_empty: list[EmptyCondition] = Field(default_factory=list)
    ring_timeout: float = Field(default=20.0, gt=0)
    wrapup: float = Field(default=10.0, ge=0)
    priority_aging: float | None = Field(default=None, gt=0)
    reoffer_delay: float = Field(default=10.0, ge=0)
    default_handle_time: float = Field(default=180.0, gt=0)
    escalation: list[EscalationStep] = Field(default_factory=list)
    announcements: AnnouncementSettings = Field(default_factory=AnnouncementSettings)

    @model_validator(mode="after")
    def _consistent(self) -> QueueSettings:
        _check_levels(self.skills, "skills")
        if self.max_wait is not None and not self.overflow_target:
            raise ValueError(
                f"max_wait is {self.max_wait} s but overflow_target is missing; "
                "name the queue or destination that takes interactions after max_wait"
            )
        times = [step.after for step in self.escalation]
        if times != sorted(set(times)):
            raise ValueError(
                f"escalation steps must have strictly increasing 'after' values, got {times}"
            )
        return self


def _default_capacity() -> dict[Channel, int]:
    return {"voice": 1, "chat": 3, "email": 5}


class AgentSettings(BaseModel):
    """One agent: what they can handle, where their phone is, and how they take work.

    ``capacity`` counts simultaneous interactions per channel. With ``voice_exclusive`` a
    voice interaction excludes any other work. ``order`` ranks agents for top-down routing
    (lowest first). ``languages`` restricts the agent to interactions in those languages
    or with none; an empty list means every language. ``wrapup`` overrides the queue's
    wrap-up time. ``endpoint`` (phone number, SIP URI or Twilio Client identity) and
    ``auto_accept`` are read by the engine when it connects the agent's phone.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = ""
    skills: dict[str, int] = Field(default_factory=dict)
    languages: list[str] = Field(default_factory=list)
    queues: list[str] = Field(default_factory=list)
    groups: list[str] = Field(default_factory=list)
    capacity: dict[Channel, int] = Field(default_factory=_default_capacity)
    voice_exclusive: bool = True
    order: int = 0
    endpoint: str = ""
    auto_accept: bool = False
    wrapup: float | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _consistent(self) -> AgentSettings:
        _check_levels(self.skills, "skills")
        for channel, slots in self.capacity.items():
            if slots < 0:
                raise ValueError(f"capacity for {channel} is {slots}; use 0 or more")
        return self


class AcdSettings(BaseModel):
    """The ``acd:`` section: queues, agents, not-ready reason codes and statistics."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    queues: dict[str, QueueSettings] = Field(default_factory=lambda: {"default": QueueSettings()})
    agents: dict[str, AgentSettings] = Field(default_factory=dict)
    reason_codes: list[str] = Field(
        default_factory=lambda: ["break", "lunch", "meeting", "training", "missed"]
    )
    missed_offers_before_not_ready: int = Field(default=3, ge=0)
    missed_reason_code: str = "missed"
    interval: Literal[900, 1800, 3600] = 900

    @model_validator(mode="after")
    def _references_exist(self) -> AcdSettings:
        for agent_id, agent in self.agents.items():
            unknown = [queue for queue in agent.queues if queue not in self.queues]
            if unknown:
                raise ValueError(
                    f"agent {agent_id!r} lists unknown queues {unknown}; "
                    f"define them under acd.queues (known: {sorted(self.queues)})"
                )
        for queue_id, queue in self.queues.items():
            for step in queue.escalation:
                unknown = [name for name in step.add_queues if name not in self.queues]
                if unknown:
                    raise ValueError(
                        f"queue {queue_id!r} escalates to unknown queues {unknown}; "
                        f"define them under acd.queues (known: {sorted(self.queues)})"
                    )
        if self.missed_reason_code not in self.reason_codes:
            raise ValueError(
                f"missed_reason_code {self.missed_reason_code!r} is not in reason_codes "
                f"{self.reason_codes}; add it there"
            )
        return self


def _check_levels(levels: dict[str, int], field: str) -> None:
    for skill, level in levels.items():
        if not 1 <= level <= 10:
            raise ValueError(f"{field}: level {level} for skill {skill!r} is outside 1-10")
