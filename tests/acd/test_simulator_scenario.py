"""Scenario loading, random streams and KPI arithmetic of the simulator."""

from __future__ import annotations

import math
import random
import statistics
from pathlib import Path

import pytest

from acd.sim_kpi import AgentTime, QueueCounts, estimate, interval_kpi, t_quantile_975
from acd.sim_random import BATCH, poisson_arrivals, replication_rngs, sampler
from acd.sim_recorder import KpiRecorder
from acd.sim_scenario import (
    Empirical,
    Exponential,
    Fixed,
    Lognormal,
    NoPatience,
    ScenarioError,
    load_scenario,
    parse_time,
    read_arrival_times,
)

SIMULATIONS = Path(__file__).resolve().parents[2] / "simulations"

MINIMAL = """\
name: minimal
acd:
  queues:
    sales: {wrapup: 0}
arrivals:
  - queue: sales
    poisson: [10, 20]
    handle_time: {distribution: fixed, value: 60}
agent_groups:
  - name: agent
    count: 2
    queues: [sales]
"""


def write(tmp_path: Path, text: str, name: str = "scenario.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "name", ["erlang-c-row1.yaml", "erlang-c-row2.yaml", "contact-centre-day.yaml"]
)
def test_sample_scenarios_load(name: str) -> None:
    scenario = load_scenario(SIMULATIONS / name)

    assert scenario.arrivals
    assert scenario.router_settings().agents


def test_minimal_scenario_defaults(tmp_path: Path) -> None:
    scenario = load_scenario(write(tmp_path, MINIMAL))

    assert scenario.end_time() == 3600.0
    assert isinstance(scenario.arrivals[0].patience, NoPatience)
    assert sorted(scenario.router_settings().agents) == ["agent-001", "agent-002"]
    assert scenario.router_settings().agents["agent-001"].auto_accept
    assert scenario.shifts()["agent-001"][0].end == math.inf


def test_unknown_queue_points_at_line(tmp_path: Path) -> None:
    text = MINIMAL.replace("  - queue: sales", "  - queue: billing")

    with pytest.raises(ScenarioError) as caught:
        load_scenario(write(tmp_path, text))

    assert "unknown queue 'billing'" in str(caught.value)
    assert caught.value.problems[0].position.path.endswith("scenario.yaml")


def test_invalid_distribution_points_at_line(tmp_path: Path) -> None:
    text = MINIMAL.replace("{distribution: fixed, value: 60}", "{distribution: gamma}")

    with pytest.raises(ScenarioError) as caught:
        load_scenario(write(tmp_path, text))

    problem = caught.value.problems[0]
    assert problem.position.line == 8
    assert "handle_time" in problem.message


def test_both_arrival_sources_rejected(tmp_path: Path) -> None:
    text = MINIMAL.replace("    poisson: [10, 20]", "    poisson: [10, 20]\n    csv: a.csv")

    with pytest.raises(ScenarioError, match="exactly one of 'poisson'"):
        load_scenario(write(tmp_path, text))


def test_yaml_syntax_error_has_position(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError) as caught:
        load_scenario(write(tmp_path, "name: [unclosed\n"))

    assert caught.value.problems[0].position.line >= 1


def test_overlapping_shifts_rejected(tmp_path: Path) -> None:
    text = MINIMAL + '    shifts: [{start: "00:00", end: "01:00"}, {start: 1800, end: 7200}]\n'

    with pytest.raises(ScenarioError, match="overlaps"):
        load_scenario(write(tmp_path, text))


def test_touching_shifts_merge(tmp_path: Path) -> None:
    text = MINIMAL + '    shifts: [{start: "01:00", end: "02:00"}, {start: 0, end: 3600}]\n'

    scenario = load_scenario(write(tmp_path, text))

    shifts = scenario.shifts()["agent-001"]
    assert [(shift.start, shift.end) for shift in shifts] == [(0.0, 7200.0)]


def test_parse_time_forms() -> None:
    assert parse_time("08:30") == 8 * 3600 + 30 * 60
    assert parse_time("00:00:45") == 45
    assert parse_time(12.5) == 12.5
    with pytest.raises(ValueError, match="HH:MM"):
        parse_time("8h30")


def test_csv_arrivals_header_and_order(tmp_path: Path) -> None:
    path = write(tmp_path, "time\n30\n10.5\n\n20\n", "arrivals.csv")

    assert read_arrival_times(path) == [10.5, 20.0, 30.0]


def test_csv_arrivals_bad_row(tmp_path: Path) -> None:
    path = write(tmp_path, "time\n30\nsoon\n", "arrivals.csv")

    with pytest.raises(ScenarioError) as caught:
        read_arrival_times(path)

    assert caught.value.problems[0].position.line == 3


def test_replication_streams_repeatable() -> None:
    first = replication_rngs(5, 0)
    again = replication_rngs(5, 0)
    other = replication_rngs(5, 1)

    assert first["arrivals"].random() == again["arrivals"].random()
    assert first["patience"].random() != other["patience"].random()
    assert first["arrivals"].random() != first["handle_time"].random()


def test_lognormal_sampler_moments() -> None:
    draw = sampler(Lognormal(distribution="lognormal", mean=240, sd=150), random.Random(3))

    values = [draw() for _ in range(40_000)]

    assert statistics.fmean(values) == pytest.approx(240, rel=0.03)
    assert statistics.stdev(values) == pytest.approx(150, rel=0.06)


def test_other_samplers() -> None:
    rng = random.Random(4)
    exponential = sampler(Exponential(distribution="exponential", mean=60), rng)
    empirical = sampler(Empirical(distribution="empirical", values=[1, 2, 3]), rng)

    assert statistics.fmean(exponential() for _ in range(20_000)) == pytest.approx(60, rel=0.04)
    assert {empirical() for _ in range(200)} == {1.0, 2.0, 3.0}
    assert sampler(Fixed(distribution="fixed", value=7), rng)() == 7
    assert sampler(NoPatience(distribution="none"), rng)() == math.inf


def test_poisson_arrivals_per_interval() -> None:
    times = list(poisson_arrivals([500, 0, 1000], 100.0, 50.0, random.Random(9)))

    first = [t for t in times if 50 <= t < 150]
    second = [t for t in times if 150 <= t < 250]
    third = [t for t in times if 250 <= t < 350]
    assert len(first) + len(second) + len(third) == len(times)
    assert second == []
    assert len(first) == pytest.approx(500, abs=4 * math.sqrt(500))
    assert len(third) == pytest.approx(1000, abs=4 * math.sqrt(1000))
    assert times == sorted(times)


def test_t_quantiles() -> None:
    assert t_quantile_975(9) == 2.262
    assert t_quantile_975(35) == 2.042
    assert t_quantile_975(500) == 1.960


def test_estimate_confidence_interval() -> None:
    result = estimate([1.0, 2.0, 3.0, math.nan])

    assert result.mean == 2.0
    assert result.half_width == pytest.approx(4.303 * 1.0 / math.sqrt(3))
    assert math.isnan(estimate([1.0]).half_width)
    assert math.isnan(estimate([]).mean)


def test_interval_kpi_ratios() -> None:
    counts = QueueCounts(offered=10, answered=8, abandoned=2, answered_within=6, delayed=4)
    counts.wait_sum = 80.0
    counts.handle_sum = 1600.0
    time = AgentTime(busy=900.0, idle=300.0, logged_in=1800.0)

    kpi = interval_kpi(0.0, "sales", counts, time, 900.0)

    assert kpi.service_level == 0.6
    assert kpi.p_wait == 0.5
    assert kpi.asa == 10.0
    assert kpi.abandon_rate == 0.2
    assert kpi.occupancy == 0.75
    assert kpi.agents == 2.0
    assert kpi.aht == 200.0


def test_recorder_splits_agent_time() -> None:
    recorder = KpiRecorder(0.0, 100.0, 200.0, 0.0, {"sales": 20.0})

    recorder.agent_status("a", "available", 50.0)
    recorder.agent_state("a", "busy", 80.0)
    recorder.agent_state("a", "idle", 130.0)
    rows = recorder.finish(300.0)

    by_start = {(row.start, row.queue): row for row in rows}
    assert by_start[(0.0, "*")].occupancy == pytest.approx(20 / 50)
    assert by_start[(100.0, "*")].occupancy == pytest.approx(30 / 100)
    assert by_start[(0.0, "*")].agents == pytest.approx(0.5)
    assert by_start[(-1.0, "*")].agents == pytest.approx(150 / 200)
    assert [row.queue for row in rows[:2]] == ["sales", "*"]


def test_csv_times_count_from_stream_start(tmp_path: Path) -> None:
    write(tmp_path, "time\n0\n1900\n", "arrivals.csv")
    text = MINIMAL.replace("    poisson: [10, 20]", "    csv: arrivals.csv\n    start: '08:10'")
    text = "start: '08:00'\n" + text

    scenario = load_scenario(write(tmp_path, text))

    stream = scenario.arrivals[0]
    assert scenario.csv_arrivals(stream) == [29400.0, 31300.0]
    # The last arrival falls in the second half-hour interval, which ends at 09:00.
    assert scenario.end_time() == 32400.0


def test_stream_before_scenario_start_rejected(tmp_path: Path) -> None:
    text = "start: '08:00'\n" + MINIMAL.replace(
        "    poisson: [10, 20]", "    poisson: [10, 20]\n    start: '07:00'"
    )

    with pytest.raises(ScenarioError, match="before the scenario's start"):
        load_scenario(write(tmp_path, text))


def test_shifts_before_start_are_clipped(tmp_path: Path) -> None:
    text = "start: '08:00'\n" + MINIMAL
    text += "    shifts: [{start: '06:00', end: '07:00'}, {start: '07:30', end: '09:00'}]\n"

    scenario = load_scenario(write(tmp_path, text))

    shifts = scenario.shifts()["agent-001"]
    assert [(shift.start, shift.end) for shift in shifts] == [(28800.0, 32400.0)]


def test_batched_sampler_repeats_across_batches() -> None:
    spec = Exponential(distribution="exponential", mean=60)
    first = sampler(spec, random.Random(8))
    again = sampler(spec, random.Random(8))
    other = sampler(spec, random.Random(9))

    drawn = [first() for _ in range(BATCH + 10)]

    assert drawn == [again() for _ in range(BATCH + 10)]
    assert drawn[:10] != [other() for _ in range(10)]
    assert len(set(drawn)) == len(drawn)
