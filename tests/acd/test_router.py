"""Router behaviour: offers, accept and miss, wrap-up, abandon, status changes, lookups."""

from __future__ import annotations

import pytest

from acd.decisions import (
    AgentStateChanged,
    AgentStatusChanged,
    Connected,
    InteractionEnded,
    OfferAccepted,
    OfferEnded,
    Queued,
    WrapupEnded,
    WrapupStarted,
)
from acd.model import AcdError, UnknownAgentError, UnknownInteractionError, UnknownOfferError
from tests.acd.routing import advance, agents, login, make_router, offered_agents, offers, only

SALES = {"queues": {"sales": {"wrapup": 10, "ring_timeout": 15, "reoffer_delay": 30}}}


def sales_router(count: int = 2, **agent_fields: object):  # type: ignore[no-untyped-def]
    config = {**SALES, "agents": agents(count, queues=["sales"], **agent_fields)}
    return make_router(config)


def test_offer_goes_to_longest_idle_agent() -> None:
    router, clock = sales_router(3)
    login(router, "a2")
    clock.advance(5)
    login(router, "a1", "a3")

    decisions = router.add_interaction("i1", "sales")

    assert only(decisions, Queued)[0].queue == "sales"
    assert offered_agents(decisions) == ["a2"]
    assert offers(decisions)[0].timeout == 15


def test_second_call_waits_for_busy_agent() -> None:
    router, _ = sales_router(1)
    login(router, "a1")
    router.add_interaction("i1", "sales")

    decisions = router.add_interaction("i2", "sales")

    assert offered_agents(decisions) == []
    assert router.interaction("i2").status == "waiting"


def test_accept_connect_end_and_wrapup() -> None:
    router, clock = sales_router(1)
    login(router, "a1")
    offer = offers(router.add_interaction("i1", "sales"))[0]
    clock.advance(4)

    accepted = router.accept(offer.offer_id)
    assert only(accepted, OfferAccepted)[0].agent_id == "a1"
    assert router.agent("a1").state == "reserved"

    connected = only(router.connected(offer.offer_id), Connected)[0]
    assert connected.waited == 4
    assert router.agent("a1").state == "busy"
    assert router.agent("a1").interactions == ("i1",)

    clock.advance(60)
    ended = router.end_interaction("i1")
    assert only(ended, InteractionEnded)[0].outcome == "answered"
    assert only(ended, WrapupStarted)[0].duration == 10
    assert router.agent("a1").state == "wrap_up"

    finished = advance(router, clock, 10)
    assert only(finished, WrapupEnded)[0].interaction_id == "i1"
    assert router.agent("a1").state == "idle"


def test_agent_wrapup_overrides_queue() -> None:
    router, _clock = sales_router(1, wrapup=3)
    login(router, "a1")
    offer = offers(router.add_interaction("i1", "sales"))[0]
    router.accept(offer.offer_id, connect=True)

    assert only(router.end_interaction("i1"), WrapupStarted)[0].duration == 3


def test_wrapup_ends_early_or_extends() -> None:
    router, clock = sales_router(1)
    login(router, "a1")
    router.accept(offers(router.add_interaction("i1", "sales"))[0].offer_id, connect=True)
    router.end_interaction("i1")
    router.extend_wrapup("a1", 20)

    assert only(advance(router, clock, 15), WrapupEnded) == []
    assert router.agent("a1").state == "wrap_up"
    assert only(router.end_wrapup("a1"), WrapupEnded)
    assert router.agent("a1").state == "idle"
    assert router.end_wrapup("a1") == []


def test_wrapup_holds_next_call_until_it_ends() -> None:
    router, clock = sales_router(1)
    login(router, "a1")
    router.accept(offers(router.add_interaction("i1", "sales"))[0].offer_id, connect=True)
    router.end_interaction("i1")

    assert offered_agents(router.add_interaction("i2", "sales")) == []
    assert offered_agents(advance(router, clock, 10)) == ["a1"]


def test_reject_keeps_place_and_skips_agent() -> None:
    router, clock = sales_router(2)
    login(router, "a1")
    first = offers(router.add_interaction("i1", "sales"))[0]
    clock.advance(1)
    router.add_interaction("i2", "sales")

    rejected = router.reject(first.offer_id)

    assert only(rejected, OfferEnded)[0].reason == "rejected"
    assert router.interaction("i1").enqueued_at == 1000.0
    assert offered_agents(rejected) == ["a1"]
    assert offers(rejected)[0].interaction_id == "i2"
    assert offered_agents(login(router, "a2")) == ["a2"]
    assert router.agent("a2").offer_id is not None


def test_rejected_interaction_returns_to_agent_after_delay() -> None:
    router, clock = sales_router(1)
    login(router, "a1")
    offer = offers(router.add_interaction("i1", "sales"))[0]

    assert offered_agents(router.reject(offer.offer_id)) == []
    assert router.explain("i1").agents["a1"].startswith("missed this interaction")
    again = advance(router, clock, 30)
    assert [item.interaction_id for item in offers(again)] == ["i1"]


def test_ring_timeout_is_a_miss() -> None:
    router, clock = sales_router(1)
    login(router, "a1")
    router.add_interaction("i1", "sales")

    decisions = advance(router, clock, 15)

    assert [item.reason for item in only(decisions, OfferEnded)] == ["timeout"]
    assert router.interaction("i1").status == "waiting"
    assert router.agent("a1").missed == 1


def test_misses_set_agent_not_ready() -> None:
    config = {**SALES, "agents": agents(1, queues=["sales"])}
    config["missed_offers_before_not_ready"] = 2
    router, _clock = make_router(config)
    login(router, "a1")
    for index in range(2):
        offer = offers(router.add_interaction(f"i{index}", "sales"))[0]
        decisions = router.miss(offer.offer_id, "no_answer")

    changed = only(decisions, AgentStatusChanged)
    assert [(item.new, item.reason) for item in changed] == [("not_ready", "missed")]
    assert router.agent("a1").status == "not_ready"


def test_connect_resets_missed_count() -> None:
    router, _clock = sales_router(1)
    login(router, "a1")
    router.miss(offers(router.add_interaction("i1", "sales"))[0].offer_id)
    router.remove_interaction("i1")
    router.accept(offers(router.add_interaction("i2", "sales"))[0].offer_id, connect=True)

    assert router.agent("a1").missed == 0


def test_miss_after_accept_requeues() -> None:
    router, _ = sales_router(1)
    login(router, "a1")
    offer = offers(router.add_interaction("i1", "sales"))[0]
    router.accept(offer.offer_id)

    decisions = router.miss(offer.offer_id, "busy")

    assert only(decisions, OfferEnded)[0].reason == "busy"
    assert router.interaction("i1").status == "waiting"


def test_caller_hangup_during_offer_frees_agent() -> None:
    router, _ = sales_router(1)
    login(router, "a1")
    offer = offers(router.add_interaction("i1", "sales"))[0]

    decisions = router.remove_interaction("i1")

    assert only(decisions, OfferEnded)[0].reason == "caller_hangup"
    assert only(decisions, InteractionEnded)[0].outcome == "abandoned_in_queue"
    assert only(decisions, WrapupStarted) == []
    assert router.agent("a1").state == "idle"
    with pytest.raises(UnknownOfferError):
        router.accept(offer.offer_id)


def test_caller_hangup_while_waiting() -> None:
    router, clock = sales_router(1)
    clock.advance(0)
    router.add_interaction("i1", "sales")
    clock.advance(7)

    ended = only(router.remove_interaction("i1"), InteractionEnded)[0]

    assert (ended.outcome, ended.waited) == ("abandoned_in_queue", 7)
    with pytest.raises(UnknownInteractionError):
        router.interaction("i1")


def test_hangup_when_connected_ends_with_wrapup() -> None:
    router, _ = sales_router(1)
    login(router, "a1")
    router.accept(offers(router.add_interaction("i1", "sales"))[0].offer_id, connect=True)

    decisions = router.remove_interaction("i1")

    assert only(decisions, InteractionEnded)[0].outcome == "answered"
    assert only(decisions, WrapupStarted)


def test_not_ready_during_offer_cancels_it_once() -> None:
    router, _ = sales_router(2)
    login(router, "a1")
    router.add_interaction("i1", "sales")

    decisions = router.set_agent_status("a1", "not_ready", "break")

    assert [item.reason for item in only(decisions, OfferEnded)] == ["agent_not_ready"]
    assert router.interaction("i1").status == "waiting"
    assert offered_agents(login(router, "a2")) == ["a2"]


def test_logout_during_offer_gives_reason() -> None:
    router, _ = sales_router(1)
    login(router, "a1")
    router.add_interaction("i1", "sales")

    decisions = router.set_agent_status("a1", "logged_out")

    assert only(decisions, OfferEnded)[0].reason == "agent_logged_out"


def test_status_and_state_are_separate() -> None:
    router, _ = sales_router(1)
    login(router, "a1")
    router.accept(offers(router.add_interaction("i1", "sales"))[0].offer_id, connect=True)

    decisions = router.set_agent_status("a1", "not_ready", "lunch")

    assert only(decisions, AgentStateChanged) == []
    view = router.agent("a1")
    assert (view.status, view.reason, view.state) == ("not_ready", "lunch", "busy")


def test_unknown_reason_code_rejected() -> None:
    router, _ = sales_router(1)
    with pytest.raises(AcdError, match="unknown reason code 'nap'"):
        router.set_agent_status("a1", "not_ready", "nap")
    with pytest.raises(AcdError, match="unknown agent status"):
        router.set_agent_status("a1", "asleep")


def test_unknown_ids_raise() -> None:
    router, _ = sales_router(1)
    with pytest.raises(UnknownAgentError):
        router.set_agent_status("nobody", "available")
    with pytest.raises(UnknownInteractionError):
        router.end_interaction("missing")
    with pytest.raises(UnknownOfferError):
        router.reject("offer-99")
    with pytest.raises(AcdError, match="unknown queue 'support'"):
        router.add_interaction("i1", "support")
    with pytest.raises(AcdError, match="unknown channel 'fax'"):
        router.add_interaction("i1", "sales", "fax")


def test_duplicate_interaction_rejected() -> None:
    router, _ = sales_router(1)
    router.add_interaction("i1", "sales")
    with pytest.raises(AcdError, match="already in the ACD"):
        router.add_interaction("i1", "sales")


def test_end_interaction_requires_connection() -> None:
    router, _ = sales_router(1)
    router.add_interaction("i1", "sales")
    with pytest.raises(AcdError, match="not connected"):
        router.end_interaction("i1")


def test_accept_twice_rejected() -> None:
    router, _ = sales_router(1)
    login(router, "a1")
    offer = offers(router.add_interaction("i1", "sales"))[0]
    router.accept(offer.offer_id)
    with pytest.raises(UnknownOfferError):
        router.accept(offer.offer_id)
    with pytest.raises(UnknownOfferError):
        router.connected("offer-404")


def test_lookups_report_offer_and_work() -> None:
    router, _ = sales_router(1)
    login(router, "a1")
    offer = offers(router.add_interaction("i1", "sales", attributes={"account": "42"}))[0]

    assert router.agent("a1").offer_id == offer.offer_id
    assert router.offer(offer.offer_id) == offer
    view = router.interaction("i1")
    assert view.offer_ids == (offer.offer_id,)
    assert view.attributes == {"account": "42"}
    assert router.interactions() == ["i1"]
    assert router.agents() == ["a1"]


def test_offer_ids_come_from_generator() -> None:
    from acd.router import Router
    from acd.settings import AcdSettings
    from santral.clock import VirtualClock

    names = iter(["x", "y"])
    config = AcdSettings.model_validate({**SALES, "agents": agents(1, queues=["sales"])})
    router = Router(config, VirtualClock(), ids=lambda: next(names))
    login(router, "a1")

    assert offers(router.add_interaction("i1", "sales"))[0].offer_id == "x"


def test_timers_report_next_due_time() -> None:
    router, clock = sales_router(1)
    assert router.next_timer() is None
    login(router, "a1")
    router.add_interaction("i1", "sales")

    assert router.next_timer() == clock.now() + 15
    assert router.tick() == []


def test_invalid_arrival_leaves_nothing_behind() -> None:
    router, _ = sales_router(1)
    with pytest.raises(UnknownAgentError):
        router.add_interaction("i1", "sales", preferred_agent="ghost", sticky_timeout=5)
    with pytest.raises(AcdError, match="position must be 1 or more"):
        router.add_interaction("i1", "sales", position=0)
    with pytest.raises(AcdError, match="levels run from 1 to 10"):
        router.add_interaction("i1", "sales", skills={"sales": 11})

    assert router.interactions() == []
    assert router.snapshot()["sales"].waiting_count == 0
