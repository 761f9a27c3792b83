"""Run a call through the interpreter in virtual time, with scripted keys and fake replies.

``santral call``, ``santral test`` and the property tests use this. Keys go through the
same ``DtmfCollector`` the SIP and virtual connectors use, so timeouts behave as on a live
call. Nothing here touches the network: HTTP data dips get the scripted replies, and a
request that no reply matches fails as a connection error.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from ivr import interpreter
from ivr.actions import (
    Action,
    CallerHangup,
    CallInfo,
    DigitsCollected,
    Enqueue,
    Event,
    Gather,
    Hangup,
    HttpRequest,
    HttpResult,
    PauseRecording,
    Play,
    PromptFinished,
    QueueResult,
    Record,
    RecordingFinished,
    SetVariables,
    SurveyAnswer,
    Transfer,
)
from ivr.dialplans import DialplanSet
from ivr.dtmf import DtmfCollector
from ivr.sealing import mask
from santral.clock import VirtualClock

DEFAULT_GAP = 0.5
MAX_EVENTS = 500


@dataclass(frozen=True)
class KeyInput:
    """The keys for one ``Gather``: pressed ``gap`` seconds apart, the first after ``gap``.

    Empty ``keys`` means the caller presses nothing; ``hang_up`` ends the call instead.
    """

    keys: str = ""
    gap: float = DEFAULT_GAP
    hang_up: bool = False


@dataclass(frozen=True)
class FakeHttpReply:
    """A reply for data dips whose URL matches ``url`` (shell-style wildcards)."""

    url: str
    status: int = 200
    body: Any = None
    error: str = ""
    method: str | None = None

    def matches(self, request: HttpRequest) -> bool:
        method_ok = self.method is None or self.method.upper() == request.method
        return method_ok and fnmatch.fnmatchcase(request.url, self.url)


@dataclass
class Transcript:
    """The record of a simulated call: timed actions and events, and the final state."""

    actions: list[tuple[float, Action]] = field(default_factory=list)
    events: list[tuple[float, Event]] = field(default_factory=list)
    state: dict[str, Any] = field(default_factory=dict)
    outcome: str = "incomplete"

    def of_type(self, kind: type[Action]) -> list[Any]:
        return [action for _, action in self.actions if isinstance(action, kind)]

    @property
    def enqueued(self) -> list[Enqueue]:
        return self.of_type(Enqueue)

    @property
    def transfer(self) -> str | None:
        transfers = self.of_type(Transfer)
        return transfers[-1].target if transfers else None

    @property
    def hangup_reason(self) -> str | None:
        hangups = self.of_type(Hangup)
        return hangups[-1].reason if hangups else None

    @property
    def variables(self) -> dict[str, Any]:
        return dict(self.state.get("variables", {}))

    @property
    def path(self) -> list[str]:
        return list(self.state.get("path", []))


KeySource = Callable[[Gather], KeyInput]


def scripted_keys(inputs: Iterable[KeyInput]) -> KeySource:
    """Return a key source that hands out ``inputs`` in order, then no input."""
    remaining = list(inputs)

    def next_input(gather: Gather) -> KeyInput:
        return remaining.pop(0) if remaining else KeyInput()

    return next_input


def parse_keys(text: str, gap: float = DEFAULT_GAP) -> list[KeyInput]:
    """Parse ``"1 2 12345#"``: one token per gather; ``-`` is no input, ``!`` hangs up."""
    inputs = []
    for token in text.split():
        if token == "!":
            inputs.append(KeyInput(hang_up=True))
        else:
            inputs.append(KeyInput("" if token == "-" else token, gap))
    return inputs


class Simulator:
    """Drives one call; construct a new one per call."""

    def __init__(
        self,
        dialplans: DialplanSet,
        clock: VirtualClock,
        keys: KeySource,
        *,
        http: Iterable[FakeHttpReply] = (),
        queue_results: Iterable[str] = (),
        recording_seconds: float = 10.0,
        on_step: Callable[[float, Action | Event], None] | None = None,
    ) -> None:
        self.dialplans = dialplans
        self.clock = clock
        self.keys = keys
        self.http = list(http)
        self.queue_results = list(queue_results)
        self.recording_seconds = recording_seconds
        self.on_step = on_step
        self.transcript = Transcript()
        self._sensitive = False

    def run(self, call: CallInfo, entry: str | None = None) -> Transcript:
        state, actions = interpreter.start(self.dialplans, call, self.clock, entry)
        for _ in range(MAX_EVENTS):
            self._record_actions(actions)
            event = self._next_event(actions)
            if event is None:
                break
            self._note(event)
            state, actions = interpreter.handle(self.dialplans, state, event, self.clock)
        self.transcript.state = state
        self.transcript.outcome = self._outcome(state)
        return self.transcript

    def _record_actions(self, actions: list[Action]) -> None:
        for action in actions:
            self.transcript.actions.append((self.clock.now(), action))
            if self.on_step is not None:
                self.on_step(self.clock.now(), action)

    def _note(self, event: Event) -> None:
        self.transcript.events.append((self.clock.now(), event))
        if self.on_step is None:
            return
        if isinstance(event, DigitsCollected) and self._sensitive:
            event = DigitsCollected(digits=mask(event.digits), reason=event.reason)
        self.on_step(self.clock.now(), event)

    def _next_event(self, actions: list[Action]) -> Event | None:
        """Return the event that completes the last action expecting one, or None when done."""
        for action in reversed(actions):
            if isinstance(action, Transfer | Hangup):
                return None
            if isinstance(action, Gather):
                return self._gather(action)
            if isinstance(action, Play):
                return PromptFinished()
            if isinstance(action, HttpRequest):
                return self._http(action)
            if isinstance(action, Record):
                return self._record(action)
            if isinstance(action, Enqueue):
                return self._queue()
        return None

    def _gather(self, gather: Gather) -> Event:
        self._sensitive = gather.sensitive
        script = self.keys(gather)
        if script.hang_up:
            return CallerHangup()
        collector = DtmfCollector(gather)
        collector.prompt_finished(self.clock.now())
        for key in script.keys:
            pressed_at = self.clock.now() + script.gap
            deadline = collector.deadline()
            if deadline is not None and deadline <= pressed_at:
                break
            self.clock.set(pressed_at)
            result = collector.press(key, pressed_at)
            if result is not None:
                return result
        return self._expire(collector)

    def _expire(self, collector: DtmfCollector) -> DigitsCollected:
        deadline = collector.deadline()
        assert deadline is not None, "a collector with no result always has a deadline"
        self.clock.set(max(deadline, self.clock.now()))
        result = collector.expire(self.clock.now())
        assert result is not None
        return result

    def _http(self, request: HttpRequest) -> HttpResult:
        for reply in self.http:
            if reply.matches(request):
                if reply.error == "timeout":
                    self.clock.advance(request.timeout)
                return HttpResult(
                    request_id=request.request_id,
                    status=0 if reply.error else reply.status,
                    body=reply.body,
                    error=reply.error,
                )
        return HttpResult(request_id=request.request_id, status=0, error="connection")

    def _record(self, record: Record) -> RecordingFinished:
        duration = min(self.recording_seconds, record.max_length)
        self.clock.advance(duration)
        return RecordingFinished(name=record.name, duration=duration, reason="finish_key")

    def _queue(self) -> QueueResult | None:
        if not self.queue_results:
            return None
        return QueueResult(outcome=self.queue_results.pop(0))

    def _outcome(self, state: dict[str, Any]) -> str:
        if state.get("done"):
            return str(state["outcome"])
        if state.get("step") == "queue":
            return "queue"
        return "incomplete"


def describe(item: Action | Event) -> str:
    """Return one readable line for a transcript entry (sensitive values stay masked)."""
    if isinstance(item, Action):
        return _describe_action(item)
    return _describe_event(item)


def _describe_action(item: Action) -> str:
    if isinstance(item, Play | Gather):
        hide = isinstance(item, Gather) and item.sensitive
        prompts = ", ".join(_prompt_text(prompt, hide) for prompt in item.prompts)
        if isinstance(item, Play):
            return f"play {prompts}"
        return f"gather (max {item.max_digits} digits, timeout {item.timeout:g}s) {prompts}"
    if isinstance(item, SetVariables):
        return "set " + ", ".join(f"{name}={value!r}" for name, value in item.variables.items())
    if isinstance(item, Enqueue):
        return (
            f"queue {item.queue} skills={item.skills} priority={item.priority} "
            f"language={item.language} attributes={item.attributes}"
        )
    if isinstance(item, HttpRequest):
        return f"http {item.method} {item.display_url or item.url}"
    if isinstance(item, Transfer):
        return f"transfer to {item.target}"
    if isinstance(item, Hangup):
        return f"hang up ({item.reason})"
    if isinstance(item, SurveyAnswer):
        return f"survey {item.question} = {item.score}"
    if isinstance(item, PauseRecording):
        return "pause recording" if item.paused else "resume recording"
    return item.kind.replace("_", " ")


def _describe_event(item: Event) -> str:
    if isinstance(item, DigitsCollected):
        pressed = item.digits or "(nothing)"
        return f"keys {pressed} [{item.reason}]"
    if isinstance(item, HttpResult):
        return f"http reply {item.status} {item.error}".rstrip()
    if isinstance(item, QueueResult):
        return f"queue result {item.outcome}"
    if isinstance(item, RecordingFinished):
        return f"recording finished {item.name} ({item.duration:g}s)"
    return item.kind.replace("_", " ")


def _prompt_text(prompt: Any, hide: bool) -> str:
    if prompt.type == "file":
        text = f" {prompt.text!r}" if prompt.text else ""
        return f"[{prompt.language}/{prompt.value}]{text}"
    value = mask(prompt.value) if hide and prompt.type == "digits" else prompt.value
    return f"[{prompt.type}] {value!r}"
