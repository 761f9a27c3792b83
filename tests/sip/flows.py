"""A scripted ``CallFlow`` for the SIP tests: a fixed IVR script per call, events recorded."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from pathlib import Path

from ivr.actions import (
    Action,
    CallInfo,
    DigitsCollected,
    Enqueue,
    Event,
    Gather,
    Hangup,
    Prompt,
    QueueResult,
)
from santral.telephony.base import CallControl, QueueStatus

SOUNDS = Path("/usr/share/asterisk/sounds/en_US_f_Allison")


def menu_prompt() -> Prompt:
    return Prompt(type="file", value="basic-pbx-ivr-main", language="en")


class ScriptedFlow:
    """Gather up to 4 keys ending in #, then hang up, or enqueue when ``queue`` is set."""

    def __init__(self, *, queue: bool = False, gather_timeout: float = 8.0) -> None:
        self.queue = queue
        self.gather_timeout = gather_timeout
        self.started: list[CallInfo] = []
        self.controls: dict[str, CallControl] = {}
        self.events: dict[str, list[Event]] = defaultdict(list)
        self.hung_up: dict[str, str] = {}
        self.hang_up_reports: list[str] = []
        self.agent_legs_ended: list[str] = []
        self.consult_legs_ended: list[str] = []
        self.queue_results: dict[str, asyncio.Future[QueueResult]] = {}
        self.call_started = asyncio.Event()

    async def start_call(
        self, info: CallInfo, control: CallControl, *, entry: str | None = None
    ) -> list[Action]:
        self.started.append(info)
        self.controls[info.call_id] = control
        self.call_started.set()
        return [
            Gather(
                prompts=[menu_prompt()],
                max_digits=4,
                timeout=self.gather_timeout,
                inter_digit_timeout=3.0,
                terminator="#",
            )
        ]

    async def handle(self, call_id: str, event: Event) -> list[Action]:
        self.events[call_id].append(event)
        if isinstance(event, DigitsCollected) and self.queue:
            self.queue_results[call_id] = asyncio.get_running_loop().create_future()
            return [Enqueue(queue="support")]
        return [Hangup()]

    async def caller_hung_up(self, call_id: str, cause: str = "") -> None:
        self.hung_up[call_id] = cause
        self.hang_up_reports.append(call_id)

    async def agent_leg_ended(self, call_id: str) -> None:
        self.agent_legs_ended.append(call_id)
        future = self.queue_results.get(call_id)
        if future is not None and not future.done():
            future.set_result(QueueResult(outcome="answered"))

    async def consult_leg_ended(self, call_id: str) -> None:
        self.consult_legs_ended.append(call_id)

    async def wait_queue_result(self, call_id: str) -> QueueResult:
        return await self.queue_results[call_id]

    def queue_status(self, call_id: str) -> QueueStatus | None:
        return None

    def prompt_file(self, language: str, name: str) -> Path | None:
        path = SOUNDS / f"{name}.wav"
        return path if path.exists() else None
