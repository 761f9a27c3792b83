"""The dialplan format: one pydantic model per node kind.

The loader validates every node with these models and ``santral schema`` prints the JSON
Schema generated from them, so the editor checks and the loader agree.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from ivr import digits
from ivr.durations import DURATION_PATTERN, parse_duration
from ivr.schedules import DAYS, parse_range

NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_-]*$"
TARGET_PATTERN = r"^[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z_][A-Za-z0-9_-]*)?$"

Duration = Annotated[
    float,
    BeforeValidator(parse_duration),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "minimum": 0},
                {"type": "string", "pattern": DURATION_PATTERN},
            ],
            "description": "Seconds, or a number with a unit: '500ms', '3s', '2m'.",
        }
    ),
]
Name = Annotated[str, Field(pattern=NAME_PATTERN)]
Target = Annotated[
    str,
    Field(
        pattern=TARGET_PATTERN,
        description="A node of this dialplan, 'dialplan' (its start node) or 'dialplan.node'.",
    ),
]
Key = Annotated[str, Field(pattern=r"^[0-9*#]$")]
Terminator = Annotated[str, Field(pattern=r"^[0-9*#]?$")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class PromptItem(Strict):
    """One piece of audio; give exactly one of the fields."""

    file: Name | None = Field(
        default=None, description="Recording recordings/<language>/<name>.wav"
    )
    tts: str | dict[str, str] | None = Field(
        default=None, description="Text to speak ({{ variable }} allowed), or one text per language"
    )
    digits: str | None = Field(default=None, description="Digits to say one by one (template)")
    number: str | None = Field(default=None, description="A number to say (template)")
    date: str | None = Field(default=None, description="A date to say, YYYY-MM-DD (template)")
    silence: Duration | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> PromptItem:
        present = [name for name in type(self).model_fields if getattr(self, name) is not None]
        if len(present) != 1:
            raise ValueError(
                f"a prompt item needs exactly one of file, tts, digits, number, date, silence; "
                f"found {present or 'none'}"
            )
        return self


PromptSpec = str | PromptItem | list[str | PromptItem]


def _string_keys(value: Any) -> Any:
    """YAML reads an unquoted ``1:`` as an integer key; menu keys are strings."""
    if isinstance(value, dict):
        return {str(key): item for key, item in value.items()}
    return value


class MenuOption(Strict):
    target: Target
    set: dict[Name, Any] = Field(default_factory=dict, description="Variables to set")


class NodeBase(Strict):
    description: str = ""


class MenuNode(NodeBase):
    """Play a greeting and choose a target by the keys the caller presses."""

    kind: Literal["menu"]
    greeting: PromptSpec
    prompt: PromptSpec | None = Field(default=None, description="Short prompt for repeats")
    options: Annotated[dict[str, Target | MenuOption], BeforeValidator(_string_keys)]
    timeout: Duration = 5.0
    inter_digit_timeout: Duration = 2.0
    terminator: Terminator = "#"
    max_no_input: int = Field(3, ge=1, le=10)
    max_invalid: int = Field(3, ge=1, le=10)
    invalid_prompt: PromptSpec | None = None
    no_input_prompt: PromptSpec | None = None
    failure: Target | None = Field(default=None, description="Where to go after too many tries")
    barge_in: bool = True

    @field_validator("options")
    @classmethod
    def _valid_options(cls, options: dict[str, Any]) -> dict[str, Any]:
        if not options:
            raise ValueError("a menu needs at least one option")
        for key in options:
            digits.key_sets(key)
        return options


class ConfirmSpec(Strict):
    prompt: PromptSpec = Field(description="Played before the value is read back")
    instructions: PromptSpec = Field(description="Played after it, e.g. 'press 1 if correct'")
    yes_key: Key = "1"
    no_key: Key = "2"


class InputNode(NodeBase):
    """Collect digits into a variable."""

    kind: Literal["input"]
    variable: Name
    prompt: PromptSpec
    min_digits: int = Field(1, ge=1, le=64)
    max_digits: int = Field(20, ge=1, le=64)
    terminator: Terminator = "#"
    timeout: Duration = 5.0
    inter_digit_timeout: Duration = 3.0
    pattern: str | None = Field(
        default=None, description="Regular expression the digits must match"
    )
    luhn: bool = False
    confirm: ConfirmSpec | None = None
    tries: int = Field(3, ge=1, le=10)
    invalid_prompt: PromptSpec | None = None
    no_input_prompt: PromptSpec | None = None
    sensitive: bool = False
    next: Target
    failure: Target | None = None

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, pattern: str | None) -> str | None:
        if pattern is not None:
            try:
                re.compile(pattern)
            except re.error as error:
                raise ValueError(f"invalid regular expression {pattern!r}: {error}") from error
        return pattern

    @model_validator(mode="after")
    def _digit_range(self) -> InputNode:
        if self.min_digits > self.max_digits:
            raise ValueError(
                f"min_digits {self.min_digits} is larger than max_digits {self.max_digits}"
            )
        return self


class PlayNode(NodeBase):
    """Play prompts, then go to ``next`` (or hang up without it)."""

    kind: Literal["play"]
    prompts: PromptSpec
    next: Target | None = None


class SayNode(NodeBase):
    """Speak text, digits, a number or a date; give exactly one."""

    kind: Literal["say"]
    text: str | dict[str, str] | None = None
    digits: str | None = None
    number: str | None = None
    date: str | None = None
    next: Target | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> SayNode:
        present = [name for name in ("text", "digits", "number", "date") if getattr(self, name)]
        if len(present) != 1:
            raise ValueError(
                f"say needs exactly one of text, digits, number, date; found {present}"
            )
        return self


class SetNode(NodeBase):
    """Set variables; string values are templates."""

    kind: Literal["set"]
    variables: dict[Name, Any]
    next: Target


class Condition(Strict):
    condition: str = Field(alias="if", description="Expression, e.g. vip == true and tier > 2")
    target: Target


class BranchNode(NodeBase):
    """Go to the target of the first condition that holds, else to ``else``."""

    kind: Literal["branch"]
    conditions: list[Condition] = Field(min_length=1)
    otherwise: Target = Field(alias="else")


class Holiday(Strict):
    date: dt.date
    name: str = ""


class ScheduleNode(NodeBase):
    """Choose a target by weekly business hours and holidays in a time zone."""

    kind: Literal["schedule"]
    time_zone: str | None = Field(default=None, description="IANA zone; default: ivr.time_zone")
    hours: dict[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"], str | list[str]]
    holidays: list[dt.date | Holiday] = Field(default_factory=list)
    open: Target
    closed: Target
    holiday: Target | None = Field(default=None, description="Default: closed")

    @field_validator("hours")
    @classmethod
    def _valid_hours(cls, hours: dict[str, str | list[str]]) -> dict[str, str | list[str]]:
        for day, ranges in hours.items():
            if day not in DAYS:
                raise ValueError(f"unknown day {day!r}; use one of {list(DAYS)}")
            for text in [ranges] if isinstance(ranges, str) else ranges:
                parse_range(text)
        return hours

    def hour_ranges(self) -> dict[str, list[str]]:
        return {day: [r] if isinstance(r, str) else list(r) for day, r in self.hours.items()}

    def holiday_dates(self) -> list[dt.date]:
        return [item.date if isinstance(item, Holiday) else item for item in self.holidays]


class LanguageNode(NodeBase):
    """Set the call's language; prompts and TTS voices follow it."""

    kind: Literal["language"]
    language: str = Field(description="A language code from ivr.languages, or a template")
    next: Target


class EnvValue(Strict):
    env: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description="Environment variable")


class HttpNode(NodeBase):
    """Fetch data from an HTTP service and map JSON fields into variables."""

    kind: Literal["http"]
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "GET"
    url: str
    headers: dict[str, str | EnvValue] = Field(default_factory=dict)
    body: Any = None
    timeout: Annotated[Duration, Field(gt=0, le=10)] = 3.0
    assign: dict[Name, str] = Field(
        default_factory=dict, description="Variable -> JSON path in the reply, e.g. customer.name"
    )
    hold_prompt: PromptSpec | None = None
    next: Target
    error: Target | None = Field(
        default=None, description="On error, timeout or non-2xx; default next"
    )


class QueueNode(NodeBase):
    """Hand the call to an ACD queue."""

    kind: Literal["queue"]
    queue: str
    skills: dict[str, int] = Field(default_factory=dict)
    preferred_skills: dict[str, int] = Field(default_factory=dict)
    language: str | None = Field(default=None, description="Default: the call's language")
    priority: int | str = Field(0, description="A number or a template giving one")
    attributes: dict[str, Any] | list[Name] = Field(default_factory=dict)
    on: dict[Literal["overflow", "timeout", "no_agents", "full", "left"], Target] = Field(
        default_factory=dict
    )
    next: Target | None = Field(default=None, description="When the ACD gives the call back")
    answered: Target | None = Field(default=None, description="After the agent conversation")


class TransferNode(NodeBase):
    """Transfer to a number, an extension or a SIP URI (templates allowed)."""

    kind: Literal["transfer"]
    target: str = Field(min_length=1)
    timeout: Duration = 30.0


class RecordNode(NodeBase):
    """Record the caller (voicemail)."""

    kind: Literal["record", "voicemail"]
    prompt: PromptSpec | None = None
    max_length: Annotated[Duration, Field(gt=0, le=3600)] = 120.0
    beep: bool = True
    finish_key: Terminator = "#"
    name: str = "{{ call_id }}"
    variable: Name | None = None
    next: Target | None = None


class SurveyNode(NodeBase):
    """Ask a question answered 1 to 5 (for example CSAT after the agent conversation)."""

    kind: Literal["survey"]
    question: Name
    prompt: PromptSpec
    invalid_prompt: PromptSpec | None = None
    thanks: PromptSpec | None = None
    timeout: Duration = 5.0
    tries: int = Field(2, ge=1, le=5)
    next: Target | None = None


class GotoNode(NodeBase):
    kind: Literal["goto"]
    target: Target


class HangupNode(NodeBase):
    kind: Literal["hangup"]
    prompt: PromptSpec | None = None
    reason: str = "normal"


NodeModel = (
    MenuNode
    | InputNode
    | PlayNode
    | SayNode
    | SetNode
    | BranchNode
    | ScheduleNode
    | LanguageNode
    | HttpNode
    | QueueNode
    | TransferNode
    | RecordNode
    | SurveyNode
    | GotoNode
    | HangupNode
)
Node = Annotated[NodeModel, Field(discriminator="kind")]

NODE_KINDS: dict[str, type[NodeBase]] = {
    "menu": MenuNode,
    "input": InputNode,
    "play": PlayNode,
    "say": SayNode,
    "set": SetNode,
    "branch": BranchNode,
    "schedule": ScheduleNode,
    "language": LanguageNode,
    "http": HttpNode,
    "queue": QueueNode,
    "transfer": TransferNode,
    "record": RecordNode,
    "voicemail": RecordNode,
    "survey": SurveyNode,
    "goto": GotoNode,
    "hangup": HangupNode,
}
WAITING_KINDS = frozenset({"menu", "input", "survey", "record", "voicemail", "queue"})


class DialplanHeader(Strict):
    """Everything in a dialplan file except its nodes."""

    dialplan: Name | None = Field(default=None, description="Name; default: the file name")
    description: str = ""
    start: Name
    numbers: list[str] = Field(default_factory=list, description="Called numbers (DNIS)")
    prompts: dict[Name, dict[str, str]] = Field(
        default_factory=dict, description="Recording name -> language -> text for TTS"
    )
    variables: dict[Name, Any] = Field(default_factory=dict, description="Initial values")
    sensitive: list[Name] = Field(
        default_factory=list, description="Variables masked everywhere, e.g. from HTTP replies"
    )


class DialplanFile(DialplanHeader):
    """A whole dialplan file, as the JSON Schema describes it."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        populate_by_name=True,
        json_schema_extra={"$schema": "https://json-schema.org/draft/2020-12/schema"},
    )

    nodes: dict[Name, Node] = Field(min_length=1)
