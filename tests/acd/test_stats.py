"""Interval statistics and real-time queue figures computed from router decisions."""

from __future__ import annotations

from typing import Any

import pytest

from acd.decisions import Connected, InteractionEnded, Queued
from acd.settings import AcdSettings
from acd.stats import Statistics
from tests.acd.routing import advance, agents, login, make_router

CONFIG: dict[str, Any] = {
    "queues": {"q": {"wrapup": 10, "service_level_threshold": 20, "short_abandon_threshold": 5}},
    "agents": {"a1": {"queues": ["q"]}},
}


def test_interval_figures_for_one_queue() -> None:
    router, clock = make_router(CONFIG, start=1000)
    login(router, "a1")
    router.add_interaction("i1", "q")
    clock.advance(10)
    router.accept(router.agent("a1").offer_id or "", connect=True)
    clock.advance(10)
    router.add_interaction("i2", "q")
    clock.advance(3)
    router.remove_interaction("i2")
    clock.advance(7)
    router.add_interaction("i3", "q")
    clock.advance(10)
    router.add_interaction("i4", "q")
    clock.advance(5)
    router.remove_interaction("i3")
    clock.advance(25)
    router.end_interaction("i1")
    advance(router, clock, 10)
    router.accept(router.agent("a1").offer_id or "", connect=True)
    clock.advance(20)
    router.end_interaction("i4")
    advance(router, clock, 100)

    assert router.stats is not None
    [row] = router.stats.queue_intervals(clock.now())
    assert (row.start, row.end) == (900, 1800)
    assert (row.offered, row.answered, row.abandoned, row.short_abandoned) == (4, 2, 1, 1)
    assert row.service_level == 0.5
    assert row.service_level_with_abandons == pytest.approx(2 / 3)
    assert row.asa == 25
    assert row.aht == 50
    assert row.longest_wait == 40
    assert row.occupancy == pytest.approx(110 / 200)

    [agent] = router.stats.agent_intervals(clock.now())
    assert (agent.offers, agent.answered, agent.handled, agent.missed) == (2, 2, 2, 0)
    assert (agent.service_level, agent.asa, agent.longest_wait) == (0.5, 25, 40)
    assert agent.aht == 50
    assert agent.modes == {"reserved": 10, "busy": 80, "wrap_up": 20, "idle": 90}


def test_agent_time_splits_at_interval_boundary() -> None:
    router, clock = make_router(CONFIG, start=850)
    login(router, "a1")
    clock.advance(100)

    assert router.stats is not None
    rows = router.stats.agent_intervals(clock.now())
    assert [(row.start, row.modes) for row in rows] == [(0, {"idle": 50}), (900, {"idle": 50})]


def test_missed_offers_counted_per_agent() -> None:
    router, clock = make_router(CONFIG, start=0)
    login(router, "a1")
    router.add_interaction("i1", "q")
    advance(router, clock, 20)

    assert router.stats is not None
    [agent] = router.stats.agent_intervals(clock.now())
    assert (agent.offers, agent.missed) == (1, 1)


def test_overflow_counted_in_source_queue() -> None:
    config = {
        "queues": {"q": {"max_wait": 30, "overflow_target": "voicemail"}},
    }
    router, clock = make_router(config, start=0)
    router.add_interaction("i1", "q")
    advance(router, clock, 45)

    assert router.stats is not None
    [row] = router.stats.queue_intervals(clock.now())
    assert (row.offered, row.overflowed, row.abandoned) == (1, 1, 0)
    assert row.longest_wait == 30


def test_hold_time_included_in_handle_time() -> None:
    stats = Statistics(AcdSettings.model_validate(CONFIG))
    stats.record(Queued("i1", "q", "voice", 0), 0)
    stats.record(Connected("i1", "a1", "o1", "q", "voice", 5), 5)
    stats.record_hold("i1", True, 10)
    stats.record_hold("i1", False, 40)
    stats.record(InteractionEnded("i1", "answered", "q", "voice", 5, "a1"), 65)

    assert stats.totals("q").hold_time == 30
    assert stats.average_handle_time("q") == 60


def test_snapshot_counts_and_estimates() -> None:
    config = {"queues": {"q": {"default_handle_time": 120}}, "agents": agents(2, queues=["q"])}
    router, clock = make_router(config, start=0)
    login(router, "a1", "a2")
    for name in ("i1", "i2", "i3", "i4"):
        router.add_interaction(name, "q")
        clock.advance(10)
    for offer_id in [router.agent(name).offer_id for name in ("a1", "a2")]:
        router.accept(offer_id or "", connect=True)

    snapshot = router.snapshot()["q"]

    assert snapshot.waiting_count == 2
    assert snapshot.longest_wait == 20
    assert snapshot.agents_by_state == {"busy": 2}
    assert snapshot.staffed == 2
    assert [item.interaction_id for item in snapshot.waiting] == ["i3", "i4"]
    assert [item.estimated_wait for item in snapshot.waiting] == [60, 120]
    assert snapshot.estimated_wait == 180
    assert snapshot.service_level == 0.0


def test_snapshot_without_staff_has_no_estimate() -> None:
    router, _ = make_router({"queues": {"q": {}}}, start=0)
    router.add_interaction("i1", "q")

    snapshot = router.snapshot()["q"]

    assert snapshot.estimated_wait is None
    assert snapshot.waiting[0].estimated_wait is None
    assert snapshot.service_level is None


def test_queue_figures_count_in_enqueue_interval() -> None:
    router, clock = make_router(CONFIG, start=890)
    router.add_interaction("i1", "q")
    clock.advance(20)
    login(router, "a1")
    router.accept(router.agent("a1").offer_id or "", connect=True)

    assert router.stats is not None
    rows = router.stats.queue_intervals(clock.now())
    assert [(row.start, row.offered, row.answered) for row in rows] == [(0, 1, 1)]
    agent_rows = router.stats.agent_intervals(clock.now())
    assert [(row.start, row.answered) for row in agent_rows] == [(900, 1)]


def test_short_abandon_threshold_is_inclusive() -> None:
    router, clock = make_router(CONFIG, start=0)
    router.add_interaction("i1", "q")
    clock.advance(5)
    router.remove_interaction("i1")

    assert router.stats is not None
    [row] = router.stats.queue_intervals(clock.now())
    assert (row.abandoned, row.short_abandoned) == (0, 1)


def test_discard_before_drops_old_rows() -> None:
    router, clock = make_router(CONFIG, start=0)
    router.set_agent_status("a1", "not_ready", "break")
    router.add_interaction("i1", "q")
    clock.advance(1000)
    router.add_interaction("i2", "q")

    assert router.stats is not None
    router.stats.discard_before(900)

    rows = router.stats.queue_intervals(clock.now())
    assert [(row.start, row.offered) for row in rows] == [(900, 1)]
    assert router.stats.totals("q").offered == 2
    agent_rows = router.stats.agent_intervals(clock.now())
    assert [row.start for row in agent_rows] == [900]
