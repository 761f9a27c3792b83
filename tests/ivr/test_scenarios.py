"""Every shipped scenario passes, and the scenarios cover every edge of the sample IVR."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from ivr import validation
from ivr.dialplans import DialplanSet
from ivr.loader import load_dialplans
from ivr.scenarios import (
    Expectation,
    ScenarioResult,
    compare,
    load_scenarios,
    run_file,
    scenario_files,
)
from ivr.settings import IvrSettings
from ivr.simulator import Transcript
from tests.ivr.conftest import REPOSITORY, SHIPPED_DIALPLANS

FILES = scenario_files(SHIPPED_DIALPLANS)
CASES = [
    pytest.param(path, index, id=f"{path.name}:{scenario.name}")
    for path in FILES
    for index, scenario in enumerate(load_scenarios(path)[1].scenarios)
]


def test_scenario_files_are_shipped() -> None:
    assert FILES


@pytest.fixture(scope="module")
def shipped_set() -> DialplanSet:
    settings = IvrSettings(dialplans=SHIPPED_DIALPLANS, recordings=REPOSITORY / "recordings")
    return load_dialplans(SHIPPED_DIALPLANS, settings)


@pytest.fixture(scope="module")
def results(shipped_set: DialplanSet) -> dict[Path, list[ScenarioResult]]:
    return {path: run_file(path, shipped_set) for path in FILES}


@pytest.mark.parametrize(("path", "index"), CASES)
def test_shipped_scenario(
    results: dict[Path, list[ScenarioResult]], path: Path, index: int
) -> None:
    result = results[path][index]

    assert result.failures == [], f"{result.position}: {result.name}"


def test_scenarios_cover_every_edge(
    shipped_set: DialplanSet, results: dict[Path, list[ScenarioResult]]
) -> None:
    visited_edges: set[tuple[str, str]] = set()
    for file_results in results.values():
        for result in file_results:
            assert result.transcript is not None
            visited_edges.update(itertools.pairwise(result.transcript.path))

    graph = validation.edges(shipped_set)
    missing = [(node, target) for node, targets in graph.items() for target in targets]

    assert [edge for edge in missing if edge not in visited_edges] == []


def test_failed_expectations_are_listed() -> None:
    expect = Expectation(
        outcome="transfer", queue={"queue": "sales"}, variables={"vip": True}, path=["a.x"]
    )

    failures = compare(expect, Transcript(outcome="hangup"))

    assert failures == [
        "outcome: expected 'transfer', got 'hangup'",
        "queue: expected {'queue': 'sales'}, but the call was never queued",
        "variable vip: expected True, got None",
        "path: expected 'a.x' (in this order: ['a.x']), got []",
    ]


def test_invalid_scenario_file_has_positions(tmp_path: Path) -> None:
    from santral.errors import SourceError

    path = tmp_path / "bad.test.yaml"
    path.write_text(
        "scenarios:\n  - name: no expectation\n    keys: '1'\n    queue: [lost]\n",
        encoding="utf-8",
    )

    with pytest.raises(SourceError) as raised:
        load_scenarios(path)

    positions = sorted(str(problem.position) for problem in raised.value.problems)
    assert positions == [f"{path}:2:5", f"{path}:4:13"]
