"""Simulation scenarios: the YAML model and its loader.

A scenario is the router's own ``acd:`` settings plus what the live engine gets from the
outside world: when interactions arrive, how long agents handle them, how long callers
wait before they hang up, and when agents work. Times are seconds from the start of the
simulated day, or ``"HH:MM"`` strings.

    name: Retail contact centre
    interval: 1800
    acd:
      queues:
        sales: {service_level_threshold: 20, wrapup: 0}
    arrivals:
      - queue: sales
        skills: {sales: 1}
        poisson: [100, 120, 140]          # calls per interval, from the start
        handle_time: {distribution: exponential, mean: 180}
        patience: {distribution: exponential, mean: 90}
    agent_groups:
      - name: sales
        count: 14
        skills: {sales: 5}
        queues: [sales]
        shifts: [{start: "00:00", end: "01:30"}]
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Annotated, Any, Literal

import pydantic
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError

from acd.settings import AcdSettings, AgentSettings
from santral.errors import Problem, SourceError, SourcePosition


class ScenarioError(SourceError):
    """A simulation scenario or a file it names is invalid."""


def parse_time(value: float | int | str) -> float:
    """Return seconds from a number of seconds or an ``"HH:MM"`` / ``"HH:MM:SS"`` string."""
    if isinstance(value, int | float):
        return float(value)
    parts = value.split(":")
    if not 2 <= len(parts) <= 3 or not all(part.isdigit() for part in parts):
        raise ValueError(f"invalid time {value!r}; write seconds or HH:MM or HH:MM:SS")
    hours, minutes, *seconds = (int(part) for part in parts)
    return hours * 3600.0 + minutes * 60.0 + (seconds[0] if seconds else 0)


TimeOfDay = Annotated[float, pydantic.BeforeValidator(parse_time)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Exponential(_Model):
    """Exponentially distributed durations with mean ``mean`` seconds."""

    distribution: Literal["exponential"]
    mean: float = Field(gt=0)


class Lognormal(_Model):
    """Lognormal durations given by their own mean and standard deviation in seconds."""

    distribution: Literal["lognormal"]
    mean: float = Field(gt=0)
    sd: float = Field(gt=0)


class Empirical(_Model):
    """Durations drawn with equal probability from observed ``values`` (seconds)."""

    distribution: Literal["empirical"]
    values: list[Annotated[float, Field(ge=0)]] = Field(min_length=1)


class Fixed(_Model):
    """Every duration is exactly ``value`` seconds."""

    distribution: Literal["fixed"]
    value: float = Field(ge=0)


class NoPatience(_Model):
    """Callers never hang up while they wait."""

    distribution: Literal["none"]


Duration = Annotated[
    Exponential | Lognormal | Empirical | Fixed, Field(discriminator="distribution")
]
Patience = Annotated[
    Exponential | Lognormal | Empirical | Fixed | NoPatience, Field(discriminator="distribution")
]


class ArrivalStream(_Model):
    """Interactions of one kind arriving at one queue.

    Give either ``poisson`` (expected arrivals per interval, from ``start``, by default the
    scenario's start) or ``csv`` (a file of arrival times in seconds after ``start``, one
    per row in its first column, resolved against the scenario's folder).
    """

    queue: str
    channel: Literal["voice", "chat", "email"] = "voice"
    skills: dict[str, int] = Field(default_factory=dict)
    language: str = ""
    priority: int = 0
    start: TimeOfDay | None = None
    poisson: list[Annotated[float, Field(ge=0)]] | None = None
    csv: str | None = None
    handle_time: Duration
    patience: Patience = NoPatience(distribution="none")

    @model_validator(mode="after")
    def _one_source(self) -> ArrivalStream:
        if (self.poisson is None) == (self.csv is None):
            raise ValueError("give exactly one of 'poisson' (calls per interval) or 'csv'")
        return self


class Shift(_Model):
    """An agent works from ``start`` to ``end``; a call in progress at ``end`` finishes."""

    start: TimeOfDay
    end: TimeOfDay

    @model_validator(mode="after")
    def _ordered(self) -> Shift:
        if self.end <= self.start:
            raise ValueError(f"shift ends at {self.end} s, not after its start {self.start} s")
        return self


class AgentGroup(_Model):
    """``count`` agents with the same skills and shifts, named ``<name>-001`` and up."""

    name: str = Field(min_length=1)
    count: int = Field(ge=0)
    skills: dict[str, int] = Field(default_factory=dict)
    languages: list[str] = Field(default_factory=list)
    queues: list[str] = Field(default_factory=list)
    capacity: dict[Literal["voice", "chat", "email"], int] | None = None
    shifts: list[Shift] = Field(default_factory=list)

    @field_validator("shifts")
    @classmethod
    def _merge_shifts(cls, shifts: list[Shift]) -> list[Shift]:
        # Touching shifts become one, so the agent does not log out and in at the seam.
        merged: list[Shift] = []
        for shift in sorted(shifts, key=lambda shift: shift.start):
            if merged and shift.start < merged[-1].end:
                raise ValueError(
                    f"shift starting at {shift.start} s overlaps the shift ending at "
                    f"{merged[-1].end} s; make shifts of one group disjoint"
                )
            if merged and shift.start == merged[-1].end:
                merged[-1] = Shift(start=merged[-1].start, end=shift.end)
            else:
                merged.append(shift)
        return merged

    def agent_ids(self) -> list[str]:
        """Return the ids of the generated agents."""
        return [f"{self.name}-{number:03d}" for number in range(1, self.count + 1)]

    def agent_settings(self) -> AgentSettings:
        """Return the router settings every agent of the group shares."""
        fields: dict[str, Any] = {
            "name": self.name,
            "skills": self.skills,
            "languages": self.languages,
            "queues": self.queues,
            "auto_accept": True,
        }
        if self.capacity is not None:
            fields["capacity"] = self.capacity
        return AgentSettings(**fields)


class Scenario(_Model):
    """A whole simulated period: router settings, arrivals, agents and the run parameters.

    The virtual clock starts at ``start`` (time of day) and KPI intervals of ``interval``
    seconds count from there. ``warm_up`` seconds after the start are simulated but left
    out of the totals, so an empty contact centre at the start does not flatter them.
    ``end`` (time of day) defaults to the end of the last arrival interval or shift.
    ``answer_delay`` is the time from an offer until the agent accepts.
    """

    name: str = "simulation"
    start: TimeOfDay = 0.0
    interval: float = Field(default=1800.0, gt=0)
    end: TimeOfDay | None = None
    warm_up: float = Field(default=0.0, ge=0)
    seed: int = 1
    replications: int = Field(default=1, ge=1, le=10_000)
    answer_delay: float = Field(default=0.0, ge=0)
    acd: AcdSettings = Field(default_factory=AcdSettings)
    arrivals: list[ArrivalStream] = Field(min_length=1)
    agent_groups: list[AgentGroup] = Field(default_factory=list)
    folder: str = Field(default=".", exclude=True)

    @field_validator("acd", mode="before")
    @classmethod
    def _empty_acd(cls, value: Any) -> Any:
        return {} if value is None else value

    @model_validator(mode="after")
    def _references_exist(self) -> Scenario:
        for stream in self.arrivals:
            if stream.start is not None and stream.start < self.start:
                raise ValueError(
                    f"arrivals for {stream.queue!r} start at {stream.start} s, before the "
                    f"scenario's start {self.start} s; move one of them"
                )
            if stream.queue not in self.acd.queues:
                raise ValueError(
                    f"arrivals name unknown queue {stream.queue!r}; "
                    f"define it under acd.queues (known: {sorted(self.acd.queues)})"
                )
        for group in self.agent_groups:
            unknown = [queue for queue in group.queues if queue not in self.acd.queues]
            if unknown:
                raise ValueError(f"agent group {group.name!r} lists unknown queues {unknown}")
        if self.end is not None and self.end <= self.start:
            raise ValueError(f"end {self.end} s is not after start {self.start} s")
        return self

    def router_settings(self) -> AcdSettings:
        """Return the ``acd:`` settings with every agent group's agents added."""
        agents = dict(self.acd.agents)
        for group in self.agent_groups:
            settings = group.agent_settings()
            for agent_id in group.agent_ids():
                agents[agent_id] = settings
        return self.acd.model_copy(update={"agents": agents})

    def shifts(self) -> dict[str, list[Shift]]:
        """Return the shifts of every agent.

        Agents from ``acd.agents`` and groups without shifts log in at the start and never
        log out, so the queues can drain after arrivals stop. A shift that began before
        the start is cut to begin at the start, and one that ended before it is dropped.
        """
        whole_day = [Shift(start=self.start, end=math.inf)]
        shifts = {agent_id: whole_day for agent_id in self.acd.agents}
        for group in self.agent_groups:
            group_shifts = self._clipped(group.shifts) if group.shifts else whole_day
            for agent_id in group.agent_ids():
                shifts[agent_id] = group_shifts
        return shifts

    def _clipped(self, shifts: list[Shift]) -> list[Shift]:
        return [
            Shift(start=max(shift.start, self.start), end=shift.end)
            for shift in shifts
            if shift.end > self.start
        ]

    def end_time(self) -> float:
        """Return when arrivals stop: ``end``, else the end of the last interval or shift."""
        if self.end is not None:
            return self.end
        ends = [self.start + self.interval]
        for stream in self.arrivals:
            if stream.poisson is not None:
                ends.append(self.stream_start(stream) + len(stream.poisson) * self.interval)
            else:
                last = max(self.csv_arrivals(stream), default=self.stream_start(stream))
                intervals = math.floor((last - self.start) / self.interval) + 1
                ends.append(self.start + intervals * self.interval)
        for group in self.agent_groups:
            ends.extend(shift.end for shift in group.shifts)
        return max(ends)

    def stream_start(self, stream: ArrivalStream) -> float:
        """Return when a stream begins: its first Poisson interval or its CSV time 0."""
        return self.start if stream.start is None else stream.start

    def csv_arrivals(self, stream: ArrivalStream) -> list[float]:
        """Read the sorted arrival times of a ``csv`` stream as times of day in seconds.

        The file holds seconds after the stream's start.
        """
        assert stream.csv is not None  # only called for csv streams
        offset = self.stream_start(stream)
        return [offset + time for time in read_arrival_times(Path(self.folder) / stream.csv)]


def read_arrival_times(path: Path) -> list[float]:
    """Read arrival times in seconds from the first column of a CSV file.

    A first row that is not a number is taken as a header. Raises ``ScenarioError`` naming
    the row of any other value that is not a number of seconds of 0 or more.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        position = SourcePosition(str(path))
        raise ScenarioError([Problem(position, f"failed to read arrivals: {error}")]) from error
    times: list[float] = []
    for line_number, row in enumerate(csv.reader(text.splitlines()), start=1):
        if not row or not row[0].strip():
            continue
        try:
            value = float(row[0])
        except ValueError:
            if line_number == 1:
                continue
            value = math.nan
        if not math.isfinite(value) or value < 0:
            message = f"invalid arrival time {row[0]!r}; write seconds from the start, 0 or more"
            raise ScenarioError([Problem(SourcePosition(str(path), line_number, 1), message)])
        times.append(value)
    return sorted(times)


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file.

    Raises ``ScenarioError`` listing every problem with its line and column.
    """
    path = Path(path)
    data, positions = _read_yaml(path)
    if not isinstance(data, dict):
        position = SourcePosition(str(path), 1, 1)
        raise ScenarioError([Problem(position, "a scenario must be a mapping of settings")])
    data.setdefault("folder", str(path.parent))
    try:
        return Scenario.model_validate(data)
    except pydantic.ValidationError as error:
        problems = [_problem(path, positions, issue) for issue in error.errors()]
        raise ScenarioError(problems) from error


Location = tuple[str | int, ...]


def _read_yaml(path: Path) -> tuple[Any, dict[Location, tuple[int, int]]]:
    try:
        node = YAML(typ="rt").load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ScenarioError([Problem(SourcePosition(str(path)), str(error))]) from error
    except MarkedYAMLError as error:
        mark = error.problem_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (0, 0)
        position = SourcePosition(str(path), line, column)
        raise ScenarioError([Problem(position, str(error.problem))]) from error
    positions: dict[Location, tuple[int, int]] = {}
    return _plain(node, (), positions), positions


def _plain(node: Any, location: Location, positions: dict[Location, tuple[int, int]]) -> Any:
    if isinstance(node, CommentedMap):
        result = {}
        for key, value in node.items():
            line, column = node.lc.key(key)
            positions[(*location, key)] = (line + 1, column + 1)
            result[key] = _plain(value, (*location, key), positions)
        return result
    if isinstance(node, CommentedSeq):
        items = []
        for index, value in enumerate(node):
            line, column = node.lc.item(index)
            positions[(*location, index)] = (line + 1, column + 1)
            items.append(_plain(value, (*location, index), positions))
        return items
    return node


def _problem(path: Path, positions: dict[Location, tuple[int, int]], issue: Any) -> Problem:
    location = tuple(issue["loc"])
    # Pydantic adds the union member's tag to the location; walk back to a known key.
    while location and location not in positions:
        location = location[:-1]
    line, column = positions.get(location, (0, 0))
    where = ".".join(str(part) for part in issue["loc"]) or "scenario"
    message = issue["msg"].removeprefix("Value error, ")
    return Problem(SourcePosition(str(path), line, column), f"{where}: {message}")
