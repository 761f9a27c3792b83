"""Scenario files: scripted calls with expected outcomes, run by ``santral test``.

A scenario file sits next to the dialplans and ends in ``.test.yaml``::

    scenarios:
      - name: VIP billing customer reaches the VIP queue
        called: "100"
        at: "2026-12-07T10:00:00+03:00"
        keys: "1 1 79927398713# 1"      # one token per gather; "-" presses nothing
        http:
          - url: "*/customers/79927398713"
            body: {customer: {name: Ayşe, vip: true}}
        expect:
          outcome: queue
          queue: {queue: billing, priority: 10}
          variables: {vip: true}
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ivr.actions import CallInfo, SurveyAnswer
from ivr.dialplans import DialplanSet
from ivr.simulator import (
    DEFAULT_GAP,
    FakeHttpReply,
    KeyInput,
    Simulator,
    Transcript,
    parse_keys,
    scripted_keys,
)
from ivr.sources import YamlDocument, YamlProblem, read_yaml
from santral.clock import VirtualClock
from santral.errors import Problem, SourceError, SourcePosition

SCENARIO_SUFFIX = ".test.yaml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class KeyStep(_Strict):
    keys: str = ""
    gap: float = Field(default=DEFAULT_GAP, ge=0, le=120, description="Seconds between keys")
    hang_up: bool = False


class HttpReply(_Strict):
    url: str
    method: str | None = None
    status: int = 200
    body: Any = None
    error: Literal["", "timeout", "connection", "invalid_json"] = ""


class Expectation(_Strict):
    outcome: Literal["hangup", "transfer", "queue", "caller_hangup"] | None = None
    hangup_reason: str | None = None
    transfer: str | None = None
    queue: dict[str, Any] | None = None
    variables: dict[str, Any] = Field(default_factory=dict)
    path: list[str] = Field(default_factory=list)
    not_path: list[str] = Field(default_factory=list)
    prompts: list[str] = Field(default_factory=list)
    survey: dict[str, int] = Field(default_factory=dict)
    recording: bool | None = None


class Scenario(_Strict):
    name: str
    call_id: str = "test-call"
    caller: str = "+905550000000"
    called: str = "100"
    entry: str | None = None
    at: dt.datetime | str = "2026-12-07T10:00:00+03:00"
    language: str = ""
    variables: dict[str, Any] = Field(default_factory=dict)
    keys: str | list[str | KeyStep] = ""
    http: list[HttpReply] = Field(default_factory=list)
    queue: list[Literal["answered", "overflow", "timeout", "no_agents", "full", "left"]] = Field(
        default_factory=list
    )
    expect: Expectation


class ScenarioFile(_Strict):
    scenarios: list[Scenario] = Field(min_length=1)


@dataclass(frozen=True)
class ScenarioResult:
    name: str
    position: SourcePosition
    failures: list[str] = field(default_factory=list)
    transcript: Transcript | None = None

    @property
    def passed(self) -> bool:
        return not self.failures


def scenario_files(source: Path | str | list[Path]) -> list[Path]:
    paths = [Path(source)] if isinstance(source, str | Path) else source
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(path.glob(f"*{SCENARIO_SUFFIX}")))
        elif path.name.endswith(SCENARIO_SUFFIX):
            files.append(path)
    return files


def load_scenarios(path: Path) -> tuple[YamlDocument, ScenarioFile]:
    """Read a scenario file; raise ``SourceError`` with positions if it is invalid."""
    try:
        document = read_yaml(path)
    except YamlProblem as error:
        raise SourceError([error.problem]) from error
    try:
        return document, ScenarioFile.model_validate(document.data)
    except ValidationError as error:
        problems = [
            Problem(document.position(item["loc"]), f"{item['loc'][-1]}: {item['msg']}")
            for item in error.errors()
        ]
        raise SourceError(problems) from error


def run_file(path: Path, dialplans: DialplanSet) -> list[ScenarioResult]:
    document, parsed = load_scenarios(path)
    results = []
    for index, scenario in enumerate(parsed.scenarios):
        position = document.position(("scenarios", index), key=True)
        results.append(run_scenario(scenario, dialplans, position))
    return results


def run_scenario(
    scenario: Scenario, dialplans: DialplanSet, position: SourcePosition
) -> ScenarioResult:
    clock = VirtualClock(_timestamp(scenario.at))
    simulator = Simulator(
        dialplans,
        clock,
        scripted_keys(key_inputs(scenario.keys)),
        http=[FakeHttpReply(**reply.model_dump()) for reply in scenario.http],
        queue_results=scenario.queue,
    )
    call = CallInfo(
        call_id=scenario.call_id,
        caller=scenario.caller,
        called=scenario.called,
        language=scenario.language,
        variables=dict(scenario.variables),
    )
    try:
        transcript = simulator.run(call, scenario.entry)
    except Exception as error:  # report the scenario, keep running the others
        return ScenarioResult(scenario.name, position, [f"the call raised {error!r}"])
    failures = compare(scenario.expect, transcript)
    return ScenarioResult(scenario.name, position, failures, transcript)


def key_inputs(keys: str | list[str | KeyStep]) -> list[KeyInput]:
    if isinstance(keys, str):
        return parse_keys(keys)
    inputs: list[KeyInput] = []
    for step in keys:
        if isinstance(step, str):
            inputs.extend(parse_keys(step) or [KeyInput()])
        else:
            inputs.append(KeyInput(step.keys, step.gap, step.hang_up))
    return inputs


def _timestamp(at: dt.datetime | str) -> float:
    moment = at if isinstance(at, dt.datetime) else dt.datetime.fromisoformat(at)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.timestamp()


def compare(expect: Expectation, transcript: Transcript) -> list[str]:
    """Return one message per expectation the call did not meet."""
    failures: list[str] = []
    _check(failures, "outcome", expect.outcome, transcript.outcome)
    _check(failures, "hangup reason", expect.hangup_reason, transcript.hangup_reason)
    _check(failures, "transfer target", expect.transfer, transcript.transfer)
    failures += _compare_queue(expect.queue, transcript)
    failures += _compare_variables(expect.variables, transcript.variables)
    failures += _compare_sequence("path", expect.path, transcript.path)
    failures += [f"path visited {node!r}" for node in expect.not_path if node in transcript.path]
    failures += _compare_sequence("prompts", expect.prompts, _played(transcript))
    answers = {answer.question: answer.score for answer in transcript.of_type(SurveyAnswer)}
    failures += _compare_variables(expect.survey, answers, label="survey answer")
    if expect.recording is not None:
        recorded = any(event.kind == "recording_finished" for _, event in transcript.events)
        _check(failures, "recording", expect.recording, recorded)
    return failures


def _check(failures: list[str], label: str, expected: Any, actual: Any) -> None:
    if expected is not None and expected != actual:
        failures.append(f"{label}: expected {expected!r}, got {actual!r}")


def _compare_queue(expected: dict[str, Any] | None, transcript: Transcript) -> list[str]:
    if expected is None:
        return []
    if not transcript.enqueued:
        return [f"queue: expected {expected!r}, but the call was never queued"]
    actual = transcript.enqueued[-1].to_dict()
    return [
        f"queue {key}: expected {value!r}, got {actual.get(key)!r}"
        for key, value in expected.items()
        if actual.get(key) != value
    ]


def _compare_variables(
    expected: dict[str, Any], actual: dict[str, Any], *, label: str = "variable"
) -> list[str]:
    return [
        f"{label} {name}: expected {value!r}, got {actual.get(name)!r}"
        for name, value in expected.items()
        if actual.get(name) != value
    ]


def _compare_sequence(label: str, expected: list[str], actual: list[str]) -> list[str]:
    """Check that ``expected`` appears in ``actual`` in order (other items may come between)."""
    remaining = iter(actual)
    for item in expected:
        if not any(item == candidate for candidate in remaining):
            return [f"{label}: expected {item!r} (in this order: {expected}), got {actual}"]
    return []


def _played(transcript: Transcript) -> list[str]:
    names = []
    for _, action in transcript.actions:
        prompts = [*getattr(action, "prompts", []), *getattr(action, "hold_prompts", [])]
        for prompt in prompts:
            if prompt.type == "file":
                names.append(prompt.value)
    return names
