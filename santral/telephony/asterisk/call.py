"""One caller's FastAGI session: the IVR's actions, the queue wait and the agent's Dial.

The session is request/reply, so everything on the caller's channel happens in one
coroutine. While the caller waits in a queue, it hears music on hold and the coroutine
polls with short ``WAIT FOR DIGIT`` commands, so the exit key works. Between two polls it
runs a pending agent dial, plays the queue's announcements, or leaves when the ACD gives
the call back.

The agent is rung with ``EXEC Dial`` from the caller's own session, with the ``g`` option
so the session continues when the agent hangs up (for the survey). AMI's ``DialEnd`` reports
the answer while ``Dial`` still runs. Without AMI the answer is only known when ``Dial``
returns, from ``DIALSTATUS``.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import structlog

from ivr.actions import (
    Action,
    Enqueue,
    Event,
    Gather,
    Hangup,
    PauseRecording,
    Play,
    Prompt,
    PromptFinished,
    QueueResult,
    Record,
    Transfer,
)
from santral.telephony.asterisk import agi, media
from santral.telephony.asterisk.agi import AgiRequest
from santral.telephony.asterisk.agi_server import AgiHangup, AgiSession
from santral.telephony.base import AgentEndpoint, AgentLegResult, QueueStatus

if TYPE_CHECKING:
    from santral.telephony.asterisk.connector import AsteriskConnector

log = structlog.get_logger(__name__)

MAX_STEPS = 10_000
# A queued caller is polled every ``queue_poll_interval``; this caps the wait at a day.
MAX_QUEUE_POLLS = 86_400 * 10

DIAL_STATUS: dict[str, AgentLegResult] = {
    "ANSWER": AgentLegResult.ANSWERED,
    "NOANSWER": AgentLegResult.NO_ANSWER,
    "BUSY": AgentLegResult.BUSY,
    "CANCEL": AgentLegResult.CALLER_GONE,
    "CHANUNAVAIL": AgentLegResult.FAILED,
    "CONGESTION": AgentLegResult.FAILED,
    "DONTCALL": AgentLegResult.DECLINED,
    "TORTURE": AgentLegResult.DECLINED,
}


def _observe(task: asyncio.Task[QueueResult]) -> None:
    """Retrieve the queue waiter's outcome so a failure is logged, never left unread."""
    if not task.cancelled() and task.exception() is not None:
        log.warning("queue_wait_failed", error=repr(task.exception()))


def position_commands(position: int) -> list[bytes | None]:
    """Say the caller's place with Asterisk's own queue sounds, as ``app_queue`` does."""
    if position == 1:
        return [agi.stream_file_command("queue-youarenext")]
    return [
        agi.stream_file_command("queue-thereare"),
        agi.say_number_command(position),
        agi.stream_file_command("queue-callswaiting"),
    ]


def wait_commands(estimated_wait: float) -> list[bytes | None]:
    """Say the estimated wait in whole minutes (at least one) with Asterisk's queue sounds."""
    minutes = max(1, round(estimated_wait / 60))
    unit = "queue-minute" if minutes == 1 else "queue-minutes"
    return [
        agi.stream_file_command("queue-holdtime"),
        agi.say_number_command(minutes),
        agi.stream_file_command(unit),
    ]


class CallState(enum.Enum):
    IVR = "ivr"
    QUEUED = "queued"
    RINGING = "ringing"
    CONNECTED = "connected"
    ENDED = "ended"


class _CallOver(Exception):
    """The IVR hung up or transferred the call."""


@dataclass
class DialRequest:
    """The engine's request to ring an agent, carried out by the caller's coroutine."""

    agent: AgentEndpoint
    ring_timeout: float
    whisper: str
    result: asyncio.Future[AgentLegResult]


@dataclass
class BridgeRequest:
    """The connector's request that the caller's session run ``Bridge(channel)``.

    ``sent`` is set once the command is written, when Asterisk starts the bridge.
    """

    channel: str
    sent: asyncio.Future[None]


@dataclass
class ConsultLeg:
    """The consulted party's channel, originated with a known unique id."""

    target: AgentEndpoint
    unique_id: str
    channel: str = ""
    # True once santral ends the leg itself (cancel, complete, the agent's hang-up).
    ending: bool = False


@dataclass
class AsteriskCall:
    """A caller on a FastAGI session and, once rung, the agent leg."""

    call_id: str
    session: AgiSession
    state: CallState = CallState.IVR
    dial: DialRequest | None = None
    dialing: DialRequest | None = None
    agent: AgentEndpoint | None = None
    agent_unique_id: str = ""
    agent_channel: str = ""
    caller_reported: bool = False
    caller_left_bridge: bool = False
    agent_leg_reported: bool = False
    music_on: bool = False
    hangup_cause: str = ""
    # The bridge the caller is in, from its BridgeEnter; empty while it is in none.
    caller_bridge: str = ""
    # The agent's channel waits in the hold context while the caller hears music.
    held: bool = False
    bridge_to: BridgeRequest | None = None
    consult: ConsultLeg | None = None
    waiter: asyncio.Task[QueueResult] | None = None
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def request(self) -> AgiRequest:
        return self.session.request

    @property
    def unique_id(self) -> str:
        return self.request.unique_id

    @property
    def channel(self) -> str:
        return self.request.channel

    def transition(self, new: CallState) -> None:
        """Move to ``new``; the only place that assigns ``state``."""
        if new is self.state:
            return
        log.info("asterisk_call_state", call_id=self.call_id, old=self.state.value, new=new.value)
        self.state = new


class CallRunner:
    """Runs one call's session from the header block to the hang-up."""

    def __init__(self, connector: AsteriskConnector, call: AsteriskCall) -> None:
        self.connector = connector
        self.settings = connector.settings
        self.flow = connector.calls
        self.clock = connector.clock
        self.call = call
        self.session = call.session

    async def run(self, actions: list[Action]) -> None:
        """Carry out ``actions`` and every later step until the call is over."""
        with contextlib.suppress(_CallOver):
            await self._loop(actions)

    async def _loop(self, actions: list[Action]) -> None:
        for _ in range(MAX_STEPS):
            event = await self._perform_all(actions)
            if event is None:
                log.warning("ivr_returned_no_media_action", call_id=self.call.call_id)
                await self._hang_up()
                return
            actions = await self.flow.handle(self.call.call_id, event)
        log.error("ivr_step_limit", call_id=self.call.call_id, steps=MAX_STEPS)
        await self._hang_up()

    async def _perform_all(self, actions: list[Action]) -> Event | None:
        for action in actions:
            event = await self._perform(action)
            if event is not None:
                return event
        return None

    async def _perform(self, action: Action) -> Event | None:
        log.debug("ivr_action", call_id=self.call.call_id, action=action.kind)
        if isinstance(action, Gather):
            return await media.gather(self.session, self.settings, action, self.clock)
        if isinstance(action, Play):
            await media.play(self.session, self.settings, action)
            return PromptFinished()
        if isinstance(action, Record):
            return await self._record(action)
        if isinstance(action, Enqueue):
            return await self.wait_in_queue(action)
        if isinstance(action, Hangup):
            await self._hang_up()
            raise _CallOver
        if isinstance(action, Transfer):
            await self._transfer(action)
            raise _CallOver
        if isinstance(action, PauseRecording):
            await self.connector.pause_recording(self.call, action.paused)
        return None

    async def _record(self, action: Record) -> Event:
        finished = await media.record(self.session, self.settings, action)
        if finished.reason == "hangup":
            # Report what was recorded, then stop: no command may follow a hang-up.
            await self.flow.handle(self.call.call_id, finished)
            raise AgiHangup(f"caller hung up while recording {action.name}")
        return finished

    async def _hang_up(self) -> None:
        self.call.hangup_cause = self.call.hangup_cause or "ivr_hangup"
        await self.session.send(agi.hangup_command())
        await self.session.close()

    async def _transfer(self, action: Transfer) -> None:
        target = action.target
        dial_string = (
            target if "/" in target else self.settings.transfer_template.format(target=target)
        )
        options = f"{dial_string},{max(1, math.ceil(action.timeout))}"
        self.call.hangup_cause = "transferred"
        await self.session.send(agi.exec_command("Dial", options), wait=None)
        await self.session.close()

    # The queue

    async def wait_in_queue(self, action: Enqueue) -> QueueResult:
        """Hold the caller with music and announcements until the queue result arrives."""
        call = self.call
        call.transition(CallState.QUEUED)
        call.waiter = asyncio.create_task(self.flow.wait_queue_result(call.call_id))
        try:
            return await self._queue_loop(action)
        finally:
            call.waiter.cancel()
            call.waiter.add_done_callback(_observe)
            await self._music(False)
            if call.state is not CallState.ENDED:
                call.transition(CallState.IVR)

    async def _queue_loop(self, action: Enqueue) -> QueueResult:
        last_announcement = self.clock.now()
        for _ in range(MAX_QUEUE_POLLS):
            result = self._queue_result()
            if result is not None:
                return result
            request = self.call.dial
            if request is not None:
                self.call.dial = None
                if await self._dial_agent(request):
                    return await self._result_after_conversation()
                continue
            status = self.flow.queue_status(self.call.call_id)
            if self._announcement_due(status, last_announcement):
                assert status is not None
                await self._announce(status, action.language)
                last_announcement = self.clock.now()
            await self._music(True)
            key = await self._poll_key()
            if status is not None and status.exit_key and key == status.exit_key:
                return QueueResult(outcome="left")
        return QueueResult(outcome="timeout")

    def _queue_result(self) -> QueueResult | None:
        waiter = self.call.waiter
        if waiter is not None and waiter.done() and not waiter.cancelled():
            return waiter.result()
        status = self.flow.queue_status(self.call.call_id)
        if status is not None and status.outcome is not None:
            return status.outcome
        return None

    def _announcement_due(self, status: QueueStatus | None, last: float) -> bool:
        if status is None or status.announce_every <= 0:
            return False
        return self.clock.now() - last >= status.announce_every

    async def _announce(self, status: QueueStatus, language: str) -> None:
        prompts = [
            Prompt(type="file", value=name, language=language) for name in status.periodic_prompts
        ]
        lines = [media.prompt_command(self.settings, prompt, "") for prompt in prompts]
        if status.announce_position and status.position > 0:
            lines += position_commands(status.position)
        if status.announce_wait and status.estimated_wait:
            lines += wait_commands(status.estimated_wait)
        commands = [line for line in lines if line is not None]
        if commands:
            await self._music(False)
            for line in commands:
                await self.session.send(line, wait=600.0)

    async def _poll_key(self) -> str:
        interval = self.settings.queue_poll_interval
        reply = await self.session.send(
            agi.wait_for_digit_command(round(interval * 1000)), wait=interval
        )
        return reply.digit

    async def _music(self, on: bool) -> None:
        if on == self.call.music_on or self.session.hung_up:
            return
        application = "StartMusicOnHold" if on else "StopMusicOnHold"
        argument = self.settings.music_class if on else ""
        self.call.music_on = on
        await self.session.send(agi.exec_command(application, argument))

    # The agent leg

    async def _result_after_conversation(self) -> QueueResult:
        waiter = self.call.waiter
        limit = self.settings.fastagi.reply_timeout
        if waiter is not None:
            try:
                return await asyncio.wait_for(asyncio.shield(waiter), limit)
            except TimeoutError:
                log.warning("queue_result_missing_after_conversation", call_id=self.call.call_id)
        return QueueResult(outcome="answered")

    async def _dial_agent(self, request: DialRequest) -> bool:
        """Ring the agent and return True if the two talked.

        On answer the caller's session waits in ``Dial`` until a leg leaves.
        """
        call = self.call
        call.agent = request.agent
        call.dialing = request
        call.transition(CallState.RINGING)
        await self._music(False)
        try:
            line = agi.exec_command("Dial", self._dial_options(request))
            reply = await self.session.send(line, wait=None)
            if reply.value == -1:
                # Dial failed or the caller hung up; a hang-up shows on the next command.
                log.info("asterisk_dial_returned_failure", call_id=call.call_id)
            status = await self._dial_status()
        except AgiHangup:
            self.connector.resolve_dial(call, AgentLegResult.CALLER_GONE, request)
            raise
        return await self._after_dial(request, status)

    def _dial_options(self, request: DialRequest) -> str:
        seconds = max(1, math.ceil(request.ring_timeout))
        options = "g" + self.settings.agent_dial_options.replace("g", "")
        if request.whisper:
            whisper = Prompt(
                type="file", value=request.whisper, language=self.call.request.language or "en"
            )
            options += f"A({media.sound_name(self.settings, whisper)})"
        return f"{request.agent.address},{seconds},{options}"

    async def _dial_status(self) -> str:
        reply = await self.session.send(agi.get_variable_command("DIALSTATUS"))
        return reply.data.upper() if reply.value == 1 else ""

    async def _after_dial(self, request: DialRequest, status: str) -> bool:
        call = self.call
        result = DIAL_STATUS.get(status, AgentLegResult.FAILED)
        self.connector.resolve_dial(call, result, request)
        if result is AgentLegResult.ANSWERED:
            await self._converse()
            return True
        return False

    async def _converse(self) -> None:
        """Keep the caller with the agent until the agent's leg ends for good.

        The caller's ``Dial`` (or a later ``Bridge``) returns when the agent's channel leaves
        the bridge: for good when the agent hung up, or while the caller is held (the agent
        waits in the hold context, or consults someone). A held caller hears music on hold
        and the session polls until the connector requests ``Bridge`` again.
        """
        call = self.call
        for _ in range(MAX_QUEUE_POLLS):
            if call.state is not CallState.CONNECTED:
                break
            request = call.bridge_to
            if request is not None:
                call.bridge_to = None
                await self._bridge(request)
            elif call.held:
                await self._music(True)
                await self._poll_key()
            else:
                await self.connector.agent_leg_left(call, cause="agent_hangup")
                break
        await self._music(False)

    async def _bridge(self, request: BridgeRequest) -> None:
        """Run ``Bridge`` with the waiting channel until one of the two leaves."""
        await self._music(False)
        if not request.sent.done():
            # The waiter resumes on a later turn of the loop, after the line below is written.
            request.sent.set_result(None)
        await self.session.send(agi.exec_command("Bridge", request.channel), wait=None)
        reply = await self.session.send(agi.get_variable_command("BRIDGERESULT"))
        if reply.data != "SUCCESS":
            log.warning(
                "asterisk_bridge_failed", call_id=self.call.call_id, result=reply.data or "unset"
            )
