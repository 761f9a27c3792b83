"""Queue rules: order, priority, limits, empty queues, overflow, capacity, sticky agents."""

from __future__ import annotations

from typing import Any

from acd.decisions import InteractionEnded, JoinRejected, OfferEnded, Overflow, Queued
from acd.router import Router
from acd.settings import AcdSettings
from santral.clock import VirtualClock
from tests.acd.routing import advance, agents, login, make_router, offered_agents, offers, only


def one_agent_router(queue: dict[str, Any] | None = None, **extra: Any):  # type: ignore[no-untyped-def]
    config: dict[str, Any] = {
        "queues": {"q": {"wrapup": 0, **(queue or {})}, "backup": {"wrapup": 0}},
        "agents": {"a1": {"queues": ["q"]}},
        **extra,
    }
    return make_router(config)


def drain(router: Router, count: int) -> list[str]:
    """Log a1 in and let it take ``count`` interactions; return their ids in order."""
    served: list[str] = []
    decisions = login(router, "a1")
    for _ in range(count):
        offer = offers(decisions)[0]
        served.append(offer.interaction_id)
        router.accept(offer.offer_id, connect=True)
        decisions = router.end_interaction(offer.interaction_id)
    return served


def test_first_in_first_out_within_priority() -> None:
    router, clock = one_agent_router()
    for name in ("i1", "i2", "i3"):
        router.add_interaction(name, "q")
        clock.advance(1)

    assert drain(router, 3) == ["i1", "i2", "i3"]


def test_higher_priority_goes_first() -> None:
    router, clock = one_agent_router()
    router.add_interaction("low", "q", priority=0)
    clock.advance(1)
    router.add_interaction("high", "q", priority=5)

    assert drain(router, 2) == ["high", "low"]


def test_head_start_counts_as_waited() -> None:
    router, clock = one_agent_router()
    router.add_interaction("i1", "q")
    clock.advance(10)
    router.add_interaction("i2", "q", head_start=30)

    assert drain(router, 2) == ["i2", "i1"]


def test_position_never_passes_higher_priority() -> None:
    router, clock = one_agent_router()
    router.add_interaction("vip", "q", priority=9)
    clock.advance(1)
    router.add_interaction("i1", "q")
    clock.advance(1)
    router.add_interaction("i2", "q")
    clock.advance(1)
    router.add_interaction("front", "q", position=1)
    router.add_interaction("second", "q", position=2)

    assert drain(router, 5) == ["vip", "front", "second", "i1", "i2"]


def test_priority_ages_with_wait() -> None:
    router, clock = one_agent_router({"priority_aging": 10})
    router.add_interaction("old", "q", priority=0)
    clock.advance(25)
    router.add_interaction("new", "q", priority=2)

    assert drain(router, 2) == ["old", "new"]


def test_queue_refuses_beyond_max_length() -> None:
    router, _ = one_agent_router({"max_length": 2})
    router.add_interaction("i1", "q")
    router.add_interaction("i2", "q")

    decisions = router.add_interaction("i3", "q")

    assert only(decisions, JoinRejected)[0].reason == "queue_full"
    assert only(decisions, Queued) == []
    assert "i3" not in router.interactions()


def test_join_empty_refuses_without_agents() -> None:
    router, _ = one_agent_router({"join_empty": ["logged_out", "not_ready"]})

    assert only(router.add_interaction("i1", "q"), JoinRejected)[0].reason == "queue_empty"
    login(router, "a1")
    router.set_agent_status("a1", "not_ready", "break")
    assert only(router.add_interaction("i2", "q"), JoinRejected)
    login(router, "a1")
    assert only(router.add_interaction("i3", "q"), Queued)


def test_join_empty_counts_only_agents_with_skills() -> None:
    router, _ = one_agent_router({"join_empty": ["logged_out"]})
    login(router, "a1")

    decisions = router.add_interaction("i1", "q", skills={"billing": 2})

    assert only(decisions, JoinRejected)[0].reason == "queue_empty"


def test_leave_when_empty_removes_waiting() -> None:
    router, _ = one_agent_router({"leave_when_empty": ["logged_out", "not_ready"]})
    login(router, "a1")
    router.add_interaction("i1", "q")
    router.add_interaction("i2", "q")

    decisions = router.set_agent_status("a1", "logged_out")

    outcomes = [(item.interaction_id, item.outcome) for item in only(decisions, InteractionEnded)]
    assert outcomes == [("i1", "removed"), ("i2", "removed")]


def test_max_wait_overflows_to_queue() -> None:
    router, clock = one_agent_router({"max_wait": 60, "overflow_target": "backup"})
    router.add_interaction("i1", "q", attributes={"account": "7"})

    decisions = advance(router, clock, 60)

    assert only(decisions, Overflow)[0].target == "backup"
    assert only(decisions, Queued)[0].queue == "backup"
    assert only(decisions, InteractionEnded) == []
    assert router.interaction("i1").queue == "backup"
    assert router.interaction("i1").attributes == {"account": "7"}


def test_max_wait_overflows_elsewhere() -> None:
    router, clock = one_agent_router({"max_wait": 60, "overflow_target": "voicemail"})
    router.add_interaction("i1", "q")

    decisions = advance(router, clock, 61)

    ended = only(decisions, InteractionEnded)[0]
    assert (ended.outcome, ended.overflow_target) == ("overflowed", "voicemail")
    assert "i1" not in router.interactions()


def test_max_wait_waits_for_open_offer() -> None:
    router, clock = one_agent_router({"max_wait": 10, "overflow_target": "voicemail"})
    login(router, "a1")
    offer = offers(router.add_interaction("i1", "q"))[0]

    assert only(advance(router, clock, 11), Overflow) == []
    decisions = router.reject(offer.offer_id)
    assert only(decisions, Overflow)[0].target == "voicemail"


def test_agent_serves_heavier_queue_first() -> None:
    config = {
        "queues": {"light": {"weight": 1, "wrapup": 0}, "heavy": {"weight": 5, "wrapup": 0}},
        "agents": {"a1": {"queues": ["light", "heavy"]}},
    }
    router, clock = make_router(config)
    router.add_interaction("l1", "light")
    clock.advance(30)
    router.add_interaction("h1", "heavy")

    assert offers(login(router, "a1"))[0].interaction_id == "h1"


def test_agent_serves_longest_wait_across_equal_queues() -> None:
    config = {
        "queues": {"x": {"wrapup": 0}, "y": {"wrapup": 0}},
        "agents": {"a1": {"queues": ["x", "y"]}},
    }
    router, clock = make_router(config)
    router.add_interaction("y1", "y")
    clock.advance(5)
    router.add_interaction("x1", "x")

    assert offers(login(router, "a1"))[0].interaction_id == "y1"


def test_chat_capacity_allows_three() -> None:
    router, _ = make_router({"queues": {"q": {}}, "agents": {"a1": {"queues": ["q"]}}})
    login(router, "a1")
    for index in range(4):
        decisions = router.add_interaction(f"c{index}", "q", "chat")
        for offer in offers(decisions):
            router.accept(offer.offer_id, connect=True)

    view = router.agent("a1")
    assert view.interactions == ("c0", "c1", "c2")
    assert router.explain("c3").agents["a1"] == "capacity full"


def test_voice_excludes_chat() -> None:
    router, _ = make_router({"queues": {"q": {}}, "agents": {"a1": {"queues": ["q"]}}})
    login(router, "a1")
    router.accept(offers(router.add_interaction("v1", "q"))[0].offer_id, connect=True)

    assert offered_agents(router.add_interaction("c1", "q", "chat")) == []
    assert "voice excludes" in router.explain("c1").agents["a1"]


def test_voice_and_chat_together_when_configured() -> None:
    config = {"queues": {"q": {}}, "agents": {"a1": {"queues": ["q"], "voice_exclusive": False}}}
    router, _ = make_router(config)
    login(router, "a1")
    router.accept(offers(router.add_interaction("v1", "q"))[0].offer_id, connect=True)

    assert offered_agents(router.add_interaction("c1", "q", "chat")) == ["a1"]


def test_sticky_agent_first_then_anyone() -> None:
    router, clock = make_router({"queues": {"q": {}}, "agents": agents(2, queues=["q"])})
    login(router, "a1")
    router.accept(offers(router.add_interaction("other", "q"))[0].offer_id, connect=True)
    login(router, "a2")

    decisions = router.add_interaction("i1", "q", preferred_agent="a1", sticky_timeout=20)
    assert offered_agents(decisions) == []
    assert router.explain("i1").agents["a2"] == "not the preferred agent a1"

    assert offered_agents(advance(router, clock, 20)) == ["a2"]


def test_sticky_agent_takes_it_when_free() -> None:
    router, _ = make_router({"queues": {"q": {}}, "agents": agents(2, queues=["q"])})
    login(router, "a2", "a1")

    decisions = router.add_interaction("i1", "q", preferred_agent="a1", sticky_timeout=20)

    assert offered_agents(decisions) == ["a1"]


def test_reload_keeps_rules_of_waiting() -> None:
    base: dict[str, Any] = {"queues": {"q": {"wrapup": 5}}, "agents": agents(1, queues=["q"])}
    clock = VirtualClock(0)
    router = Router(AcdSettings.model_validate(base), clock)
    router.add_interaction("before", "q")
    router.reload(AcdSettings.model_validate({**base, "queues": {"q": {"wrapup": 50}}}))
    router.add_interaction("after", "q")

    durations = []
    decisions = login(router, "a1")
    for _ in range(2):
        offer = offers(decisions)[0]
        router.accept(offer.offer_id, connect=True)
        ended = router.end_interaction(offer.interaction_id)
        durations.append(ended[-2])
        decisions = router.end_wrapup("a1")

    assert [getattr(item, "duration", None) for item in durations] == [5, 50]


def test_reload_adds_and_removes_agents() -> None:
    base: dict[str, Any] = {"queues": {"q": {}}, "agents": agents(1, queues=["q"])}
    router, _ = make_router(base)
    login(router, "a1")
    router.add_interaction("i1", "q")
    router.add_interaction("i2", "q")

    decisions = router.reload(
        AcdSettings.model_validate({"queues": {"q": {}}, "agents": {"b1": {"queues": ["q"]}}})
    )
    assert router.agents() == ["b1"]
    assert only(decisions, OfferEnded)[0].reason == "agent_logged_out"
    assert offered_agents(decisions) == []
    assert offered_agents(login(router, "b1")) == ["b1"]


def test_removed_agent_finishes_work_then_goes() -> None:
    base: dict[str, Any] = {"queues": {"q": {"wrapup": 0}}, "agents": agents(1, queues=["q"])}
    router, _ = make_router(base)
    login(router, "a1")
    router.accept(offers(router.add_interaction("i1", "q"))[0].offer_id, connect=True)

    router.reload(AcdSettings.model_validate({"queues": {"q": {"wrapup": 0}}, "agents": {}}))
    assert router.agent("a1").interactions == ("i1",)
    router.end_interaction("i1")

    assert router.agents() == []
