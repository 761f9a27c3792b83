"""Escalation steps relax requirements over time; explanations give each skipped agent's reason."""

from __future__ import annotations

from typing import Any

from acd.decisions import Escalated
from tests.acd.routing import advance, login, make_router, offered_agents, offers, only

STEPS: dict[str, Any] = {
    "queues": {
        "billing": {
            "skills": {"billing": 7, "german": 5},
            "escalation": [
                {"after": 30, "min_levels": {"billing": 4}},
                {"after": 60, "drop_skills": ["german"]},
                {"after": 90, "add_queues": ["general"]},
            ],
        },
        "general": {},
    },
    "agents": {
        "expert": {"queues": ["billing"], "skills": {"billing": 9, "german": 6}},
        "junior": {"queues": ["billing"], "skills": {"billing": 5, "german": 6}},
        "english": {"queues": ["billing"], "skills": {"billing": 8}},
        "helper": {"queues": ["general"], "skills": {"billing": 4}},
    },
}


def test_steps_widen_eligible_agents_in_turn() -> None:
    router, clock = make_router(STEPS)
    router.add_interaction("i1", "billing")
    login(router, "junior", "english", "helper")

    assert offered_agents(advance(router, clock, 29)) == []
    step1 = advance(router, clock, 1)
    assert [item.step for item in only(step1, Escalated)] == [1]
    assert offered_agents(step1) == ["junior"]


def test_drop_skill_then_widen_queue() -> None:
    router, clock = make_router(STEPS)
    router.add_interaction("i1", "billing")
    login(router, "english")

    assert offered_agents(advance(router, clock, 59)) == []
    assert offered_agents(advance(router, clock, 1)) == ["english"]


def test_widen_to_other_queue() -> None:
    router, clock = make_router(STEPS)
    router.add_interaction("i1", "billing")
    login(router, "helper")

    decisions = advance(router, clock, 90)

    assert [item.step for item in only(decisions, Escalated)] == [1, 2, 3]
    assert offered_agents(decisions) == ["helper"]


def test_escalation_keeps_place_in_line() -> None:
    router, clock = make_router(STEPS)
    router.add_interaction("old", "billing")
    clock.advance(20)
    router.add_interaction("new", "billing", skills={"billing": 1})
    advance(router, clock, 15)

    decisions = login(router, "junior")

    assert [offer.interaction_id for offer in offers(decisions)] == ["old"]


def test_explain_lists_step_and_reasons() -> None:
    agents = dict(STEPS["agents"])
    agents["expert"] = {**agents["expert"], "languages": ["en", "tr"]}
    router, clock = make_router({**STEPS, "agents": agents})
    login(router, "junior")
    router.set_agent_status("expert", "not_ready", "lunch")
    router.add_interaction("i1", "billing", language="de")

    explanation = router.explain("i1")

    assert (explanation.step, explanation.next_step_at) == (0, clock.now() + 30)
    assert explanation.required_skills == {"billing": 7, "german": 5}
    assert explanation.agents == {
        "expert": "does not speak de",
        "junior": "level too low for billing (5 < 7)",
        "english": "missing skill german",
        "helper": "not in the queue billing",
    }


def test_explain_dynamic_reasons() -> None:
    config: dict[str, Any] = {
        "queues": {"q": {"wrapup": 30}},
        "agents": {name: {"queues": ["q"]} for name in ("off", "paused", "wrapping", "busy")},
    }
    router, _ = make_router(config)
    login(router, "wrapping", "busy", "paused")
    router.set_agent_status("paused", "not_ready", "break")
    first = offers(router.add_interaction("i1", "q"))[0]
    assert first.agent_id == "wrapping"
    router.accept(first.offer_id, connect=True)
    router.end_interaction("i1")
    second = offers(router.add_interaction("i2", "q"))[0]
    assert second.agent_id == "busy"
    router.accept(second.offer_id, connect=True)
    router.add_interaction("i3", "q")

    reasons = router.explain("i3").agents

    assert reasons["off"] == "logged out"
    assert reasons["paused"] == "not ready (break)"
    assert reasons["wrapping"].startswith("in wrap-up until")
    assert reasons["busy"] == "capacity full"
    assert router.explain("i3").eligible() == []


LANGUAGES: dict[str, Any] = {
    "queues": {"q": {"wrapup": 0}},
    "agents": {
        "anyone": {"queues": ["q"]},
        "turkish": {"queues": ["q"], "languages": ["tr"]},
        "bilingual": {"queues": ["q"], "languages": ["en", "de"]},
    },
}


def test_agent_without_languages_serves_any_language() -> None:
    router, _ = make_router(LANGUAGES)
    login(router, "anyone")

    decisions = router.add_interaction("i1", "q", language="de")

    assert offered_agents(decisions) == ["anyone"]


def test_language_list_restricts_agent() -> None:
    router, _ = make_router(LANGUAGES)
    login(router, "turkish")

    assert offered_agents(router.add_interaction("i1", "q", language="de")) == []
    assert offered_agents(router.add_interaction("i2", "q", language="tr")) == ["turkish"]


def test_language_list_allows_no_language() -> None:
    router, _ = make_router(LANGUAGES)
    login(router, "bilingual")

    assert offered_agents(router.add_interaction("i1", "q")) == ["bilingual"]


def test_explain_language_reasons() -> None:
    router, _ = make_router(LANGUAGES)
    login(router, "anyone", "turkish", "bilingual")
    router.set_agent_status("anyone", "not_ready", "break")
    router.set_agent_status("bilingual", "not_ready", "break")
    router.add_interaction("i1", "q", language="fr")

    reasons = router.explain("i1").agents

    assert reasons["anyone"] == "not ready (break)"
    assert reasons["turkish"] == "does not speak fr"
    assert reasons["bilingual"] == "does not speak fr"
