"""Pure KPI, occupancy and interval functions, without a database."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from santral.reports.kpis import (
    Facts,
    KpiParameters,
    compute_kpis,
    find_repeat_contacts,
    normalize_caller,
)
from santral.reports.occupancy import build_segments, occupancy
from santral.reports.report import interval_bounds, interval_start

PARAMETERS = KpiParameters(service_level_seconds=20, short_abandon_seconds=5,
                           fcr_window_seconds=86400)


def _fact(
    name: str, wait: float, *, answered: bool = True, outcome: str = "answered",
    caller: str = "+901", call_id: str = "", talk: float | None = 60.0,
) -> Facts:
    return Facts(
        id=name, call_id=call_id or name, channel="voice", caller=caller, queue="q",
        agent_id="a" if answered else "", enqueued_at=1000.0,
        answered_at=1000.0 + wait if answered else None,
        ended_at=1000.0 + wait + 60 if answered else 1000.0 + wait,
        talk_seconds=talk if answered else None, hold_seconds=0.0, wrapup_seconds=None,
        outcome=outcome, transferred=False,
    )


def test_empty_group_has_no_rates() -> None:
    kpis = compute_kpis([], PARAMETERS)

    assert kpis.offered == 0
    assert kpis.service_level is None
    assert kpis.asa is None
    assert kpis.csat is None


def test_short_abandon_boundary() -> None:
    facts = [
        _fact("a", 5.0, answered=False, outcome="abandoned_in_queue"),
        _fact("b", 5.5, answered=False, outcome="abandoned_in_queue"),
        _fact("c", 20.0),
    ]
    kpis = compute_kpis(facts, PARAMETERS)

    assert kpis.short_abandoned == 1
    assert kpis.abandoned == 1
    assert kpis.answered_within_threshold == 1  # a wait of exactly T counts as within
    assert kpis.service_level == pytest.approx(1 / 2)
    assert kpis.service_level_late_abandons == 1


def test_aht_skips_unfinished_talk() -> None:
    facts = [_fact("a", 1.0, talk=100.0), _fact("b", 1.0, talk=None)]
    kpis = compute_kpis(facts, PARAMETERS)

    assert kpis.answered == 2
    assert kpis.aht == 100.0


def test_csat_ignores_out_of_scale() -> None:
    kpis = compute_kpis([_fact("a", 1.0)], PARAMETERS, survey_scores=[5, 4, 2, 0, 9])

    assert kpis.survey_answers == 3
    assert kpis.csat == pytest.approx(2 / 3)
    assert kpis.csat_mean == pytest.approx(11 / 3)


def test_repeat_contacts_skip_same_call() -> None:
    facts = [_fact("first", 1.0, call_id="c1"), _fact("other", 1.0, caller="+902")]
    contacts = [
        ("+90 1", "c1", 1500.0),  # an overflow leg of the same call
        ("+902", "c9", 1000.0 + 86400 + 1),  # after the window
    ]

    assert find_repeat_contacts(facts, contacts, 86400) == frozenset()
    assert find_repeat_contacts(facts, [("(+90)1", "c2", 2000.0)], 86400) == {"first"}


@pytest.mark.parametrize("caller", ["", "anonymous", "Restricted"])
def test_anonymous_callers_never_match(caller: str) -> None:
    assert normalize_caller(caller) == ""


def test_occupancy_from_changes() -> None:
    changes = [
        {"agent_id": "a", "ts": 100.0, "kind": "state", "new": "busy"},
        {"agent_id": "a", "ts": 400.0, "kind": "state", "new": "idle"},
        {"agent_id": "a", "ts": 700.0, "kind": "status", "new": "not_ready"},
    ]
    segments = build_segments(changes, {"a": {"status": "available", "state": "idle"}},
                              0.0, 1000.0)

    assert occupancy(segments, 0.0, 1000.0) == pytest.approx(300 / 700)
    assert occupancy(segments, 700.0, 1000.0) is None


def test_day_intervals_follow_dst() -> None:
    zone = ZoneInfo("America/New_York")
    start = interval_start(1710072000.0, 1440, zone)  # 2024-03-10 08:00 EDT, a 23-hour day
    bounds = interval_bounds(start, start + 2 * 86400, 1440, zone)

    assert bounds[0][1] - bounds[0][0] == 23 * 3600
    assert bounds[1][1] - bounds[1][0] == 24 * 3600


facts_strategy = st.lists(
    st.builds(
        _fact,
        name=st.uuids().map(str),
        wait=st.floats(min_value=0, max_value=600),
        answered=st.booleans(),
        outcome=st.sampled_from(["answered", "abandoned_in_queue", "overflowed", "timeout"]),
    ),
    max_size=30,
)


@settings(max_examples=60, deadline=None)
@given(facts=facts_strategy, scores=st.lists(st.integers(min_value=0, max_value=6)))
def test_kpi_invariants(facts: list[Facts], scores: list[int]) -> None:
    kpis = compute_kpis(facts, PARAMETERS, survey_scores=scores)

    assert kpis.answered + kpis.abandoned + kpis.short_abandoned <= kpis.offered
    assert kpis.answered_within_threshold <= kpis.answered
    for rate in (kpis.service_level, kpis.service_level_late_abandons, kpis.abandon_rate,
                 kpis.fcr, kpis.csat, kpis.transfer_rate):
        assert rate is None or 0.0 <= rate <= 1.0
    if kpis.service_level is not None and kpis.service_level_late_abandons is not None:
        assert kpis.service_level <= kpis.service_level_late_abandons
