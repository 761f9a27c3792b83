"""Router edge cases: events that overlap offers, escalation, wrap-up and reloads."""

from __future__ import annotations

from typing import Any

import pytest

from acd.decisions import Escalated, InteractionEnded, JoinRejected, OfferEnded, Overflow
from acd.model import AcdError
from acd.settings import AcdSettings
from tests.acd.routing import advance, agents, login, make_router, offered_agents, offers, only


def test_ring_all_agent_not_ready_keeps_other_offers() -> None:
    config = {"queues": {"q": {"strategy": "ring_all"}}, "agents": agents(2, queues=["q"])}
    router, _ = make_router(config)
    login(router, "a1", "a2")
    router.add_interaction("i1", "q")

    decisions = router.set_agent_status("a1", "not_ready", "break")

    assert [item.agent_id for item in only(decisions, OfferEnded)] == ["a1"]
    assert router.interaction("i1").status == "offered"
    assert router.agent("a2").offer_id is not None


def test_escalation_during_offer_applies_on_return() -> None:
    config: dict[str, Any] = {
        "queues": {
            "q": {
                "skills": {"s": 8},
                "ring_timeout": 30,
                "escalation": [{"after": 10, "min_levels": {"s": 2}}],
            }
        },
        "agents": {
            "expert": {"queues": ["q"], "skills": {"s": 9}},
            "novice": {"queues": ["q"], "skills": {"s": 3}},
        },
    }
    router, clock = make_router(config)
    login(router, "expert", "novice")
    offer = offers(router.add_interaction("i1", "q"))[0]
    assert offer.agent_id == "expert"

    escalated = advance(router, clock, 10)
    assert [item.step for item in only(escalated, Escalated)] == [1]
    assert offered_agents(escalated) == []

    assert offered_agents(router.reject(offer.offer_id)) == ["novice"]


def test_leave_when_empty_on_wrapup() -> None:
    config = {
        "queues": {"q": {"wrapup": 30, "leave_when_empty": ["wrap_up", "logged_out"]}},
        "agents": agents(1, queues=["q"]),
    }
    router, _ = make_router(config)
    login(router, "a1")
    router.accept(offers(router.add_interaction("i1", "q"))[0].offer_id, connect=True)
    router.add_interaction("i2", "q")

    decisions = router.end_interaction("i1")

    removed = [item for item in only(decisions, InteractionEnded) if item.outcome == "removed"]
    assert [item.interaction_id for item in removed] == ["i2"]


def test_overflow_into_full_queue_is_rejected() -> None:
    config = {
        "queues": {
            "q": {"max_wait": 5, "overflow_target": "small"},
            "small": {"max_length": 0},
        }
    }
    router, clock = make_router(config)
    router.add_interaction("i1", "q")

    decisions = advance(router, clock, 5)

    assert only(decisions, Overflow)[0].target == "small"
    assert only(decisions, JoinRejected)[0].reason == "queue_full"
    ended = only(decisions, InteractionEnded)[0]
    assert (ended.outcome, ended.queue, ended.overflow_target) == ("overflowed", "q", "small")
    assert router.interactions() == []


def test_reload_retires_old_profiles() -> None:
    base: dict[str, Any] = {"queues": {"q": {"wrapup": 0}}, "agents": agents(1, queues=["q"])}
    router, _ = make_router(base)
    router.add_interaction("old", "q")
    router.reload(AcdSettings.model_validate({**base, "queues": {"q": {"wrapup": 1}}}))
    router.add_interaction("new", "q")
    generations = {profile.rules.generation for profile in router._profiles.values()}
    assert len(generations) == 2

    router.remove_interaction("old")

    generations = {profile.rules.generation for profile in router._profiles.values()}
    assert len(generations) == 1


def test_snapshot_counts_every_agent_mode() -> None:
    config = {"queues": {"q": {"wrapup": 30}}, "agents": agents(4, queues=["q"])}
    router, _ = make_router(config)
    login(router, "a1", "a2", "a3")
    router.set_agent_status("a3", "not_ready", "lunch")
    router.accept(offers(router.add_interaction("i1", "q"))[0].offer_id, connect=True)

    snapshot = router.snapshot()["q"]

    assert snapshot.agents_by_state == {"busy": 1, "idle": 1, "not_ready": 1, "logged_out": 1}
    assert snapshot.staffed == 2


def test_extend_wrapup_rejects_bad_input() -> None:
    router, _ = make_router({"queues": {"q": {}}, "agents": agents(1, queues=["q"])})
    login(router, "a1")
    with pytest.raises(AcdError, match="not in wrap-up"):
        router.extend_wrapup("a1", 10)
    router.accept(offers(router.add_interaction("i1", "q"))[0].offer_id, connect=True)
    router.end_interaction("i1")
    with pytest.raises(AcdError, match="must be positive"):
        router.extend_wrapup("a1", 0)


def test_aged_priority_wins_across_queues() -> None:
    config = {
        "queues": {"slow": {"priority_aging": 10}, "fast": {}},
        "agents": {"a1": {"queues": ["slow", "fast"]}},
    }
    router, clock = make_router(config)
    router.add_interaction("aged", "slow", priority=0)
    clock.advance(30)
    router.add_interaction("urgent", "fast", priority=2)

    assert offers(login(router, "a1"))[0].interaction_id == "aged"


def test_sticky_agent_busy_then_escalation_keeps_sticky() -> None:
    config: dict[str, Any] = {
        "queues": {"q": {"escalation": [{"after": 5, "drop_skills": ["s"]}], "skills": {"s": 1}}},
        "agents": agents(2, queues=["q"], skills={"s": 5}),
    }
    router, clock = make_router(config)
    login(router, "a2")

    router.add_interaction("i1", "q", preferred_agent="a1", sticky_timeout=20)
    assert offered_agents(advance(router, clock, 5)) == []
    assert router.explain("i1").preferred_agent == "a1"
    assert offered_agents(advance(router, clock, 15)) == ["a2"]
