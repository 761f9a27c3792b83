"""A small engine side for connector tests: a fixed IVR, a queue and a survey.

It implements ``CallFlow`` the way ``santral.calls.CallService`` does for a connector
(media actions out, events in, a queue status while waiting) so the connector can be
tested before and apart from the real engine.
"""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

from ivr.actions import (
    Action,
    CallInfo,
    DigitsCollected,
    Enqueue,
    Event,
    Gather,
    Hangup,
    Play,
    Prompt,
    QueueResult,
)
from santral.telephony.base import CallControl, QueueStatus

SOUNDS = Path("/usr/share/asterisk/sounds/en_US_f_Allison")


def say(text: str, language: str = "en") -> Prompt:
    return Prompt(type="tts", value=text, language=language)


class MenuFlow:
    """Welcome, language, menu, account number, queue ``support``, survey, goodbye."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.events: list[tuple[str, Event]] = []
        self.hung_up: list[tuple[str, str]] = []
        self.agent_legs_ended: list[str] = []
        self.consult_legs_ended: list[str] = []
        self.controls: dict[str, CallControl] = {}
        self.statuses: dict[str, QueueStatus] = {}
        self.results: dict[str, asyncio.Future[QueueResult]] = {}
        self.stage: dict[str, str] = {}
        self.language: dict[str, str] = {}
        self.exit_key = ""
        self.start_delay = 0.0
        self.handle_delay = 0.0
        self.hangup_delay = 0.0

    async def start_call(
        self, info: CallInfo, control: CallControl, *, entry: str | None = None
    ) -> list[Action]:
        self.started.append(info.call_id)
        self.controls[info.call_id] = control
        await asyncio.sleep(self.start_delay)
        self.stage[info.call_id] = "language"
        welcome = Prompt(type="file", value="welcome", text="Welcome.")
        return [Play(prompts=[welcome]), self._language_menu()]

    async def handle(self, call_id: str, event: Event) -> list[Action]:
        if call_id not in self.stage:
            raise KeyError(call_id)
        self.events.append((call_id, event))
        await asyncio.sleep(self.handle_delay)
        step = getattr(self, f"_on_{self.stage[call_id]}")
        actions: list[Action] = step(call_id, event)
        return actions

    async def caller_hung_up(self, call_id: str, cause: str = "") -> None:
        await asyncio.sleep(self.hangup_delay)
        self.hung_up.append((call_id, cause))
        self.statuses.pop(call_id, None)

    async def agent_leg_ended(self, call_id: str) -> None:
        self.agent_legs_ended.append(call_id)
        if call_id in self.statuses:
            self.set_outcome(call_id, QueueResult(outcome="answered"))

    async def consult_leg_ended(self, call_id: str) -> None:
        self.consult_legs_ended.append(call_id)

    async def wait_queue_result(self, call_id: str) -> QueueResult:
        if call_id not in self.results:
            raise KeyError(f"call {call_id} is not waiting in a queue")
        return await asyncio.shield(self.results[call_id])

    def queue_status(self, call_id: str) -> QueueStatus | None:
        return self.statuses.get(call_id)

    def prompt_file(self, language: str, name: str) -> Path | None:
        path = SOUNDS / "dir-welcome.wav"
        return path if name == "welcome" and path.exists() else None

    def set_outcome(self, call_id: str, outcome: QueueResult) -> None:
        self.statuses[call_id] = dataclasses.replace(self.statuses[call_id], outcome=outcome)
        result = self.results.get(call_id)
        if result is not None and not result.done():
            result.set_result(outcome)

    # Stages

    def _language_menu(self) -> Gather:
        return Gather(prompts=[say("For English press 1. Türkçe için 2'ye basın.")], timeout=3)

    def _on_language(self, call_id: str, event: Event) -> list[Action]:
        digits = _digits(event)
        if digits not in ("1", "2"):
            return [self._language_menu()]
        language = "en" if digits == "1" else "tr"
        self.language[call_id] = language
        self.stage[call_id] = "menu"
        return [Gather(prompts=[say("For billing press 1.", language)], language=language)]

    def _on_menu(self, call_id: str, event: Event) -> list[Action]:
        self.stage[call_id] = "account"
        language = self.language[call_id]
        prompt = say("Enter your account number, then the hash key.", language)
        return [Gather(prompts=[prompt], max_digits=8, terminator="#", language=language)]

    def _on_account(self, call_id: str, event: Event) -> list[Action]:
        self.stage[call_id] = "queued"
        self.statuses[call_id] = QueueStatus(
            interaction_id=f"i-{call_id[-6:]}",
            queue="support",
            position=1,
            estimated_wait=90.0,
            waited=0.0,
            announce_position=True,
            announce_wait=True,
            periodic_prompts=("welcome",),
            announce_every=30.0,
            exit_key=self.exit_key,
        )
        self.results[call_id] = asyncio.get_running_loop().create_future()
        return [Enqueue(queue="support", language=self.language[call_id])]

    def _on_queued(self, call_id: str, event: Event) -> list[Action]:
        self.statuses.pop(call_id, None)
        outcome = event.outcome if isinstance(event, QueueResult) else "unknown"
        if outcome == "answered":
            self.stage[call_id] = "survey"
            return [Gather(prompts=[say("Rate the call from 1 to 5.")])]
        self.stage[call_id] = "done"
        return [Play(prompts=[say(f"Goodbye ({outcome}).")]), Hangup()]

    def _on_survey(self, call_id: str, event: Event) -> list[Action]:
        self.stage[call_id] = "done"
        return [Play(prompts=[say("Thank you.")]), Hangup()]


def _digits(event: Event) -> str:
    return event.digits if isinstance(event, DigitsCollected) else ""
