"""Skill profiles: the router's index of waiting interactions and idle agents.

A profile is one combination of requirements (queue, channel, required skills with
minimum levels, preferred skills, language, the agent queues and groups allowed, a sticky
agent) under one set of queue rules. Interactions with the same profile wait in one heap,
and the agents that could serve the profile wait in another, so a routing decision looks
at heap heads instead of scanning every agent or every interaction.

Both heaps delete lazily: an entry carries the version its record had when it was pushed,
and an entry whose record has moved on is discarded when it reaches the top or when the
heap is compacted.
"""

from __future__ import annotations

import heapq
import random
from dataclasses import dataclass, field, replace

from acd.model import AgentRecord, InteractionRecord, InteractionStatus, QueueRules
from acd.settings import AgentSettings, EscalationStep, Strategy

WaitingEntry = tuple[float, float, int, int, InteractionRecord]
IdleEntry = tuple[tuple[float, ...], int, int, AgentRecord]

_COMPACT_SLACK = 64

_WAITING = InteractionStatus.WAITING
_LONGEST_IDLE = Strategy.LONGEST_IDLE
_RING_ALL = Strategy.RING_ALL
heappop = heapq.heappop


@dataclass(frozen=True, slots=True)
class Requirements:
    """The membership, skills and language an agent needs for an interaction at its current step."""

    queue: str
    channel: str
    skills: tuple[tuple[str, int], ...] = ()
    preferred: tuple[tuple[str, int], ...] = ()
    language: str | None = None
    queues: frozenset[str] = frozenset()
    groups: frozenset[str] = frozenset()
    agent_id: str | None = None
    # The hash of the fields above, computed once: the router hashes requirements on
    # every arrival to find their profile.
    _hash: int = field(default=0, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        fields = (
            self.queue,
            self.channel,
            self.skills,
            self.preferred,
            self.language,
            self.queues,
            self.groups,
            self.agent_id,
        )
        object.__setattr__(self, "_hash", hash(fields))

    def __hash__(self) -> int:
        return self._hash

    def relaxed(self, step: EscalationStep) -> Requirements:
        """Return these requirements with escalation ``step`` applied."""
        skills = dict(self.skills)
        for skill in step.drop_skills:
            skills.pop(skill, None)
        for skill, level in step.min_levels.items():
            if skill in skills:
                skills[skill] = min(skills[skill], level)
        return Requirements(
            queue=self.queue,
            channel=self.channel,
            skills=tuple(sorted(skills.items())),
            preferred=() if step.drop_preferred_skills else self.preferred,
            language=None if step.drop_language else self.language,
            queues=self.queues | frozenset(step.add_queues),
            groups=self.groups | frozenset(step.add_groups),
            agent_id=self.agent_id,
        )

    def without_sticky_agent(self) -> Requirements:
        return replace(self, agent_id=None)


def ineligibility(agent_id: str, agent: AgentSettings, needs: Requirements) -> str | None:
    """Return why the agent's configuration rules it out for ``needs``, or None.

    Only configuration counts here (membership, skills, language, channel capacity); the
    agent's status and current work are checked by the router.
    """
    if needs.agent_id is not None:
        return None if agent_id == needs.agent_id else f"not the preferred agent {needs.agent_id}"
    member = not needs.queues.isdisjoint(agent.queues) or not needs.groups.isdisjoint(agent.groups)
    if not member:
        return f"not in the queue {needs.queue}"
    for skill, minimum in needs.skills:
        level = agent.skills.get(skill)
        if level is None:
            return f"missing skill {skill}"
        if level < minimum:
            return f"level too low for {skill} ({level} < {minimum})"
    # An agent without a language list serves every language; a list restricts the agent.
    languages = agent.languages
    if needs.language is not None and languages and needs.language not in languages:
        return f"does not speak {needs.language}"
    if agent.capacity.get(needs.channel, 0) <= 0:  # type: ignore[call-overload]
        return f"no {needs.channel} capacity"
    return None


class Profile:
    """The waiting interactions and the idle agents of one set of requirements."""

    __slots__ = (
        "agents",
        "channel",
        "head_item",
        "head_rank",
        "idle",
        "key",
        "live",
        "needs",
        "neg_weight",
        "priority_aging",
        "rules",
        "strategy",
        "users",
        "waiting",
        "weight",
    )

    def __init__(self, needs: Requirements, rules: QueueRules) -> None:
        self.key = (needs, rules.generation)
        self.needs = needs
        self.rules = rules
        self.channel = needs.channel
        self.strategy = rules.settings.strategy
        self.weight = rules.settings.weight
        self.neg_weight = -float(self.weight)
        self.priority_aging = rules.settings.priority_aging
        self.agents: list[AgentRecord] = []
        self.waiting: list[WaitingEntry] = []
        self.idle: list[IdleEntry] = []
        self.live = 0
        self.users = 0
        # The router's rank of the head of ``waiting`` and that head, cached between
        # pushes and drops (None when unknown, and always None under priority aging).
        self.head_rank: tuple[float, float, float, int] | None = None
        self.head_item: InteractionRecord | None = None

    # Waiting interactions

    def push_waiting(self, interaction: InteractionRecord) -> None:
        """Add ``interaction``, whose ``profile`` the caller has set to this profile."""
        version = interaction.version + 1
        interaction.version = version
        self.head_rank = None
        primary, virtual_time, seq = interaction.sort_key
        heapq.heappush(self.waiting, (primary, virtual_time, seq, version, interaction))
        self.live += 1
        if len(self.waiting) > 2 * self.live + _COMPACT_SLACK:
            self.waiting = [item for item in self.waiting if _waiting_valid(item, self)]
            heapq.heapify(self.waiting)

    def drop_waiting(self, interaction: InteractionRecord) -> None:
        """Forget ``interaction`` (its heap entry goes stale and is discarded later)."""
        interaction.version += 1
        self.live -= 1
        self.head_rank = None

    def head(self) -> InteractionRecord | None:
        heap = self.waiting
        while heap:
            entry = heap[0]
            interaction = entry[4]
            if (
                interaction.version == entry[3]
                and interaction.profile is self
                and interaction.status is _WAITING
            ):
                return interaction
            heappop(heap)
        return None

    def best_for(self, agent_id: str, now: float) -> InteractionRecord | None:
        """Return the first waiting interaction in order that has not excluded the agent."""
        first = self.head()
        if first is None or not first.excluded or not first.is_excluded(agent_id, now):
            return first
        candidates = [item for item in self.waiting if _waiting_valid(item, self)]
        for entry in sorted(candidates):
            if not entry[4].is_excluded(agent_id, now):
                return entry[4]
        return None

    def ordered_waiting(self) -> list[InteractionRecord]:
        entries = sorted(item for item in self.waiting if _waiting_valid(item, self))
        return [entry[4] for entry in entries]

    # Idle agents

    def push_idle(self, agent: AgentRecord, rng: random.Random) -> None:
        if self.strategy is _LONGEST_IDLE:
            key: tuple[float, ...] = (agent.free_since,)
        else:
            key = self._strategy_key(agent, rng)
        heapq.heappush(self.idle, (key, agent.order_seq, agent.version, agent))
        if len(self.idle) > 2 * len(self.agents) + _COMPACT_SLACK:
            self.compact_idle()

    def compact_idle(self) -> None:
        self.idle = [item for item in self.idle if self._idle_valid(item)]
        heapq.heapify(self.idle)

    def pop_idle(self, interaction: InteractionRecord, now: float) -> list[AgentRecord]:
        """Remove and return the agents to offer ``interaction`` to, best first.

        Returns one agent, or every available agent for ring-all, or none. Agents that
        recently missed this interaction are skipped and stay in the heap.
        """
        chosen: list[AgentRecord] = []
        skipped: list[IdleEntry] = []
        ring_all = self.strategy is _RING_ALL
        heap = self.idle
        channel = self.channel
        excluded = interaction.excluded
        while heap:
            entry = heappop(heap)
            agent = entry[3]
            if agent.version != entry[2] or not agent.can_take(channel):
                continue
            if excluded and interaction.is_excluded(agent.agent_id, now):
                skipped.append(entry)
                continue
            chosen.append(agent)
            if not ring_all:
                break
        for entry in skipped:
            heapq.heappush(heap, entry)
        return chosen

    def has_idle(self, agent: AgentRecord) -> bool:
        return any(item[3] is agent and self._idle_valid(item) for item in self.idle)

    def _idle_valid(self, entry: IdleEntry) -> bool:
        agent = entry[3]
        return agent.version == entry[2] and agent.can_take(self.channel)

    def _strategy_key(self, agent: AgentRecord, rng: random.Random) -> tuple[float, ...]:
        strategy = self.strategy
        if strategy is Strategy.ROUND_ROBIN:
            return (agent.last_offered.get(self.needs.queue, -1), agent.settings.order)
        if strategy is Strategy.FEWEST_INTERACTIONS:
            return (agent.handled, agent.free_since)
        if strategy is Strategy.LEAST_TALK_TIME:
            return (agent.talk_time, agent.free_since)
        if strategy is Strategy.BEST_PROFICIENCY:
            return (-self._proficiency(agent), agent.free_since)
        if strategy is Strategy.TOP_DOWN:
            return (agent.settings.order,)
        if strategy is Strategy.RANDOM:
            return (rng.random(),)
        return (agent.free_since,)

    def _proficiency(self, agent: AgentRecord) -> int:
        levels = agent.settings.skills
        total = sum(levels.get(skill, 0) for skill, _ in self.needs.skills)
        return total + sum(levels.get(skill, 0) for skill, _ in self.needs.preferred)


def _waiting_valid(entry: WaitingEntry, profile: Profile) -> bool:
    interaction = entry[4]
    return (
        interaction.version == entry[3]
        and interaction.profile is profile
        and interaction.status is InteractionStatus.WAITING
    )
