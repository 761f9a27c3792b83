"""Live calls: the IVR interpreter driven for connectors, with data dips and queueing.

``CallService`` implements ``santral.telephony.base.CallFlow``. It steps the pure
interpreter, carries out the actions that need no caller (HTTP data dips, enqueue,
variables, survey answers), and returns the media actions to the connector. Each call's
IVR state is saved in the store after every step, so a webhook connector's next request
can be served by another process or after a restart.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import aiohttp
import structlog

from ivr import interpreter
from ivr.actions import (
    Action,
    CallerHangup,
    CallInfo,
    Enqueue,
    Event,
    Gather,
    Hangup,
    HttpRequest,
    HttpResult,
    Play,
    QueueResult,
    Record,
    RecordingFinished,
    SetVariables,
    SurveyAnswer,
    Transfer,
)
from ivr.dialplans import DialplanSet
from santral import events as ev
from santral.acd_service import AcdService, EnqueueRequest, VoiceLeg
from santral.clock import Clock, SystemClock
from santral.events import EventBus
from santral.tasks import TaskSupervisor
from santral.telephony.base import CallControl, QueueStatus

log = structlog.get_logger(__name__)

# Actions that wait for the caller: the IVR step ends with one of them.
WAITING_ACTIONS = (Play, Gather, Record)
FINAL_ACTIONS = (Transfer, Hangup)


class SessionStore(Protocol):
    """Storage of IVR session state between steps (the store implements it)."""

    async def save_session(self, call_id: str, state: dict[str, Any]) -> None: ...

    async def load_session(self, call_id: str) -> dict[str, Any] | None: ...

    async def delete_session(self, call_id: str) -> None: ...


class HistorySource(Protocol):
    """A caller's earlier interactions (the store implements it)."""

    async def previous_interactions(
        self, caller: str, days: float, *, exclude: str = "", limit: int = 20
    ) -> list[dict[str, Any]]: ...


@dataclass
class LiveCall:
    """One call the engine is serving."""

    info: CallInfo
    control: CallControl
    dialplans: DialplanSet
    state: dict[str, Any]
    interaction_id: str | None = None
    queue_result: asyncio.Future[QueueResult] | None = None
    answered: bool = False
    voicemail: bool = False
    ended: bool = False
    ivr_finished: bool = False
    path_published: int = 0
    # The last queue's details stay after the queue gives the call back, so survey answers
    # and the call's outcome can refer to it.
    last_interaction_id: str = ""
    queue: str = ""
    exit_key: str = ""
    queue_outcome: str = ""


class CallService:
    """The engine side of every call; see the module docstring."""

    def __init__(
        self,
        dialplans: Callable[[], DialplanSet],
        acd: AcdService,
        bus: EventBus,
        *,
        clock: Clock | None = None,
        sessions: SessionStore | None = None,
        history: HistorySource | None = None,
        history_days: int = 30,
        http: aiohttp.ClientSession | None = None,
        controls: dict[str, CallControl] | None = None,
        persistent_connectors: frozenset[str] = frozenset({"twilio"}),
    ) -> None:
        self._dialplans = dialplans
        self._acd = acd
        self._bus = bus
        self._clock = clock or SystemClock()
        self._sessions = sessions
        self._history = history
        self._history_days = history_days
        self._http = http
        self._controls = controls if controls is not None else {}
        # Webhook connectors hold no coroutine per call, so their calls' state is saved
        # after every step. The others keep it in memory for the call's lifetime.
        self._persistent = persistent_connectors
        self._calls: dict[str, LiveCall] = {}
        self._tasks = TaskSupervisor("calls")

    async def close(self) -> None:
        """Wait for background work (session clean-up) to stop."""
        await self._tasks.close()

    def register_control(self, control: CallControl) -> None:
        """Let calls of connector ``control.name`` be resumed from stored state."""
        self._controls[control.name] = control

    @property
    def active_calls(self) -> int:
        return len(self._calls)

    def control(self, call_id: str) -> CallControl | None:
        """Return the control of the connector that owns a live call, or None."""
        call = self._calls.get(call_id)
        return call.control if call is not None else None

    def in_ivr(self) -> int:
        """Return how many calls are in the IVR (not queued, not with an agent)."""
        return sum(1 for call in self._calls.values() if not call.ivr_finished)

    # CallFlow

    async def start_call(
        self, info: CallInfo, control: CallControl, *, entry: str | None = None
    ) -> list[Action]:
        dialplans = self._dialplans()
        if entry is not None and entry in dialplans.settings.agi_scripts:
            entry = dialplans.settings.agi_scripts[entry]
        bound = log.bind(call_id=info.call_id, connector=info.connector)
        try:
            state, actions = interpreter.start(dialplans, info, self._clock, entry)
        except interpreter.EntryNotFoundError as error:
            bound.warning("call_rejected_no_entry", called=info.called, error=str(error))
            self._bus.publish(
                ev.CallStarted(
                    call_id=info.call_id,
                    connector=info.connector,
                    caller=info.caller,
                    called=info.called,
                )
            )
            self._bus.publish(
                ev.CallEnded(call_id=info.call_id, outcome="rejected", cause="no_dialplan")
            )
            return [Hangup(reason="no_dialplan")]
        call = LiveCall(info=info, control=control, dialplans=dialplans, state=state)
        self._calls[info.call_id] = call
        self._bus.publish(
            ev.CallStarted(
                call_id=info.call_id,
                connector=info.connector,
                caller=info.caller,
                called=info.called,
                dialplan=str(state.get("dialplan", "")),
            )
        )
        bound.info("call_started", caller=info.caller, called=info.called, entry=entry)
        return await self._run(call, actions)

    async def handle(self, call_id: str, event: Event) -> list[Action]:
        call = self._calls.get(call_id) or await self._resume(call_id)
        if call is None:
            raise KeyError(call_id)
        if call.ended:
            return []
        if isinstance(event, CallerHangup):
            await self.caller_hung_up(call_id)
            return []
        if isinstance(event, QueueResult):
            call.interaction_id = None
            call.queue_result = None
            call.queue_outcome = event.outcome
        if isinstance(event, RecordingFinished):
            call.voicemail = True
            self._bus.publish(
                ev.RecordingSaved(
                    call_id=call_id,
                    path=event.name,
                    duration=event.duration,
                    interaction_id=call.last_interaction_id,
                )
            )
        call.state, actions = interpreter.handle(call.dialplans, call.state, event, self._clock)
        return await self._run(call, actions)

    async def caller_hung_up(self, call_id: str, cause: str = "") -> None:
        call = self._calls.get(call_id)
        if call is None or call.ended:
            return
        call.ended = True
        if call.interaction_id is not None:
            self._acd.abandon(call.interaction_id)
        if not call.ivr_finished:
            call.state, _ = interpreter.handle(
                call.dialplans, call.state, CallerHangup(), self._clock
            )
            self._publish_path(call)
            self._finish_ivr(call, "abandoned_in_ivr")
        self._end_call(call, self._outcome(call), cause or "caller_hangup")

    async def agent_leg_ended(self, call_id: str) -> None:
        call = self._calls.get(call_id)
        if call is None or call.interaction_id is None:
            return
        self._acd.end(call.interaction_id)

    async def consult_leg_ended(self, call_id: str) -> None:
        call = self._calls.get(call_id)
        if call is None or call.interaction_id is None:
            return
        self._acd.consult_leg_ended(call.interaction_id)

    async def wait_queue_result(self, call_id: str) -> QueueResult:
        call = self._calls[call_id]
        if call.queue_result is None:
            raise KeyError(f"call {call_id} is not waiting in a queue")
        return await asyncio.shield(call.queue_result)

    def queue_status(self, call_id: str) -> QueueStatus | None:
        call = self._calls.get(call_id)
        if call is None or call.queue_result is None:
            return None
        interaction_id = call.last_interaction_id
        live = self._acd.interaction(interaction_id)
        queue = live.queue if live is not None else call.queue
        settings = self._acd.settings.queues.get(queue)
        place = self._acd.position(interaction_id)
        position, estimate, waited = place if place is not None else (0, None, 0.0)
        done = call.queue_result.done()
        announcements = settings.announcements if settings is not None else None
        return QueueStatus(
            interaction_id=interaction_id,
            queue=queue,
            position=position,
            estimated_wait=estimate,
            waited=waited,
            announce_position=announcements.position if announcements else False,
            announce_wait=announcements.estimated_wait if announcements else False,
            periodic_prompts=tuple(announcements.periodic) if announcements else (),
            announce_every=announcements.frequency if announcements else 60.0,
            exit_key=call.exit_key,
            outcome=call.queue_result.result() if done else None,
            agent_connected=live is not None and live.connected_at is not None,
        )

    def prompt_file(self, language: str, name: str) -> Path | None:
        dialplans = self._dialplans()
        path = dialplans.recording_path(language, name)
        return path if path.is_file() else None

    # Steps

    async def _run(self, call: LiveCall, actions: list[Action]) -> list[Action]:
        """Carry out internal actions until the IVR waits for the caller or leaves."""
        media: list[Action] = []
        pending = list(actions)
        for _ in range(call.dialplans.settings.max_steps):
            if not pending:
                break
            action = pending.pop(0)
            follow_up = await self._internal(call, action, media)
            if follow_up is not None:
                call.state, more = interpreter.handle(
                    call.dialplans, call.state, follow_up, self._clock
                )
                pending = more + pending
        self._publish_path(call)
        await self._save(call)
        return media

    async def _internal(self, call: LiveCall, action: Action, media: list[Action]) -> Event | None:
        """Carry out ``action`` if the engine does it; else add it to ``media``.

        Return the event to feed back into the interpreter, if the action produced one.
        """
        match action:
            case HttpRequest():
                return await self._http_request(call, action)
            case Enqueue():
                return await self._enqueue(call, action, media)
            case SurveyAnswer():
                self._bus.publish(
                    ev.SurveyAnswered(
                        call_id=call.info.call_id,
                        question=action.question,
                        score=action.score,
                        interaction_id=call.last_interaction_id,
                    )
                )
            case SetVariables():
                pass
            case Transfer():
                media.append(action)
                self._finish_ivr(call, "transferred")
                self._end_call(call, "transferred" if not call.answered else "answered", "")
            case Hangup():
                media.append(action)
                self._finish_ivr(call, "voicemail" if call.voicemail else "hangup")
                self._end_call(call, self._outcome(call), action.reason)
            case _:
                media.append(action)
        return None

    async def _http_request(self, call: LiveCall, request: HttpRequest) -> HttpResult:
        bound = log.bind(call_id=call.info.call_id, request_id=request.request_id)
        if self._http is None:
            return HttpResult(request_id=request.request_id, status=0, error="connection")
        timeout = aiohttp.ClientTimeout(total=request.timeout)
        body = None if request.body is None else json.dumps(request.body)
        headers = dict(request.headers)
        if body is not None:
            headers.setdefault("Content-Type", "application/json")
        try:
            async with self._http.request(
                request.method, request.url, headers=headers, data=body, timeout=timeout
            ) as response:
                text = await response.text()
                status = response.status
        except TimeoutError:
            bound.warning("http_dip_timed_out", timeout=request.timeout, url=request.display_url)
            return HttpResult(request_id=request.request_id, status=0, error="timeout")
        except aiohttp.ClientError as error:
            # The error text can contain the URL, which may carry sensitive values.
            bound.warning("http_dip_failed", error=type(error).__name__, url=request.display_url)
            return HttpResult(request_id=request.request_id, status=0, error="connection")
        try:
            parsed: Any = json.loads(text) if text else None
        except json.JSONDecodeError:
            bound.warning("http_dip_invalid_json", status=status)
            return HttpResult(request_id=request.request_id, status=status, error="invalid_json")
        bound.info("http_dip_done", status=status)
        return HttpResult(request_id=request.request_id, status=status, body=parsed)

    async def _enqueue(self, call: LiveCall, action: Enqueue, media: list[Action]) -> Event | None:
        pop = await self._screen_pop(call, action)
        request = EnqueueRequest(
            channel=call.info.channel,
            queue=action.queue,
            caller=call.info.caller,
            called=call.info.called,
            skills=dict(action.skills),
            preferred_skills=dict(action.preferred_skills),
            language=action.language,
            priority=action.priority,
            attributes=dict(action.attributes),
            pop=pop,
            call_id=call.info.call_id,
        )
        loop = asyncio.get_running_loop()
        future: asyncio.Future[QueueResult] = loop.create_future()

        def deliver(result: QueueResult) -> None:
            if result.outcome == "answered":
                call.answered = True
            if not future.done():
                future.set_result(result)

        voice = VoiceLeg(
            call_id=call.info.call_id,
            control=call.control,
            on_result=deliver,
            on_handover=lambda interaction_id: _hand_over(call, interaction_id),
        )
        if not call.ivr_finished:
            self._finish_ivr(call, "queued")
        outcome = self._acd.enqueue(request, voice)
        if isinstance(outcome, QueueResult):
            return outcome
        call.interaction_id = outcome
        call.queue_result = future
        call.last_interaction_id = outcome
        call.queue = action.queue
        call.exit_key = str(action.attributes.get("exit_key", ""))
        media.append(action)
        return None

    async def _screen_pop(self, call: LiveCall, action: Enqueue) -> dict[str, Any]:
        variables = _masked_variables(call.state)
        pop: dict[str, Any] = {
            "call_id": call.info.call_id,
            "caller": call.info.caller,
            "called": call.info.called,
            "caller_name": variables.get("customer_name") or variables.get("caller_name", ""),
            "language": action.language,
            "ivr_path": [str(step) for step in call.state.get("path", [])],
            "variables": variables,
            "previous_interactions": [],
        }
        if self._history is not None and self._history_days > 0 and call.info.caller:
            try:
                pop["previous_interactions"] = await self._history.previous_interactions(
                    call.info.caller, self._history_days, exclude=call.info.call_id, limit=10
                )
            except Exception as error:
                log.warning("history_lookup_failed", call_id=call.info.call_id, error=str(error))
        return pop

    # Records

    def _publish_path(self, call: LiveCall) -> None:
        path = call.state.get("path", [])
        for step in path[call.path_published :]:
            dialplan, _, node = str(step).rpartition(".")
            self._bus.publish(
                ev.IvrNodeEntered(call_id=call.info.call_id, dialplan=dialplan, node=node, kind="")
            )
        call.path_published = len(path)

    def _finish_ivr(self, call: LiveCall, outcome: str) -> None:
        if call.ivr_finished:
            return
        call.ivr_finished = True
        self._bus.publish(
            ev.IvrFinished(
                call_id=call.info.call_id,
                outcome=outcome,
                path=[str(step) for step in call.state.get("path", [])],
                variables=_masked_variables(call.state),
                language=str(call.state.get("language", "")),
            )
        )

    def _outcome(self, call: LiveCall) -> str:
        if call.answered:
            return "answered"
        if call.interaction_id is not None:
            return "abandoned_in_queue"
        if call.voicemail:
            return "voicemail"
        if call.queue_outcome == "overflow":
            return "overflowed"
        return "abandoned_in_ivr" if not call.ivr_finished or call.ended else "completed_in_ivr"

    def _end_call(self, call: LiveCall, outcome: str, cause: str) -> None:
        call.ended = True
        self._calls.pop(call.info.call_id, None)
        self._bus.publish(ev.CallEnded(call_id=call.info.call_id, outcome=outcome, cause=cause))
        log.info("call_ended", call_id=call.info.call_id, outcome=outcome, cause=cause)
        if self._sessions is not None and call.info.connector in self._persistent:
            self._tasks.spawn(self._forget(call.info.call_id), name=f"forget-{call.info.call_id}")

    async def _forget(self, call_id: str) -> None:
        assert self._sessions is not None
        try:
            await self._sessions.delete_session(call_id)
        except Exception as error:
            log.warning("session_delete_failed", call_id=call_id, error=str(error))

    async def _save(self, call: LiveCall) -> None:
        if self._sessions is None or call.ended or call.info.connector not in self._persistent:
            return
        record = {
            "state": call.state,
            "info": call.info.__dict__ | {"variables": {}},
            "interaction_id": call.interaction_id,
            "answered": call.answered,
            "voicemail": call.voicemail,
            "ivr_finished": call.ivr_finished,
        }
        await self._sessions.save_session(call.info.call_id, record)

    async def _resume(self, call_id: str) -> LiveCall | None:
        """Rebuild a call from stored state (another process or a restart served it)."""
        if self._sessions is None:
            return None
        record = await self._sessions.load_session(call_id)
        if record is None:
            return None
        info = CallInfo(**record["info"])
        control = self._controls.get(info.connector)
        if control is None:
            log.error("call_resume_no_connector", call_id=call_id, connector=info.connector)
            return None
        call = LiveCall(
            info=info,
            control=control,
            dialplans=self._dialplans(),
            state=record["state"],
            answered=bool(record.get("answered")),
            voicemail=bool(record.get("voicemail")),
            ivr_finished=bool(record.get("ivr_finished")),
            path_published=len(record["state"].get("path", [])),
        )
        self._calls[call_id] = call
        log.info("call_resumed", call_id=call_id)
        return call


def _hand_over(call: LiveCall, interaction_id: str) -> None:
    """Follow the call to the interaction that now owns it after an agent's transfer.

    An empty ``interaction_id`` means the call left the ACD for a number: an agent answered
    it, and the queue has no result to give back any more.
    """
    if interaction_id:
        call.interaction_id = interaction_id
        call.last_interaction_id = interaction_id
        return
    call.interaction_id = None
    call.answered = True


def _masked_variables(state: dict[str, Any]) -> dict[str, Any]:
    """Return the call's variables; the interpreter keeps sensitive ones masked there."""
    return dict(state.get("variables", {}))
