"""Properties of the router on random sequences of inputs (hypothesis).

After every input: no agent has more work than its capacity, no interaction is assigned twice,
no agent that could take a waiting interaction sits idle (ring-all and re-offer delays
aside), and offers follow queue order within equal priority and requirements.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from acd.decisions import Decision, Offer
from acd.explain import agent_reason
from acd.model import InteractionStatus
from acd.router import Router
from acd.settings import AcdSettings
from santral.clock import VirtualClock

SKILLS = ("a", "b", "c")
STRATEGIES = (
    "longest_idle",
    "round_robin",
    "fewest_interactions",
    "least_talk_time",
    "best_proficiency",
    "top_down",
    "random",
)

levels = st.integers(min_value=1, max_value=10)
agent_config = st.fixed_dictionaries(
    {
        "skills": st.dictionaries(st.sampled_from(SKILLS), levels, min_size=2, max_size=3),
        "queues": st.lists(st.sampled_from(["x", "y"]), min_size=1, max_size=2, unique=True),
        "order": st.integers(0, 5),
        "voice_exclusive": st.booleans(),
        "capacity": st.fixed_dictionaries(
            {"voice": st.just(1), "chat": st.integers(1, 3), "email": st.integers(0, 2)}
        ),
    }
)
queue_config = st.fixed_dictionaries(
    {
        "strategy": st.sampled_from(STRATEGIES),
        "weight": st.integers(0, 3),
        "wrapup": st.sampled_from([0, 0, 5]),
        "ring_timeout": st.sampled_from([5, 15]),
        "reoffer_delay": st.sampled_from([0, 8]),
        "escalation": st.sampled_from([[], [{"after": 12, "drop_skills": ["a", "b", "c"]}]]),
    }
)
config = st.fixed_dictionaries(
    {
        "queues": st.fixed_dictionaries({"x": queue_config, "y": queue_config}),
        "agents": st.dictionaries(
            st.sampled_from([f"g{n}" for n in range(4)]), agent_config, min_size=1, max_size=3
        ),
        "missed_offers_before_not_ready": st.integers(0, 2),
    }
)
add = st.tuples(
    st.just("add"),
    st.sampled_from(["x", "y"]),
    st.sampled_from(["voice", "voice", "chat", "email"]),
    st.sampled_from([{}, {"a": 2}, {"b": 3, "c": 1}, {"c": 6}]),
    st.sampled_from([0, 0, 1]),
)
accept = st.tuples(st.just("accept"), st.integers(0, 50), st.booleans())
end = st.tuples(st.just("end"), st.integers(0, 50))
operation = st.one_of(
    add,
    add,
    accept,
    accept,
    end,
    st.tuples(st.just("remove"), st.integers(0, 50)),
    st.tuples(
        st.just("status"),
        st.integers(0, 50),
        st.sampled_from(["available", "available", "not_ready", "logged_out"]),
    ),
    st.tuples(st.just("connected"), st.integers(0, 50)),
    st.tuples(st.just("miss"), st.integers(0, 50)),
    st.tuples(st.just("end_wrapup"), st.integers(0, 50)),
    st.tuples(st.just("advance"), st.sampled_from([1.0, 3.0, 6.0, 13.0])),
)


class Driver:
    """Applies generated operations to a router and checks the invariants after each."""

    def __init__(self, raw: dict[str, Any], ring_all: bool = False) -> None:
        self.ring_all = ring_all
        self.settings = AcdSettings.model_validate(raw)
        self.clock = VirtualClock(0)
        self.router = Router(self.settings, self.clock)
        self.counter = 0
        for agent_id in self.router.agents():
            self.router.set_agent_status(agent_id, "available")

    def run(self, operations: list[tuple[Any, ...]]) -> None:
        for item in operations:
            before = self.waiting()
            decisions = self.apply(item)
            self.check(decisions, before)

    def waiting(self) -> set[str]:
        return {
            interaction.interaction_id
            for interaction in self.router._interactions.values()
            if interaction.status is InteractionStatus.WAITING
        }

    def apply(self, item: tuple[Any, ...]) -> list[Decision]:
        router = self.router
        kind = item[0]
        if kind == "add":
            self.counter += 1
            _, queue, channel, skills, priority = item
            return router.add_interaction(
                f"i{self.counter}", queue, channel, skills=skills, priority=priority
            )
        if kind == "advance":
            return self.advance(item[1])
        if kind == "status":
            agent_id = pick(router.agents(), item[1])
            return router.set_agent_status(agent_id, item[2]) if agent_id else []
        if kind == "end_wrapup":
            agent_id = pick(router.agents(), item[1])
            return router.end_wrapup(agent_id) if agent_id else []
        return self.apply_to_work(item)

    def apply_to_work(self, item: tuple[Any, ...]) -> list[Decision]:
        router = self.router
        kind = item[0]
        open_offers = sorted(router._offers)
        if kind in ("accept", "connected", "miss"):
            offer_id = pick(open_offers, item[1])
            if offer_id is None:
                return []
            accepted = router._offers[offer_id].accepted
            if kind == "miss":
                return router.miss(offer_id, "no_answer")
            if kind == "accept" and not accepted:
                return router.accept(offer_id, connect=item[2])
            return router.connected(offer_id) if accepted else []
        interaction_id = pick(sorted(router.interactions()), item[1])
        if interaction_id is None:
            return []
        if kind == "remove":
            return router.remove_interaction(interaction_id)
        status = router.interaction(interaction_id).status
        return router.end_interaction(interaction_id) if status == "connected" else []

    def advance(self, seconds: float) -> list[Decision]:
        target = self.clock.now() + seconds
        for _ in range(1000):
            due = self.router.next_timer()
            if due is None or due > target:
                break
            self.clock.set(max(due, self.clock.now()))
            before = self.waiting()
            self.check(self.router.tick(), before)
        self.clock.set(target)
        return self.router.tick()

    def check(self, decisions: list[Decision], waiting_before: set[str]) -> None:
        self.check_capacity()
        self.check_single_assignment()
        self.check_no_idle_eligible()
        self.check_order(decisions, waiting_before)

    def check_capacity(self) -> None:
        for agent in self.router._agents.values():
            for channel, items in agent.active.items():
                assert len(items) <= agent.settings.capacity.get(channel, 0), agent.agent_id  # type: ignore[call-overload]
            if agent.settings.voice_exclusive and agent.active.get("voice"):
                assert agent.active_count() == 1, agent.agent_id
            offers = [o for o in self.router._offers.values() if o.agent is agent]
            assert len(offers) <= 1, agent.agent_id

    def check_single_assignment(self) -> None:
        seen: dict[str, str] = {}
        for agent in self.router._agents.values():
            for interaction in agent.interactions():
                assert interaction.interaction_id not in seen, interaction.interaction_id
                seen[interaction.interaction_id] = agent.agent_id
                assert interaction.agent is agent
                assert interaction.status is InteractionStatus.CONNECTED
        for interaction in self.router._interactions.values():
            if interaction.status is InteractionStatus.CONNECTED:
                assert seen.get(interaction.interaction_id) is not None
            agents = [offer.agent.agent_id for offer in interaction.offers]
            assert len(set(agents)) == len(agents), interaction.interaction_id
            if not self.ring_all:
                assert len(agents) <= 1, interaction.interaction_id
            accepted = [offer for offer in interaction.offers if offer.accepted]
            assert len(accepted) <= 1

    def check_no_idle_eligible(self) -> None:
        now = self.clock.now()
        for interaction in self.router._interactions.values():
            if interaction.status is not InteractionStatus.WAITING:
                continue
            for agent in self.router._agents.values():
                reason = agent_reason(agent, interaction, now)
                assert reason != "eligible", (interaction.interaction_id, agent.agent_id)

    def check_order(self, decisions: list[Decision], waiting_before: set[str]) -> None:
        """Check that no interaction waiting throughout the input was passed over."""
        if self.ring_all:
            return
        now = self.clock.now()
        for decision in decisions:
            if not isinstance(decision, Offer):
                continue
            offered = self.router._interactions.get(decision.interaction_id)
            if offered is None or offered.profile is None:
                continue
            for other in self.router._interactions.values():
                if other.status is not InteractionStatus.WAITING:
                    continue
                if other.interaction_id not in waiting_before:
                    continue
                same = other.profile is offered.profile and other.priority == offered.priority
                if same and not other.is_excluded(decision.agent_id, now):
                    earlier = (other.enqueued_at, other.seq) < (offered.enqueued_at, offered.seq)
                    assert not earlier, (
                        other.interaction_id,
                        decision.interaction_id,
                    )


def pick(items: list[str], index: int) -> str | None:
    return items[index % len(items)] if items else None


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=config, operations=st.lists(operation, min_size=5, max_size=80))
def test_router_invariants_hold(raw: dict[str, Any], operations: list[tuple[Any, ...]]) -> None:
    Driver(raw).run(operations)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=config, operations=st.lists(operation, min_size=5, max_size=80))
def test_ring_all_never_connects_twice(
    raw: dict[str, Any], operations: list[tuple[Any, ...]]
) -> None:
    for queue in raw["queues"].values():
        queue["strategy"] = "ring_all"
    Driver(raw, ring_all=True).run(operations)


@settings(max_examples=60, deadline=None)
@given(
    arrivals=st.lists(
        st.tuples(st.sampled_from([0.0, 0.5, 2.0]), st.integers(0, 2)), min_size=2, max_size=12
    ),
    strategy=st.sampled_from(STRATEGIES),
)
def test_served_in_priority_then_arrival_order(
    arrivals: list[tuple[float, int]], strategy: str
) -> None:
    raw = {
        "queues": {"x": {"strategy": strategy, "wrapup": 0}},
        "agents": {"g0": {"queues": ["x"]}},
    }
    driver = Driver(raw)
    router, clock = driver.router, driver.clock
    router.set_agent_status("g0", "not_ready")
    for index, (gap, priority) in enumerate(arrivals):
        clock.advance(gap)
        router.add_interaction(f"i{index}", "x", priority=priority)

    served = []
    decisions = router.set_agent_status("g0", "available")
    for _ in arrivals:
        offer = next(item for item in decisions if isinstance(item, Offer))
        served.append(offer.interaction_id)
        router.accept(offer.offer_id, connect=True)
        decisions = router.end_interaction(offer.interaction_id)

    expected = sorted(range(len(arrivals)), key=lambda index: -arrivals[index][1])
    assert served == [f"i{index}" for index in expected]
