"""Each queue strategy picks the agent it promises among idle agents."""

from __future__ import annotations

import random

from acd.decisions import Offer, OfferEnded
from acd.router import Router
from acd.settings import AcdSettings
from santral.clock import VirtualClock
from tests.acd.routing import advance, login, make_router, offered_agents, offers, only


def strategy_router(strategy: str, agent_fields: dict[str, dict[str, object]]):  # type: ignore[no-untyped-def]
    config = {
        "queues": {"q": {"strategy": strategy, "wrapup": 0, "skills": {"s": 1}}},
        "agents": {
            agent_id: {"queues": ["q"], "skills": {"s": 5}, **fields}
            for agent_id, fields in agent_fields.items()
        },
    }
    return make_router(config)


def serve(router: Router, interaction_id: str) -> str:
    """Queue, accept and end one interaction; return the agent who took it."""
    offer = offers(router.add_interaction(interaction_id, "q"))[0]
    router.accept(offer.offer_id, connect=True)
    router.end_interaction(interaction_id)
    return offer.agent_id


def test_longest_idle_picks_earliest_free() -> None:
    router, clock = strategy_router("longest_idle", {"a1": {}, "a2": {}, "a3": {}})
    for agent_id in ("a3", "a1", "a2"):
        login(router, agent_id)
        clock.advance(1)

    taken = []
    for n in range(4):
        taken.append(serve(router, f"i{n}"))
        clock.advance(1)

    assert taken == ["a3", "a1", "a2", "a3"]


def test_round_robin_remembers_last_agent() -> None:
    router, _ = strategy_router(
        "round_robin", {"a1": {"order": 1}, "a2": {"order": 2}, "a3": {"order": 3}}
    )
    login(router, "a3", "a2", "a1")

    taken = [serve(router, f"i{n}") for n in range(5)]

    assert taken == ["a1", "a2", "a3", "a1", "a2"]


def test_fewest_interactions_prefers_least_handled() -> None:
    router, clock = strategy_router("fewest_interactions", {"a1": {}, "a2": {}})
    login(router, "a1")
    serve(router, "i0")
    serve(router, "i1")
    clock.advance(1)
    login(router, "a2")

    assert [serve(router, f"j{n}") for n in range(3)] == ["a2", "a2", "a1"]


def test_least_talk_time_prefers_least_talked() -> None:
    router, clock = strategy_router("least_talk_time", {"a1": {}, "a2": {}})
    login(router, "a1", "a2")
    first = offers(router.add_interaction("i0", "q"))[0]
    router.accept(first.offer_id, connect=True)
    clock.advance(100)
    router.end_interaction("i0")

    assert serve(router, "i1") != first.agent_id


def test_best_proficiency_prefers_highest_level() -> None:
    router, _ = strategy_router(
        "best_proficiency", {"a1": {"skills": {"s": 3}}, "a2": {"skills": {"s": 9}}}
    )
    login(router, "a1", "a2")

    assert serve(router, "i0") == "a2"


def test_best_proficiency_counts_preferred_skills() -> None:
    router, _ = strategy_router(
        "best_proficiency",
        {"a1": {"skills": {"s": 5, "vip": 8}}, "a2": {"skills": {"s": 6}}},
    )
    login(router, "a2", "a1")

    decisions = router.add_interaction("i0", "q", preferred_skills={"vip": 1})

    assert offered_agents(decisions) == ["a1"]


def test_top_down_uses_agent_order() -> None:
    router, _ = strategy_router(
        "top_down", {"a1": {"order": 3}, "a2": {"order": 1}, "a3": {"order": 2}}
    )
    login(router, "a1", "a2", "a3")

    assert [serve(router, f"i{n}") for n in range(3)] == ["a2", "a2", "a2"]


def test_random_is_repeatable_with_seed() -> None:
    config = AcdSettings.model_validate(
        {
            "queues": {"q": {"strategy": "random", "wrapup": 0}},
            "agents": {f"a{n}": {"queues": ["q"]} for n in range(10)},
        }
    )

    def picks(seed: int) -> list[str]:
        router = Router(config, VirtualClock(), rng=random.Random(seed))
        login(router, *config.agents)
        return [serve(router, f"i{n}") for n in range(5)]

    assert picks(7) == picks(7)
    assert len(set(picks(7))) > 1


def test_ring_all_first_accept_wins() -> None:
    router, _ = strategy_router("ring_all", {"a1": {}, "a2": {}, "a3": {}})
    login(router, "a1", "a2", "a3")

    rung = offers(router.add_interaction("i0", "q"))
    assert sorted(offer.agent_id for offer in rung) == ["a1", "a2", "a3"]

    decisions = router.accept(rung[1].offer_id, connect=True)
    ended = only(decisions, OfferEnded)
    assert sorted(item.agent_id for item in ended) == sorted(
        offer.agent_id for offer in rung if offer is not rung[1]
    )
    assert {item.reason for item in ended} == {"taken_elsewhere"}
    assert router.interaction("i0").agent_id == rung[1].agent_id


def test_ring_all_requeues_when_all_miss() -> None:
    router, clock = strategy_router("ring_all", {"a1": {}, "a2": {}})
    login(router, "a1", "a2")
    router.add_interaction("i0", "q")

    decisions = advance(router, clock, 20)

    assert len(only(decisions, OfferEnded)) == 2
    assert router.interaction("i0").status == "waiting"
    assert only(decisions, Offer) == []
