"""Erlang C and Erlang A against published rows and their own identities."""

from __future__ import annotations

import math

import pytest

from acd.erlang import (
    ErlangError,
    Workload,
    erlang_a_metrics,
    erlang_b,
    erlang_c,
    erlang_c_metrics,
    staff_erlang_a,
    staff_erlang_c,
)

# Published Erlang C rows: calls per 30 minutes, AHT, agents, threshold, then the figures.
PUBLISHED_ROWS = [
    (100, 180, 14, 20, 0.1741, 0.8884, 7.84, 0.714),
    (360, 240, 55, 15, 0.2387, 0.8459, 8.18, 48 / 55),
]


@pytest.mark.parametrize(
    ("calls", "aht", "agents", "threshold", "p_wait", "service_level", "asa", "occupancy"),
    PUBLISHED_ROWS,
)
def test_erlang_c_published_rows(
    calls: int,
    aht: int,
    agents: int,
    threshold: int,
    p_wait: float,
    service_level: float,
    asa: float,
    occupancy: float,
) -> None:
    result = erlang_c_metrics(Workload(calls, 1800, aht), agents, threshold)

    assert result.p_wait == pytest.approx(p_wait, abs=5e-5)
    assert result.service_level == pytest.approx(service_level, abs=5e-5)
    assert result.asa == pytest.approx(asa, abs=5e-3)
    assert result.occupancy == pytest.approx(occupancy, abs=5e-4)


def test_erlang_b_small_case() -> None:
    # B(2, 1) = (1/2) / (1 + 1 + 1/2) = 0.2
    assert erlang_b(2, 1.0) == pytest.approx(0.2)


def test_erlang_c_closed_form() -> None:
    # C(2, 1) = (A^N/N! · N/(N-A)) / (1 + A + A^N/N! · N/(N-A)) = 1 / 3
    assert erlang_c(2, 1.0) == pytest.approx(1 / 3)


def test_erlang_c_overloaded_always_waits() -> None:
    assert erlang_c(5, 5.0) == 1.0
    assert erlang_c(0, 0.0) == 1.0


def test_erlang_c_metrics_rejects_overload() -> None:
    with pytest.raises(ErlangError, match=r"cannot carry 10\.00 Erlangs"):
        erlang_c_metrics(Workload(100, 1800, 180), 10, 20)


def test_workload_rejects_bad_values() -> None:
    with pytest.raises(ErlangError, match="interval"):
        Workload(10, 0, 180)
    with pytest.raises(ErlangError, match="AHT"):
        Workload(10, 1800, -1)
    with pytest.raises(ErlangError, match="calls"):
        Workload(-1, 1800, 180)


def test_staff_erlang_c_reaches_target() -> None:
    staffing = staff_erlang_c(Workload(100, 1800, 180), 20, 0.8)

    assert staffing.agents == 14
    assert staffing.metrics.service_level >= 0.8
    assert erlang_c_metrics(Workload(100, 1800, 180), 13, 20).service_level < 0.8


def test_staff_erlang_c_shrinkage_rounds_up() -> None:
    staffing = staff_erlang_c(Workload(100, 1800, 180), 20, 0.8, shrinkage=0.3)

    assert staffing.scheduled == math.ceil(14 / 0.7)


def test_staff_erlang_c_extra_conditions() -> None:
    workload = Workload(100, 1800, 180)

    by_asa = staff_erlang_c(workload, 20, 0.8, max_asa=5.0)
    by_occupancy = staff_erlang_c(workload, 20, 0.8, max_occupancy=0.7)

    assert by_asa.metrics.asa <= 5.0
    assert erlang_c_metrics(workload, by_asa.agents - 1, 20).asa > 5.0
    assert by_occupancy.agents == 15


def test_staff_rejects_bad_target_and_shrinkage() -> None:
    workload = Workload(100, 1800, 180)
    with pytest.raises(ErlangError, match="target"):
        staff_erlang_c(workload, 20, 1.5)
    with pytest.raises(ErlangError, match="shrinkage"):
        staff_erlang_c(workload, 20, 0.8, shrinkage=1.0)


def test_erlang_a_infinite_patience_is_erlang_c() -> None:
    workload = Workload(360, 1800, 240)

    erlang_a = erlang_a_metrics(workload, 55, 15, patience=1e12)
    erlang_c_result = erlang_c_metrics(workload, 55, 15)

    assert erlang_a.p_wait == pytest.approx(erlang_c_result.p_wait, rel=1e-6)
    assert erlang_a.service_level == pytest.approx(erlang_c_result.service_level, rel=1e-6)
    assert erlang_a.asa == pytest.approx(erlang_c_result.asa, rel=1e-6)
    assert erlang_a.p_abandon == pytest.approx(0.0, abs=1e-6)


def test_erlang_a_abandon_matches_queue_length() -> None:
    # Callers in queue abandon at rate θ each, so the abandon share is θ·E[Q] / λ.
    workload = Workload(100, 1800, 180)
    patience = 60.0

    result = erlang_a_metrics(workload, 9, 20, patience)

    expected = result.mean_queue_length / patience / workload.arrival_rate
    assert result.p_abandon == pytest.approx(expected, rel=1e-9)


def test_erlang_a_single_agent_closed_form() -> None:
    # M/M/1+M with θ = μ: the system is an M/M/∞ in disguise, so the number of calls
    # is Poisson(A). P(wait) = 1 - e^-A, and P(abandon) = θ·E[Q]/λ with E[Q] = A - 1 + e^-A.
    workload = Workload(1, 2.0, 2.0)  # λ = 0.5/s, AHT 2 s, A = 1
    result = erlang_a_metrics(workload, 1, 5, patience=2.0)

    assert result.p_wait == pytest.approx(1 - math.exp(-1.0), rel=1e-9)
    expected_queue = 1.0 - 1.0 + math.exp(-1.0)
    assert result.mean_queue_length == pytest.approx(expected_queue, rel=1e-9)
    assert result.p_abandon == pytest.approx(0.5 * expected_queue / 0.5, rel=1e-9)


def test_erlang_a_stays_finite_when_overloaded() -> None:
    result = erlang_a_metrics(Workload(100, 1800, 180), 8, 20, patience=60)

    assert 0.0 < result.p_abandon < 1.0
    assert 0.0 < result.service_level < 1.0
    assert result.occupancy <= 1.0


def test_erlang_a_service_level_grows_with_threshold() -> None:
    workload = Workload(100, 1800, 180)
    levels = [erlang_a_metrics(workload, 10, t, 90).service_level for t in (0, 10, 30, 120)]

    assert levels == sorted(levels)
    assert levels[0] == pytest.approx(1 - erlang_a_metrics(workload, 10, 0, 90).p_wait)


def test_staff_erlang_a_is_fewest_agents() -> None:
    workload = Workload(100, 1800, 180)

    staffing = staff_erlang_a(workload, 20, 0.8, 60, max_abandon=0.05)

    assert staffing.metrics.service_level >= 0.8
    assert isinstance(staffing.metrics, type(erlang_a_metrics(workload, 1, 20, 60)))
    assert staffing.metrics.p_abandon <= 0.05
    fewer = erlang_a_metrics(workload, staffing.agents - 1, 20, 60)
    assert fewer.service_level < 0.8 or fewer.p_abandon > 0.05


def test_erlang_a_rejects_bad_patience() -> None:
    with pytest.raises(ErlangError, match="patience"):
        erlang_a_metrics(Workload(100, 1800, 180), 10, 20, patience=0)
