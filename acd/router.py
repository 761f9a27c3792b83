"""The ACD router: decides which waiting interaction goes to which agent.

The router is pure. It reads time only from the injected clock, never sleeps, starts no
task and does no I/O, so the live engine (``santral/acd_service.py``) and the simulator
run the same code. Every input is a method call that returns the decisions it caused, in
order. The router keeps timers of its own (offer timeouts, wrap-up ends, escalation steps,
maximum waits, sticky-agent timeouts, re-offer delays): the caller asks ``next_timer()``
when the next one is due and calls ``tick()`` at or after that time.

Routing rules, in short:

- waiting interactions are ordered by priority, then by time waited (enqueue time minus
  any head start). With ``priority_aging`` an interaction gains one priority point per
  ``priority_aging`` seconds waited;
- when an agent becomes free, it takes the best waiting interaction it can serve across
  all its queues: highest queue weight first, then highest priority, then longest wait;
- when an interaction arrives, the queue's strategy picks among the idle agents that can
  serve it (ring-all offers it to all of them, and the first to accept wins);
- an agent is offered one interaction at a time, and capacity counts per channel.

Inputs that name an unknown agent, interaction or offer raise ``AcdError`` subclasses and
leave the router unchanged.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable, Mapping
from itertools import count
from typing import Any

import structlog

from acd.decisions import (
    AgentStateChanged,
    AgentStatusChanged,
    Connected,
    Decision,
    Escalated,
    InteractionEnded,
    JoinRejected,
    Offer,
    OfferAccepted,
    OfferEnded,
    Overflow,
    Queued,
    WrapupEnded,
    WrapupStarted,
)
from acd.explain import explain_interaction
from acd.model import (
    AcdError,
    AgentRecord,
    AgentState,
    AgentStatus,
    InteractionRecord,
    InteractionStatus,
    OfferRecord,
    QueueRules,
    UnknownAgentError,
    UnknownInteractionError,
    UnknownOfferError,
    sequential_ids,
)
from acd.profiles import Profile, Requirements, ineligibility
from acd.settings import CHANNELS, AcdSettings, EmptyCondition
from acd.stats import Statistics, realtime_snapshot
from acd.views import AgentView, Explanation, InteractionView, QueueSnapshot, WaitingView
from santral.clock import Clock

log = structlog.get_logger(__name__)

_OFFER_TIMEOUT = 0
_WRAPUP_END = 1
_ESCALATION = 2
_MAX_WAIT = 3
_STICKY_END = 4
_REOFFER = 5

# Enum ``.value`` runs Python code in 3.11; the state transition reads these instead.
_STATE_NAMES = {state: state.value for state in AgentState}

# Enum members bound once: the hot paths compare against them on every decision.
_IDLE = AgentState.IDLE
_RESERVED = AgentState.RESERVED
_BUSY = AgentState.BUSY
_WRAP_UP = AgentState.WRAP_UP
_WAITING = InteractionStatus.WAITING
_OFFERED = InteractionStatus.OFFERED
_CONNECTED = InteractionStatus.CONNECTED
_ACCEPTED = InteractionStatus.ACCEPTED
_ENDED = InteractionStatus.ENDED
_AVAILABLE = AgentStatus.AVAILABLE

_IN_QUEUE = (InteractionStatus.WAITING, InteractionStatus.OFFERED, InteractionStatus.ACCEPTED)

Timer = tuple[float, int, int, Any, Any]

# The attributes of every interaction that arrives without any, shared: the router never
# changes an interaction's attributes, and one empty dict each would be garbage to track.
_NO_ATTRIBUTES: dict[str, Any] = {}

heappop = heapq.heappop

# Unused profiles are kept for the next arrival with the same requirements (saving the
# scan for eligible agents) while there are at most this many profiles.
_KEPT_PROFILES = 5_000

# Distinct requirement sets remembered between arrivals; the cache is cleared at this size.
_NEEDS_CACHE_SIZE = 10_000


class Router:
    """Skill-based routing of voice calls, chats and emails to agents.

    ``rng`` drives the random strategy (seed it for repeatable runs); ``ids`` returns a new
    offer id on each call (default ``offer-1``, ``offer-2``…). With ``record_statistics``
    the router feeds its own decisions to ``self.stats``.
    """

    def __init__(
        self,
        settings: AcdSettings,
        clock: Clock,
        rng: random.Random | None = None,
        ids: Callable[[], str] | None = None,
        *,
        record_statistics: bool = True,
    ) -> None:
        self._clock = clock
        self._rng = rng or random.Random()
        self._ids = ids or sequential_ids()
        self._settings = settings
        self._generation = 0
        self._rules: dict[str, QueueRules] = {}
        self._agents: dict[str, AgentRecord] = {}
        self._interactions: dict[str, InteractionRecord] = {}
        self._offers: dict[str, OfferRecord] = {}
        self._profiles: dict[tuple[Requirements, int], Profile] = {}
        self._members: dict[str, list[AgentRecord]] = {}
        self._groups: dict[str, list[AgentRecord]] = {}
        self._in_queue: dict[str, int] = {}
        self._timers: list[Timer] = []
        self._needs_cache: dict[tuple[Any, ...], Requirements] = {}
        self._sequence = count()
        self._offer_counter = 0
        self.stats: Statistics | None = Statistics(settings) if record_statistics else None
        self._apply_settings(settings)

    # Interactions

    def add_interaction(
        self,
        interaction_id: str,
        queue: str,
        channel: str = "voice",
        *,
        skills: Mapping[str, int] | None = None,
        preferred_skills: Mapping[str, int] | None = None,
        language: str | None = None,
        priority: int = 0,
        attributes: Mapping[str, Any] | None = None,
        head_start: float = 0.0,
        position: int | None = None,
        preferred_agent: str | None = None,
        sticky_timeout: float = 0.0,
    ) -> list[Decision]:
        """Queue an interaction; return ``Queued`` (and perhaps an ``Offer``) or ``JoinRejected``.

        ``skills`` are required skills with minimum levels (default: the queue's
        ``skills``); ``preferred_skills`` only rank agents under ``best_proficiency``.
        ``head_start`` (seconds) counts as time already waited. ``position`` (from 1)
        places the interaction among waiting interactions of the same priority, never
        ahead of a higher priority. ``preferred_agent`` is the only agent offered the
        interaction for ``sticky_timeout`` seconds. Raises ``AcdError`` for an unknown
        queue, channel or preferred agent, a position below 1, or an interaction id already
        in the ACD; nothing is queued then.
        """
        rules = self._queue_rules(queue)
        if channel not in CHANNELS:
            raise AcdError(f"unknown channel {channel!r}; use one of {list(CHANNELS)}")
        if interaction_id in self._interactions:
            raise AcdError(f"interaction {interaction_id!r} is already in the ACD")
        if position is not None and position < 1:
            raise AcdError(f"position must be 1 or more, got {position}")
        if preferred_agent is not None:
            self._agent(preferred_agent)
        needs = self._requirements(rules, channel, skills, preferred_skills, language)
        out: list[Decision] = []
        if rules.settings.max_length is not None or rules.settings.join_empty:
            refusal = self._join_refusal(rules, needs)
            if refusal is not None:
                out.append(JoinRejected(interaction_id, queue, refusal))
                return self._finish(out)

        now = self._clock.now()
        interaction = self._create(
            interaction_id, rules, needs, channel, priority, attributes, head_start, now
        )
        if position is not None:
            self._place_at(interaction, position)
        if preferred_agent is not None and sticky_timeout > 0:
            self._make_sticky(interaction, preferred_agent, sticky_timeout)
        out.append(Queued(interaction_id, queue, channel, priority))
        self._enqueue(interaction, out, now)
        if self.stats is not None:
            self.stats.record_all(out, now)
        return out

    def remove_interaction(
        self,
        interaction_id: str,
        reason: str = "caller_hangup",
        outcome: str = "abandoned_in_queue",
    ) -> list[Decision]:
        """Take an interaction out because the caller hung up or the chat or email was withdrawn.

        Waiting or offered: open offers end with ``reason``, their agents are freed without
        wrap-up, and ``InteractionEnded(outcome)`` follows: ``abandoned_in_queue`` by
        default, or ``withdrawn`` for work the engine itself took back (a consultation no
        agent took), which queue statistics do not count as an abandon. Connected: the same
        as ``end_interaction``.
        """
        interaction = self._interaction(interaction_id)
        if interaction.status is _CONNECTED:
            return self.end_interaction(interaction_id)
        out: list[Decision] = []
        freed = self._end_all_offers(interaction, reason, out)
        self._leave(interaction, outcome, out)
        for agent in freed:
            self._dispatch_agent(agent, out)
        return self._finish(out)

    def end_interaction(self, interaction_id: str) -> list[Decision]:
        """End a connected interaction: ``InteractionEnded(answered)``, then wrap-up.

        Wrap-up lasts the agent's ``wrapup`` or else the queue's; a zero wrap-up frees the
        agent at once. Raises ``AcdError`` if the interaction is not connected.
        """
        interaction = self._interactions.get(interaction_id)
        if interaction is None:
            raise UnknownInteractionError(interaction_id)
        agent = interaction.agent
        if interaction.status is not _CONNECTED or agent is None:
            raise AcdError(
                f"interaction {interaction_id!r} is {interaction.status}, not connected; "
                "use remove_interaction for an interaction that is still in the queue"
            )
        now = self._clock.now()
        out: list[Decision] = []
        # Free the agent's slot for the interaction and count its talk time.
        channel = interaction.channel
        items = agent.active.get(channel)
        if items is not None:
            items.discard(interaction)
            if not items:
                del agent.active[channel]
        agent.handled += 1
        agent.talk_time += now - interaction.connected_at
        self._forget(interaction)
        out.append(
            InteractionEnded(
                interaction_id,
                "answered",
                interaction.queue,
                interaction.channel,
                interaction.connected_at - interaction.enqueued_at,
                agent.agent_id,
            )
        )
        self._start_wrapup(agent, interaction, now, out)
        if self.stats is not None:
            self.stats.record_all(out, now)
        return out

    # Offers

    def accept(self, offer_id: str, *, connect: bool = False) -> list[Decision]:
        """Accept an offer for its agent: ``OfferAccepted``; other ring-all offers end.

        The engine then connects the agent and calls ``connected``; with ``connect=True``
        the router connects at once (chat, email, the simulator). Raises
        ``UnknownOfferError`` if the offer is not open or was already accepted.
        """
        offer = self._offers.get(offer_id)
        if offer is None or offer.accepted:
            raise UnknownOfferError(offer_id)
        out: list[Decision] = []
        interaction = offer.interaction
        offer.accepted = True
        interaction.status = _ACCEPTED
        offers = interaction.offers
        others = [other for other in offers if other is not offer] if len(offers) > 1 else []
        for other in others:
            self._end_offer(other, "taken_elsewhere", out)
        out.append(OfferAccepted(offer_id, interaction.interaction_id, offer.agent.agent_id))
        for other in others:
            self._dispatch_agent(other.agent, out)
        if not connect:
            return self._finish(out)
        now = self._clock.now()
        self._connect(offer, out, now)
        if self.stats is not None:
            self.stats.record_all(out, now)
        return out

    def connected(self, offer_id: str) -> list[Decision]:
        """Mark an accepted offer connected (the agent answered): ``Connected``.

        Raises ``UnknownOfferError`` if the offer is not open or not yet accepted.
        """
        offer = self._open_offer(offer_id)
        if not offer.accepted:
            raise UnknownOfferError(offer_id)
        out: list[Decision] = []
        self._connect(offer, out, self._clock.now())
        return self._finish(out)

    def reject(self, offer_id: str) -> list[Decision]:
        """Reject an offer for its agent; the same as ``miss(offer_id, "rejected")``."""
        return self.miss(offer_id, "rejected")

    def miss(self, offer_id: str, reason: str = "timeout") -> list[Decision]:
        """End an offer the agent did not take (``rejected``, ``timeout``, ``no_answer``, ``busy``).

        Works before and after ``accept`` (the agent's phone may fail to answer). The
        interaction goes back to its original place with its enqueue time, the agent is not
        offered it again for the queue's ``reoffer_delay``, and after
        ``missed_offers_before_not_ready`` consecutive misses the agent is set not ready
        with the ``missed_reason_code``.
        """
        offer = self._open_offer(offer_id)
        out: list[Decision] = []
        self._miss(offer, reason, out)
        return self._finish(out)

    def _miss(self, offer: OfferRecord, reason: str, out: list[Decision]) -> None:
        now = self._clock.now()
        interaction, agent = offer.interaction, offer.agent
        self._end_offer(offer, reason, out)
        self._exclude(interaction, agent, now)
        agent.missed += 1
        if not interaction.offers:
            self._requeue(interaction, out)
        limit = self._settings.missed_offers_before_not_ready
        if limit and agent.missed >= limit and agent.status is _AVAILABLE:
            log.info("agent_not_ready_after_misses", agent_id=agent.agent_id, misses=agent.missed)
            self._set_status(agent, AgentStatus.NOT_READY, self._settings.missed_reason_code, out)
        else:
            self._dispatch_agent(agent, out)

    # Agents

    def set_agent_status(
        self, agent_id: str, status: AgentStatus | str, reason_code: str = ""
    ) -> list[Decision]:
        """Set an agent's status: ``logged_out``, ``available`` or ``not_ready``.

        ``reason_code`` must be one of ``reason_codes`` (or empty) for ``not_ready``. Leaving
        ``available`` cancels an offer that is still ringing (it returns to the queue);
        connected interactions continue. Raises ``AcdError`` for an unknown status or
        reason code.
        """
        agent = self._agent(agent_id)
        new = _parse_status(status)
        known = self._settings.reason_codes
        if new is AgentStatus.NOT_READY and reason_code and reason_code not in known:
            raise AcdError(
                f"unknown reason code {reason_code!r}; use one of {known} "
                "or add it to acd.reason_codes"
            )
        out: list[Decision] = []
        self._set_status(agent, new, reason_code if new is AgentStatus.NOT_READY else "", out)
        return self._finish(out)

    def end_wrapup(self, agent_id: str) -> list[Decision]:
        """End the agent's wrap-up now; return no decision if the agent is not in wrap-up."""
        agent = self._agent(agent_id)
        out: list[Decision] = []
        if agent.wrapup_until is not None:
            self._stop_wrapup(agent, out)
        return self._finish(out)

    def extend_wrapup(self, agent_id: str, seconds: float) -> list[Decision]:
        """Give the agent ``seconds`` more wrap-up; raise ``AcdError`` if not in wrap-up."""
        agent = self._agent(agent_id)
        if agent.wrapup_until is None:
            raise AcdError(f"agent {agent_id!r} is not in wrap-up, so it cannot be extended")
        if seconds <= 0:
            raise AcdError(f"wrap-up extension must be positive seconds, got {seconds}")
        agent.wrapup_until += seconds
        self._schedule(agent.wrapup_until, _WRAPUP_END, agent, agent.wrapup_until)
        return []

    # Timers

    def next_timer(self) -> float | None:
        """Return when the next router timer is due, or None when none is pending."""
        timers = self._timers
        while timers and not self._timer_valid(timers[0]):
            heapq.heappop(timers)
        return timers[0][0] if timers else None

    def tick(self) -> list[Decision]:
        """Run every timer due at ``clock.now()`` and return the decisions they caused."""
        now = self._clock.now()
        out: list[Decision] = []
        timers = self._timers
        for _ in range(len(timers)):
            if not timers or timers[0][0] > now:
                break
            timer = heapq.heappop(timers)
            if self._timer_valid(timer):
                self._fire(timer, now, out)
        return self._finish(out)

    # Configuration

    def reload(self, settings: AcdSettings) -> list[Decision]:
        """Apply new settings: new queue rules for new arrivals, new agent configuration.

        Interactions already waiting keep the queue rules they joined with. Agents removed
        from the configuration are logged out; their connected interactions continue.
        """
        out: list[Decision] = []
        for agent_id, agent in list(self._agents.items()):
            if agent_id not in settings.agents:
                self._set_status(agent, AgentStatus.LOGGED_OUT, "", out)
                if agent.active_count() == 0 and agent.wrapup_until is None:
                    del self._agents[agent_id]
        self._settings = settings
        self._apply_settings(settings)
        if self.stats is not None:
            self.stats.update_settings(settings)
        for agent in list(self._agents.values()):
            self._dispatch_agent(agent, out)
        return self._finish(out)

    # Lookups

    def agent(self, agent_id: str) -> AgentView:
        """Return the agent's status, state, open offer and interactions."""
        agent = self._agent(agent_id)
        return AgentView(
            agent_id=agent_id,
            status=agent.status.value,
            reason=agent.reason,
            state=agent.state.value,
            offer_id=agent.offer.offer_id if agent.offer is not None else None,
            interactions=tuple(sorted(item.interaction_id for item in agent.interactions())),
            wrapup_until=agent.wrapup_until,
            missed=agent.missed,
        )

    def agents(self) -> list[str]:
        return list(self._agents)

    def interaction(self, interaction_id: str) -> InteractionView:
        """Return where an interaction is: status, queue, agent and open offers."""
        item = self._interaction(interaction_id)
        return InteractionView(
            interaction_id=interaction_id,
            queue=item.queue,
            channel=item.channel,
            status=item.status.value,
            priority=item.priority,
            enqueued_at=item.enqueued_at,
            step=item.step,
            agent_id=item.agent.agent_id if item.agent is not None else None,
            offer_ids=tuple(offer.offer_id for offer in item.offers),
            attributes=dict(item.attributes),
        )

    def interactions(self) -> list[str]:
        return list(self._interactions)

    def offer(self, offer_id: str) -> Offer:
        """Return an open offer; raise ``UnknownOfferError`` if it is not open."""
        record = self._open_offer(offer_id)
        return self._offer_decision(record)

    def explain(self, interaction_id: str) -> Explanation:
        """Explain an interaction's routing: its step, next step and each agent's eligibility."""
        item = self._interaction(interaction_id)
        return explain_interaction(
            item, self._agents.values(), self._next_step_at(item), self._clock.now()
        )

    def snapshot(self) -> dict[str, QueueSnapshot]:
        """Return real-time statistics per queue (see ``acd.stats.realtime_snapshot``)."""
        now = self._clock.now()
        waiting = self._waiting_by_queue(now)
        return {
            name: realtime_snapshot(
                name,
                rules.settings,
                waiting.get(name, []),
                self._members_of(name),
                self.stats,
                now,
            )
            for name, rules in self._rules.items()
        }

    # Internals: setup

    def _apply_settings(self, settings: AcdSettings) -> None:
        self._generation += 1
        self._needs_cache.clear()
        self._rules = {
            name: QueueRules(name, queue, self._generation)
            for name, queue in settings.queues.items()
        }
        for position, (agent_id, agent_settings) in enumerate(settings.agents.items()):
            record = self._agents.get(agent_id)
            if record is None:
                self._agents[agent_id] = AgentRecord(agent_id, agent_settings, position)
            else:
                record.configure(agent_settings)
                record.order_seq = position
        self._index_members()
        for agent in self._agents.values():
            agent.profiles = []
            agent.version += 1
        for key, profile in list(self._profiles.items()):
            if profile.users == 0 and profile.rules.generation != self._generation:
                del self._profiles[key]
            else:
                self._fill_profile(profile)

    def _index_members(self) -> None:
        self._members = {}
        self._groups = {}
        for agent_id, agent in self._agents.items():
            if agent_id not in self._settings.agents:
                continue
            for queue in agent.settings.queues:
                self._members.setdefault(queue, []).append(agent)
            for group in agent.settings.groups:
                self._groups.setdefault(group, []).append(agent)

    def _members_of(self, queue: str) -> list[AgentRecord]:
        return self._members.get(queue, [])

    def _profile(self, needs: Requirements, rules: QueueRules) -> Profile:
        key = (needs, rules.generation)
        profile = self._profiles.get(key)
        if profile is None:
            profile = Profile(needs, rules)
            self._profiles[key] = profile
            self._fill_profile(profile)
        return profile

    def _fill_profile(self, profile: Profile) -> None:
        """Find the agents configured to serve ``profile`` and index the free ones."""
        needs = profile.needs
        candidates: dict[str, AgentRecord] = {}
        if needs.agent_id is not None:
            sticky = self._agents.get(needs.agent_id)
            if sticky is not None:
                candidates[sticky.agent_id] = sticky
        else:
            for queue in needs.queues:
                candidates.update((a.agent_id, a) for a in self._members.get(queue, ()))
            for group in needs.groups:
                candidates.update((a.agent_id, a) for a in self._groups.get(group, ()))
        profile.agents = []
        profile.idle = []
        for agent in candidates.values():
            if ineligibility(agent.agent_id, agent.settings, needs) is None:
                profile.agents.append(agent)
                agent.profiles.append(profile)
                if agent.can_take(profile.channel):
                    profile.push_idle(agent, self._rng)

    def _set_profile(self, interaction: InteractionRecord, profile: Profile) -> None:
        old = interaction.profile
        if old is profile:
            return
        interaction.profile = profile
        profile.users += 1
        if old is not None:
            self._release_profile(old)

    def _release_profile(self, profile: Profile) -> None:
        """Drop a profile no interaction uses if it is retired, sticky, or one too many."""
        profile.users -= 1
        if profile.users:
            return
        retired = profile.rules.generation != self._generation
        crowded = len(self._profiles) > _KEPT_PROFILES
        if retired or crowded or profile.needs.agent_id is not None:
            del self._profiles[profile.key]
            for agent in profile.agents:
                agent.profiles.remove(profile)

    # Internals: joining

    def _queue_rules(self, queue: str) -> QueueRules:
        rules = self._rules.get(queue)
        if rules is None:
            known = sorted(self._rules)
            raise AcdError(f"unknown queue {queue!r}; define it under acd.queues (known: {known})")
        return rules

    def _requirements(
        self,
        rules: QueueRules,
        channel: str,
        skills: Mapping[str, int] | None,
        preferred: Mapping[str, int] | None,
        language: str | None,
    ) -> Requirements:
        required = tuple(sorted((rules.settings.skills if skills is None else skills).items()))
        wanted = tuple(sorted(preferred.items())) if preferred else ()
        key = (rules, channel, required, wanted, language or None)
        needs = self._needs_cache.get(key)
        if needs is not None:
            return needs
        for skill, level in required + wanted:
            if not 1 <= level <= 10:
                raise AcdError(f"skill {skill!r} has level {level}; levels run from 1 to 10")
        needs = Requirements(
            queue=rules.name,
            channel=channel,
            skills=required,
            preferred=wanted,
            language=language or None,
            queues=frozenset((rules.name,)),
            groups=frozenset(rules.settings.groups),
        )
        if len(self._needs_cache) >= _NEEDS_CACHE_SIZE:
            self._needs_cache.clear()
        self._needs_cache[key] = needs
        return needs

    def _join_refusal(self, rules: QueueRules, needs: Requirements) -> str | None:
        limit = rules.settings.max_length
        if limit is not None and self._in_queue.get(rules.name, 0) >= limit:
            return "queue_full"
        conditions = rules.settings.join_empty
        if conditions and not self._anyone_present(self._profile(needs, rules), conditions):
            return "queue_empty"
        return None

    def _anyone_present(self, profile: Profile, conditions: list[EmptyCondition]) -> bool:
        absent = {condition.value for condition in conditions}
        return any(
            agent.status.value not in absent and agent.state.value not in absent
            for agent in profile.agents
        )

    def _create(
        self,
        interaction_id: str,
        rules: QueueRules,
        needs: Requirements,
        channel: str,
        priority: int,
        attributes: Mapping[str, Any] | None,
        head_start: float,
        now: float,
    ) -> InteractionRecord:
        interaction = InteractionRecord(
            interaction_id,
            channel,
            priority,
            dict(attributes) if attributes else _NO_ATTRIBUTES,
            now,
            rules,
            needs,
            next(self._sequence),
        )
        settings = rules.settings
        if settings.priority_aging is None:
            # ``_sort_key`` without aging, inlined.
            interaction.sort_key = (-float(priority), now - head_start, interaction.seq)
        else:
            interaction.sort_key = self._sort_key(interaction, now - head_start)
        self._interactions[interaction_id] = interaction
        self._in_queue[rules.name] = self._in_queue.get(rules.name, 0) + 1
        profile = self._profile(needs, rules)
        interaction.profile = profile
        profile.users += 1
        if settings.escalation or settings.max_wait is not None:
            self._schedule_first_timers(interaction, now)
        return interaction

    def _sort_key(
        self, interaction: InteractionRecord, virtual_time: float
    ) -> tuple[float, float, int]:
        """Return the heap key: time-independent, so heaps never need re-sorting.

        With aging the effective priority is ``priority + waited / aging``; ordering by
        ``virtual_time / aging - priority`` gives the same order at every instant.
        """
        aging = interaction.rules.settings.priority_aging
        primary = -float(interaction.priority)
        if aging is not None:
            primary = virtual_time / aging - interaction.priority
        return (primary, virtual_time, interaction.seq)

    def _place_at(self, interaction: InteractionRecord, position: int) -> None:
        peers = sorted(
            other.sort_key[1]
            for other in self._interactions.values()
            if other is not interaction
            and other.status is _WAITING
            and other.rules is interaction.rules
            and other.priority == interaction.priority
        )
        if position > len(peers):
            return
        later = peers[position - 1]
        earlier = peers[position - 2] if position >= 2 else later - 1.0
        interaction.sort_key = self._sort_key(interaction, (earlier + later) / 2)

    def _make_sticky(self, interaction: InteractionRecord, agent_id: str, timeout: float) -> None:
        needs = interaction.requirements
        interaction.requirements = Requirements(
            needs.queue,
            needs.channel,
            needs.skills,
            needs.preferred,
            needs.language,
            needs.queues,
            needs.groups,
            agent_id,
        )
        interaction.sticky_until = interaction.enqueued_at + timeout
        self._set_profile(interaction, self._profile(interaction.requirements, interaction.rules))
        self._schedule(interaction.sticky_until, _STICKY_END, interaction, None)

    def _schedule_first_timers(self, interaction: InteractionRecord, now: float) -> None:
        settings = interaction.rules.settings
        if settings.escalation:
            self._schedule(now + settings.escalation[0].after, _ESCALATION, interaction, 0)
        if settings.max_wait is not None:
            self._schedule(now + settings.max_wait, _MAX_WAIT, interaction, interaction.rules)

    # Internals: matching

    def _enqueue(
        self, interaction: InteractionRecord, out: list[Decision], now: float | None = None
    ) -> None:
        profile = interaction.profile
        assert profile is not None
        interaction.status = _WAITING
        profile.push_waiting(interaction)
        if not profile.idle:
            return
        if now is None:
            now = self._clock.now()
        # ``_dispatch_interaction``, inlined: the interaction is waiting in ``profile``.
        for agent in profile.pop_idle(interaction, now):
            self._offer(interaction, agent, out, now)

    def _dispatch_interaction(self, interaction: InteractionRecord, out: list[Decision]) -> None:
        profile = interaction.profile
        if profile is None or interaction.status is not _WAITING:
            return
        now = self._clock.now()
        for agent in profile.pop_idle(interaction, now):
            self._offer(interaction, agent, out, now)

    def _dispatch_agent(
        self, agent: AgentRecord, out: list[Decision], now: float | None = None
    ) -> None:
        """Offer the agent the best interaction it can take, or index it as idle."""
        # The first checks of ``AgentRecord.free_channels``, inlined: most calls stop here.
        if agent.status is not _AVAILABLE or agent.offer is not None:
            return
        if agent.wrapup_until is not None:
            return
        free = agent.free_channels() if agent.active else agent.channels
        if not free:
            return
        if now is None:
            now = self._clock.now()
        best = self._best_waiting(agent, free, now)
        if best is not None:
            self._offer(best, agent, out, now)
            return
        agent.version += 1
        rng = self._rng
        for profile in agent.profiles:
            if profile.channel in free:
                profile.push_idle(agent, rng)

    def _best_waiting(
        self, agent: AgentRecord, free: tuple[str, ...], now: float
    ) -> InteractionRecord | None:
        best: InteractionRecord | None = None
        best_rank: tuple[float, float, float, int] | None = None
        agent_id = agent.agent_id
        for profile in agent.profiles:
            if not profile.live or profile.channel not in free:
                continue
            rank = profile.head_rank
            if rank is not None:
                # A cached head: read the interaction only if it ranks best so far.
                if best_rank is None or rank < best_rank:
                    best, best_rank = profile.head_item, rank
                continue
            candidate = self._profile_head(profile)
            if candidate is None:
                continue
            # Set by ``_profile_head`` unless priorities age or the head excludes agents.
            rank = profile.head_rank
            if rank is None:
                if candidate.excluded and candidate.is_excluded(agent_id, now):
                    candidate = profile.best_for(agent_id, now)
                    if candidate is None:
                        continue
                rank = _head_rank(profile, candidate, now)
            if best_rank is None or rank < best_rank:
                best, best_rank = candidate, rank
        return best

    @staticmethod
    def _profile_head(profile: Profile) -> InteractionRecord | None:
        """Return the profile's head like ``Profile.head``, and cache its rank if it is fixed."""
        heap = profile.waiting
        while heap:
            entry = heap[0]
            item = entry[4]
            if item.version == entry[3] and item.profile is profile and item.status is _WAITING:
                # A head that excludes agents is never cached, so a cached head needs no
                # exclusion check. Exclusions are added only while an interaction is out
                # of its heap, and its return to the heap resets the cache.
                if profile.priority_aging is None and not item.excluded:
                    profile.head_item = item
                    profile.head_rank = (profile.neg_weight, entry[0], entry[1], entry[2])
                return item
            heappop(heap)
        return None

    def _offer(
        self,
        interaction: InteractionRecord,
        agent: AgentRecord,
        out: list[Decision],
        now: float | None = None,
    ) -> None:
        if now is None:
            now = self._clock.now()
        offer = OfferRecord(self._ids(), interaction, agent, now)
        self._offers[offer.offer_id] = offer
        if interaction.status is _WAITING:
            profile = interaction.profile
            assert profile is not None
            # ``Profile.drop_waiting``, inlined.
            interaction.version += 1
            profile.live -= 1
            profile.head_rank = None
            interaction.status = _OFFERED
        interaction.offers.append(offer)
        agent.offer = offer
        self._offer_counter += 1
        agent.last_offered[interaction.queue] = self._offer_counter
        ring_timeout = interaction.rules.settings.ring_timeout
        timers = self._timers
        # Drop the timeouts of offers that were accepted or ended from the top, as
        # ``next_timer`` would: otherwise they keep ended interactions in memory until a
        # caller asks for the next timer. Such a timer can never become valid again.
        while timers:
            top = timers[0]
            if top[2] != _OFFER_TIMEOUT or (top[3].open and not top[3].accepted):
                break
            heappop(timers)
        heapq.heappush(
            timers, (now + ring_timeout, next(self._sequence), _OFFER_TIMEOUT, offer, None)
        )
        out.append(
            Offer(
                offer.offer_id,
                interaction.interaction_id,
                agent.agent_id,
                interaction.queue,
                interaction.channel,
                ring_timeout,
            )
        )
        self._refresh(agent, out)

    def _offer_decision(self, offer: OfferRecord) -> Offer:
        interaction = offer.interaction
        return Offer(
            offer.offer_id,
            interaction.interaction_id,
            offer.agent.agent_id,
            interaction.queue,
            interaction.channel,
            interaction.rules.settings.ring_timeout,
        )

    def _end_offer(self, offer: OfferRecord, reason: str, out: list[Decision]) -> None:
        offer.open = False
        del self._offers[offer.offer_id]
        interaction, agent = offer.interaction, offer.agent
        interaction.offers.remove(offer)
        agent.offer = None
        out.append(OfferEnded(offer.offer_id, interaction.interaction_id, agent.agent_id, reason))
        self._refresh(agent, out)

    def _end_all_offers(
        self, interaction: InteractionRecord, reason: str, out: list[Decision]
    ) -> list[AgentRecord]:
        freed = [offer.agent for offer in interaction.offers]
        for offer in list(interaction.offers):
            self._end_offer(offer, reason, out)
        return freed

    def _connect(self, offer: OfferRecord, out: list[Decision], now: float) -> None:
        interaction, agent = offer.interaction, offer.agent
        offer.open = False
        del self._offers[offer.offer_id]
        interaction.offers.clear()
        agent.offer = None
        channel = interaction.channel
        items = agent.active.get(channel)
        if items is None:
            agent.active[channel] = {interaction}
        else:
            items.add(interaction)
        agent.missed = 0
        interaction.status = _CONNECTED
        interaction.agent = agent
        interaction.connected_at = now
        self._in_queue[interaction.queue] -= 1
        out.append(
            Connected(
                interaction.interaction_id,
                agent.agent_id,
                offer.offer_id,
                interaction.queue,
                interaction.channel,
                now - interaction.enqueued_at,
            )
        )
        self._refresh(agent, out)
        self._dispatch_agent(agent, out, now)

    def _requeue(self, interaction: InteractionRecord, out: list[Decision]) -> None:
        """Put an interaction whose offers all ended back at its original place."""
        max_wait = interaction.rules.settings.max_wait
        if max_wait is not None and self._clock.now() >= interaction.enqueued_at + max_wait:
            self._overflow(interaction, out)
            return
        self._enqueue(interaction, out)

    def _exclude(self, interaction: InteractionRecord, agent: AgentRecord, now: float) -> None:
        delay = interaction.rules.settings.reoffer_delay
        if delay <= 0:
            return
        if interaction.excluded is None:
            interaction.excluded = {}
        interaction.excluded[agent.agent_id] = now + delay
        self._schedule(now + delay, _REOFFER, interaction, agent.agent_id)

    # Internals: leaving

    def _leave(
        self, interaction: InteractionRecord, outcome: str, out: list[Decision], target: str = ""
    ) -> None:
        if interaction.status is _WAITING and interaction.profile is not None:
            interaction.profile.drop_waiting(interaction)
        self._in_queue[interaction.queue] -= 1
        self._forget(interaction)
        waited = self._clock.now() - interaction.enqueued_at
        out.append(
            InteractionEnded(
                interaction.interaction_id,
                outcome,
                interaction.queue,
                interaction.channel,
                waited,
                overflow_target=target,
            )
        )

    def _forget(self, interaction: InteractionRecord) -> None:
        interaction.status = _ENDED
        interaction.version += 1
        del self._interactions[interaction.interaction_id]
        profile = interaction.profile
        if profile is not None:
            interaction.profile = None
            if profile.users > 1:
                # ``_release_profile`` for a profile that stays in use, inlined.
                profile.users -= 1
            else:
                self._release_profile(profile)

    def _overflow(self, interaction: InteractionRecord, out: list[Decision]) -> None:
        """Send an interaction to its queue's overflow target.

        A target queue that refuses the join ends the interaction as ``overflowed`` after
        ``JoinRejected``, so the engine still learns that it left this queue for good.
        """
        target = interaction.rules.settings.overflow_target or ""
        out.append(Overflow(interaction.interaction_id, interaction.queue, target))
        rules = self._rules.get(target)
        if rules is None:
            self._leave(interaction, "overflowed", out, target)
            return
        language = interaction.requirements.language
        needs = self._requirements(rules, interaction.channel, None, None, language)
        refusal = self._join_refusal(rules, needs)
        if refusal is not None:
            out.append(JoinRejected(interaction.interaction_id, target, refusal))
            self._leave(interaction, "overflowed", out, target)
            return
        if interaction.status is _WAITING and interaction.profile is not None:
            interaction.profile.drop_waiting(interaction)
        self._in_queue[interaction.queue] -= 1
        self._forget(interaction)
        moved = self._create(
            interaction.interaction_id,
            rules,
            needs,
            interaction.channel,
            interaction.priority,
            interaction.attributes,
            0.0,
            self._clock.now(),
        )
        out.append(Queued(moved.interaction_id, target, moved.channel, moved.priority))
        self._enqueue(moved, out)

    def _start_wrapup(
        self, agent: AgentRecord, interaction: InteractionRecord, now: float, out: list[Decision]
    ) -> None:
        duration = agent.settings.wrapup
        if duration is None:
            duration = interaction.rules.settings.wrapup
        if duration <= 0:
            self._refresh(agent, out)
            self._dispatch_agent(agent, out, now)
            return
        until = max(agent.wrapup_until or 0.0, now + duration)
        agent.wrapup_until = until
        agent.wrapup_interaction = interaction.interaction_id
        self._schedule(until, _WRAPUP_END, agent, until)
        out.append(WrapupStarted(agent.agent_id, interaction.interaction_id, duration))
        self._refresh(agent, out)
        self._check_leave_when_empty(agent, out)

    def _stop_wrapup(self, agent: AgentRecord, out: list[Decision]) -> None:
        agent.wrapup_until = None
        out.append(WrapupEnded(agent.agent_id, agent.wrapup_interaction))
        self._refresh(agent, out)
        self._dispatch_agent(agent, out)

    # Internals: agent status and state

    def _set_status(
        self, agent: AgentRecord, status: AgentStatus, reason: str, out: list[Decision]
    ) -> None:
        if agent.status is status and agent.reason == reason:
            return
        old = agent.status
        agent.status = status
        agent.reason = reason
        out.append(AgentStatusChanged(agent.agent_id, old.value, status.value, reason))
        log.info(
            "agent_status_changed",
            agent_id=agent.agent_id,
            old=old.value,
            new=status.value,
            reason=reason,
        )
        if status is _AVAILABLE:
            agent.missed = 0
            agent.free_since = self._clock.now()
            self._dispatch_agent(agent, out)
            return
        agent.version += 1
        offer = agent.offer
        if offer is not None and not offer.accepted:
            cause = "agent_logged_out" if status is AgentStatus.LOGGED_OUT else "agent_not_ready"
            self._end_offer(offer, cause, out)
            if not offer.interaction.offers:
                self._requeue(offer.interaction, out)
        self._check_leave_when_empty(agent, out)

    def _refresh(self, agent: AgentRecord, out: list[Decision]) -> None:
        """Derive the agent's state from its work; the one place that changes ``state``."""
        # The same derivation as ``AgentRecord.derive_state``, inlined for speed.
        if agent.offer is not None:
            new = _RESERVED
        elif agent.active:
            new = _BUSY
        elif agent.wrapup_until is not None:
            new = _WRAP_UP
        else:
            new = _IDLE
        old = agent.state
        if new is old:
            return
        agent.state = new
        if new is _IDLE:
            agent.free_since = self._clock.now()
        out.append(AgentStateChanged(agent.agent_id, _STATE_NAMES[old], _STATE_NAMES[new]))
        if new is _IDLE and agent.agent_id not in self._settings.agents:
            # Removed by a reload while working: forget the agent once the work is done.
            self._agents.pop(agent.agent_id, None)

    def _check_leave_when_empty(self, agent: AgentRecord, out: list[Decision]) -> None:
        """Remove waiting interactions of queues left with no agent that could serve them."""
        for profile in list(agent.profiles):
            conditions = profile.rules.settings.leave_when_empty
            if not conditions or not profile.live:
                continue
            if self._anyone_present(profile, conditions):
                continue
            for interaction in profile.ordered_waiting():
                self._leave(interaction, "removed", out)

    # Internals: timers

    def _schedule(self, when: float, kind: int, target: Any, token: Any) -> None:
        heapq.heappush(self._timers, (when, next(self._sequence), kind, target, token))

    def _timer_valid(self, timer: Timer) -> bool:
        _, _, kind, target, token = timer
        if kind == _OFFER_TIMEOUT:
            return bool(target.open and not target.accepted)
        if kind == _WRAPUP_END:
            return bool(target.wrapup_until == token)
        if kind == _ESCALATION:
            return target.status in _IN_QUEUE and target.step == token
        if kind == _MAX_WAIT:
            return target.status in _IN_QUEUE and target.rules is token
        if kind == _STICKY_END:
            return target.status in _IN_QUEUE and target.requirements.agent_id is not None
        return target.status is _WAITING

    def _fire(self, timer: Timer, now: float, out: list[Decision]) -> None:
        _, _, kind, target, token = timer
        if kind == _OFFER_TIMEOUT:
            self._miss(target, "timeout", out)
        elif kind == _WRAPUP_END:
            self._stop_wrapup(target, out)
        elif kind == _ESCALATION:
            self._escalate(target, token, now, out)
        elif kind == _MAX_WAIT:
            if target.status is _WAITING:
                self._overflow(target, out)
        elif kind == _STICKY_END:
            target.requirements = target.requirements.without_sticky_agent()
            self._move(target, out)
        else:
            self._dispatch_interaction(target, out)

    def _escalate(
        self, interaction: InteractionRecord, index: int, now: float, out: list[Decision]
    ) -> None:
        steps = interaction.rules.settings.escalation
        interaction.requirements = interaction.requirements.relaxed(steps[index])
        interaction.step = index + 1
        out.append(Escalated(interaction.interaction_id, interaction.queue, interaction.step))
        if index + 1 < len(steps):
            when = interaction.enqueued_at + steps[index + 1].after
            self._schedule(when, _ESCALATION, interaction, index + 1)
        self._move(interaction, out)

    def _move(self, interaction: InteractionRecord, out: list[Decision]) -> None:
        """Re-index an interaction whose requirements changed, keeping its place."""
        profile = self._profile(interaction.requirements, interaction.rules)
        waiting = interaction.status is _WAITING
        if waiting and interaction.profile is not None:
            interaction.profile.drop_waiting(interaction)
        self._set_profile(interaction, profile)
        if waiting:
            self._enqueue(interaction, out)

    def _next_step_at(self, interaction: InteractionRecord) -> float | None:
        steps = interaction.rules.settings.escalation
        if interaction.step < len(steps):
            return interaction.enqueued_at + steps[interaction.step].after
        return None

    # Internals: lookups

    def _agent(self, agent_id: str) -> AgentRecord:
        agent = self._agents.get(agent_id)
        if agent is None:
            raise UnknownAgentError(agent_id)
        return agent

    def _interaction(self, interaction_id: str) -> InteractionRecord:
        interaction = self._interactions.get(interaction_id)
        if interaction is None:
            raise UnknownInteractionError(interaction_id)
        return interaction

    def _open_offer(self, offer_id: str) -> OfferRecord:
        offer = self._offers.get(offer_id)
        if offer is None:
            raise UnknownOfferError(offer_id)
        return offer

    def _waiting_by_queue(self, now: float) -> dict[str, list[WaitingView]]:
        by_queue: dict[str, list[InteractionRecord]] = {}
        for interaction in self._interactions.values():
            if interaction.status in _IN_QUEUE:
                by_queue.setdefault(interaction.queue, []).append(interaction)
        return {
            queue: [
                WaitingView(
                    item.interaction_id, item.priority, now - item.enqueued_at, item.status.value
                )
                for item in sorted(items, key=lambda item: queue_order(item, now))
            ]
            for queue, items in by_queue.items()
        }

    def _finish(self, out: list[Decision]) -> list[Decision]:
        if self.stats is not None and out:
            self.stats.record_all(out, self._clock.now())
        return out


def queue_order(interaction: InteractionRecord, now: float) -> tuple[float, float, int]:
    """Return the sort key of an interaction's place in its queue at ``now``."""
    return (-_effective_priority(interaction, now), interaction.sort_key[1], interaction.seq)


def _head_rank(
    profile: Profile, interaction: InteractionRecord, now: float
) -> tuple[float, float, float, int]:
    """Return the order of queue heads for an agent: weight, then priority, then wait."""
    _, virtual_time, seq = interaction.sort_key
    aging = profile.priority_aging
    if aging is None:
        return (profile.neg_weight, -float(interaction.priority), virtual_time, seq)
    priority = interaction.priority + (now - virtual_time) / aging
    return (profile.neg_weight, -priority, virtual_time, seq)


def _effective_priority(interaction: InteractionRecord, now: float) -> float:
    aging = interaction.rules.settings.priority_aging
    if aging is None:
        return float(interaction.priority)
    return interaction.priority + (now - interaction.sort_key[1]) / aging


def _parse_status(status: AgentStatus | str) -> AgentStatus:
    try:
        return AgentStatus(status)
    except ValueError:
        known = [item.value for item in AgentStatus]
        raise AcdError(f"unknown agent status {status!r}; use one of {known}") from None
