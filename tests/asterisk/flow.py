"""A small engine side for connector tests: the real IVR interpreter and a one-agent ACD.

``InterpreterFlow`` implements ``CallFlow`` with ``ivr.interpreter`` over the sample
dialplans. When a call is enqueued, it offers the call to the configured agents in order
through ``CallControl.connect_agent``, as the engine does after an agent accepts. The
conversation's end comes back through ``agent_leg_ended`` or ``caller_hung_up``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ivr import interpreter
from ivr.actions import (
    Action,
    CallerHangup,
    CallInfo,
    Enqueue,
    Event,
    HttpRequest,
    HttpResult,
    QueueResult,
    SurveyAnswer,
)
from ivr.loader import load_dialplans
from ivr.settings import IvrSettings
from santral.clock import Clock
from santral.telephony.base import AgentEndpoint, AgentLegResult, CallControl, QueueStatus

DIALPLANS = Path(__file__).resolve().parents[2] / "dialplans"
MEDIA = ("play", "gather", "record", "transfer", "hangup", "pause_recording", "enqueue")


@dataclass
class CallRecord:
    info: CallInfo
    control: CallControl
    state: Any = None
    events: list[Event] = field(default_factory=list)
    survey: dict[str, int] = field(default_factory=dict)
    queue: str = ""
    queue_result: asyncio.Future[QueueResult] | None = None
    attempts: list[AgentLegResult] = field(default_factory=list)
    hangups: list[str] = field(default_factory=list)
    agent_legs_ended: int = 0
    consult_legs_ended: int = 0
    offer_task: asyncio.Task[None] | None = None


class InterpreterFlow:
    """``CallFlow`` over the real interpreter, with agents tried in order on enqueue."""

    def __init__(
        self,
        clock: Clock,
        agents: list[AgentEndpoint],
        *,
        scripts: dict[str, str] | None = None,
        ring_timeout: float = 15.0,
        exit_key: str = "",
        announce_every: float = 0.0,
    ) -> None:
        self.clock = clock
        self.agents = agents
        self.ring_timeout = ring_timeout
        self.exit_key = exit_key
        self.announce_every = announce_every
        self.settings = IvrSettings(agi_scripts=scripts or {"ivr": "main"})
        self.dialplans = load_dialplans(DIALPLANS, self.settings)
        self.records: dict[str, CallRecord] = {}

    async def start_call(
        self, info: CallInfo, control: CallControl, *, entry: str | None = None
    ) -> list[Action]:
        record = CallRecord(info, control)
        self.records[info.call_id] = record
        resolved = self.settings.agi_scripts.get(entry or "", entry)
        record.state, actions = interpreter.start(self.dialplans, info, self.clock, resolved)
        return await self._media(record, actions)

    async def handle(self, call_id: str, event: Event) -> list[Action]:
        record = self.records[call_id]
        record.events.append(event)
        record.state, actions = interpreter.handle(self.dialplans, record.state, event, self.clock)
        return await self._media(record, actions)

    async def _media(self, record: CallRecord, actions: list[Action]) -> list[Action]:
        for _ in range(100):
            media: list[Action] = []
            follow_up: Event | None = None
            for action in actions:
                if isinstance(action, SurveyAnswer):
                    record.survey[action.question] = action.score
                if isinstance(action, HttpRequest):
                    follow_up = HttpResult(
                        request_id=action.request_id, status=0, error="connection"
                    )
                if isinstance(action, Enqueue):
                    self._enqueue(record, action)
                if action.kind in MEDIA:
                    media.append(action)
            if follow_up is None or media:
                return media
            record.state, actions = interpreter.handle(
                self.dialplans, record.state, follow_up, self.clock
            )
        raise AssertionError("the IVR kept asking for HTTP requests")

    def _enqueue(self, record: CallRecord, action: Enqueue) -> None:
        record.queue = action.queue
        record.queue_result = asyncio.get_running_loop().create_future()
        record.offer_task = asyncio.create_task(self._offer(record))

    async def _offer(self, record: CallRecord) -> None:
        await asyncio.sleep(0.05)
        for agent in self.agents:
            result = await record.control.connect_agent(
                record.info.call_id, agent, self.ring_timeout
            )
            record.attempts.append(result)
            if result is AgentLegResult.ANSWERED or result is AgentLegResult.CALLER_GONE:
                return
        self._settle(record, QueueResult(outcome="no_agents"))

    def _settle(self, record: CallRecord, result: QueueResult) -> None:
        if record.queue_result is not None and not record.queue_result.done():
            record.queue_result.set_result(result)

    async def caller_hung_up(self, call_id: str, cause: str = "") -> None:
        record = self.records[call_id]
        record.hangups.append(cause)
        if len(record.hangups) == 1:
            record.state, _ = interpreter.handle(
                self.dialplans, record.state, CallerHangup(), self.clock
            )

    async def agent_leg_ended(self, call_id: str) -> None:
        record = self.records[call_id]
        record.agent_legs_ended += 1
        self._settle(record, QueueResult(outcome="answered"))

    async def consult_leg_ended(self, call_id: str) -> None:
        self.records[call_id].consult_legs_ended += 1

    async def wait_queue_result(self, call_id: str) -> QueueResult:
        future = self.records[call_id].queue_result
        assert future is not None
        return await asyncio.shield(future)

    def queue_status(self, call_id: str) -> QueueStatus | None:
        record = self.records.get(call_id)
        if record is None or record.queue_result is None:
            return None
        return QueueStatus(
            interaction_id=f"i-{call_id}",
            queue=record.queue,
            position=2,
            estimated_wait=150.0,
            waited=0.0,
            announce_position=self.announce_every > 0,
            announce_wait=self.announce_every > 0,
            periodic_prompts=("please_hold",) if self.announce_every > 0 else (),
            announce_every=self.announce_every,
            exit_key=self.exit_key,
        )

    def prompt_file(self, language: str, name: str) -> Path | None:
        return None
