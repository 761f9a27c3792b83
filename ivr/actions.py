"""The IVR interpreter's contract: the events it takes and the actions it returns.

The interpreter is pure. ``ivr.interpreter.start`` and ``ivr.interpreter.handle`` take one
of the events below and return the new JSON state and a list of actions. Connectors turn
media actions (play, say, gather, record, transfer, hang up) into platform operations and
report what happened as the next event. The engine carries out the others (HTTP request,
enqueue) and reports their results the same way.

Every type here is a frozen dataclass with a ``kind`` tag, and ``to_dict``/``event_from_dict``
convert to and from plain JSON so a connector may keep a call's pending action between
webhooks.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

# Prompts


@dataclass(frozen=True, kw_only=True)
class Prompt:
    """One piece of audio for the caller.

    ``file``: a recording name resolved as ``recordings/<language>/<name>.wav``; ``text``
    is the TTS fallback a connector may speak when the file is missing. ``tts``: text to
    speak. ``digits``, ``number``, ``date``: a value said in the call's language.
    """

    type: Literal["file", "tts", "digits", "number", "date", "silence"]
    value: str
    language: str = "en"
    text: str = ""


# Actions


@dataclass(frozen=True, kw_only=True)
class Action:
    kind: ClassVar[str] = "action"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, **dataclasses.asdict(self)}


@dataclass(frozen=True, kw_only=True)
class Play(Action):
    """Play prompts to the end (no keys collected); answer with ``PromptFinished``."""

    kind: ClassVar[str] = "play"
    prompts: list[Prompt]
    barge_in: bool = False
    sensitive: bool = False  # a prompt speaks a sensitive value: do not log or cache it


@dataclass(frozen=True, kw_only=True)
class Gather(Action):
    """Play prompts and collect keys; answer with ``DigitsCollected`` (or ``SpeechResult``).

    Timing follows the usual IVR rules: ``timeout`` runs from the end of the prompts until
    the first key; after that only ``inter_digit_timeout`` runs between keys. Collection
    stops at the terminator (not included), at ``max_digits``, or at once when the keys
    collected so far are in ``complete`` and no entry of ``prefixes`` continues them.
    """

    kind: ClassVar[str] = "gather"
    prompts: list[Prompt]
    max_digits: int = 1
    min_digits: int = 1
    timeout: float = 5.0
    inter_digit_timeout: float = 2.0
    terminator: str = "#"
    barge_in: bool = True
    complete: list[str] = field(default_factory=list)
    prefixes: list[str] = field(default_factory=list)
    speech: bool = False
    sensitive: bool = False
    language: str = "en"


@dataclass(frozen=True, kw_only=True)
class Record(Action):
    """Record the caller; the result comes back as ``RecordingFinished``."""

    kind: ClassVar[str] = "record"
    name: str
    max_length: float = 120.0
    beep: bool = True
    finish_on_key: str = "#"
    prompts: list[Prompt] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True)
class Transfer(Action):
    """Hand the call to a number, an extension or a SIP URI; the IVR is done."""

    kind: ClassVar[str] = "transfer"
    target: str
    timeout: float = 30.0


@dataclass(frozen=True, kw_only=True)
class Hangup(Action):
    kind: ClassVar[str] = "hangup"
    reason: str = "normal"


@dataclass(frozen=True, kw_only=True)
class HttpRequest(Action):
    """A data dip the engine performs; the result comes back as ``HttpResult``."""

    kind: ClassVar[str] = "http"
    request_id: str
    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    timeout: float = 3.0
    hold_prompts: list[Prompt] = field(default_factory=list)
    display_url: str = ""  # the URL with sensitive values masked, for logs and traces


@dataclass(frozen=True, kw_only=True)
class Enqueue(Action):
    """Hand the call to an ACD queue; the engine reports the outcome later as ``QueueResult``."""

    kind: ClassVar[str] = "enqueue"
    queue: str
    skills: dict[str, int] = field(default_factory=dict)
    preferred_skills: dict[str, int] = field(default_factory=dict)
    language: str = "en"
    priority: int = 0
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class SetVariables(Action):
    """Informational: variables changed (sensitive ones already masked)."""

    kind: ClassVar[str] = "set"
    variables: dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class PauseRecording(Action):
    """Stop (``paused=True``) or resume call recording around sensitive input."""

    kind: ClassVar[str] = "pause_recording"
    paused: bool


@dataclass(frozen=True, kw_only=True)
class SurveyAnswer(Action):
    """Informational: the caller answered a survey question with ``score`` (1 to 5)."""

    kind: ClassVar[str] = "survey_answer"
    question: str
    score: int


# Events


@dataclass(frozen=True, kw_only=True)
class Event:
    kind: ClassVar[str] = "event"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, **dataclasses.asdict(self)}


@dataclass(frozen=True, kw_only=True)
class CallInfo:
    """The facts about a call when it reaches the IVR."""

    call_id: str
    caller: str
    called: str
    channel: str = "voice"
    connector: str = "virtual"
    language: str = ""
    variables: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class PromptFinished(Event):
    kind: ClassVar[str] = "prompt_finished"


DigitsReason = Literal["terminator", "max_digits", "complete", "inter_digit_timeout", "no_input"]


@dataclass(frozen=True, kw_only=True)
class DigitsCollected(Event):
    kind: ClassVar[str] = "digits_collected"
    digits: str
    reason: DigitsReason


@dataclass(frozen=True, kw_only=True)
class SpeechResult(Event):
    kind: ClassVar[str] = "speech_result"
    text: str
    confidence: float = 0.0


@dataclass(frozen=True, kw_only=True)
class HttpResult(Event):
    """The outcome of an ``HttpRequest``: ``status`` 0 with ``error`` set on failure."""

    kind: ClassVar[str] = "http_result"
    request_id: str
    status: int
    body: Any = None
    error: str = ""  # "timeout", "connection", "invalid_json", ...


@dataclass(frozen=True, kw_only=True)
class QueueResult(Event):
    """The ACD gave the call back, or the conversation with an agent ended.

    ``outcome``: ``answered`` (the agent leg ended; a survey may follow), ``overflow``,
    ``timeout``, ``no_agents``, ``full``, ``left`` (caller pressed the exit key).
    """

    kind: ClassVar[str] = "queue_result"
    outcome: str
    target: str = ""


@dataclass(frozen=True, kw_only=True)
class RecordingFinished(Event):
    kind: ClassVar[str] = "recording_finished"
    name: str
    duration: float = 0.0
    reason: str = "finish_key"  # finish_key, max_length, silence, hangup


@dataclass(frozen=True, kw_only=True)
class CallerHangup(Event):
    kind: ClassVar[str] = "hangup"


_EVENT_TYPES: dict[str, type[Event]] = {
    cls.kind: cls
    for cls in (
        PromptFinished,
        DigitsCollected,
        SpeechResult,
        HttpResult,
        QueueResult,
        RecordingFinished,
        CallerHangup,
    )
}


def event_from_dict(data: dict[str, Any]) -> Event:
    """Rebuild an event from ``Event.to_dict`` output; raise ``ValueError`` if unknown."""
    fields = dict(data)
    kind = fields.pop("kind", None)
    cls = _EVENT_TYPES.get(str(kind))
    if cls is None:
        raise ValueError(f"unknown IVR event kind {kind!r}; expected one of {sorted(_EVENT_TYPES)}")
    return cls(**fields)
