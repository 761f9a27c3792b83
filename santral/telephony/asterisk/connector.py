"""The Asterisk connector: FastAGI sessions carry the calls, AMI watches channels and phones.

A call arrives when Asterisk runs ``AGI(agi://santral:4573/<script>?<query>)``. The script
name goes to the engine as the ``entry`` of the IVR, and the engine maps it to a dialplan.
The query's ``lang`` (or ``language``) sets the call's language. AMI, when configured,
reports hang-ups at any stage, the agent leg's dial, answer and bridge, and the phones'
registrations; after every login the connector reads ``CoreShowChannels`` and
``DeviceStateList`` so no call or agent stays stuck across an AMI outage.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

import structlog

from ivr.actions import CallInfo
from santral.clock import Clock
from santral.errors import ConnectorError, SantralError
from santral.events import AgentLegChanged, EndpointStateChanged, EventBus
from santral.telephony.asterisk import agi, ami_events
from santral.telephony.asterisk.agi import AgiRequest
from santral.telephony.asterisk.agi_server import AgiHangup, AgiSession, FastAgiServer
from santral.telephony.asterisk.ami_client import AmiClient
from santral.telephony.asterisk.call import (
    DIAL_STATUS,
    AsteriskCall,
    BridgeRequest,
    CallRunner,
    CallState,
    ConsultLeg,
    DialRequest,
)
from santral.telephony.asterisk.settings import AsteriskSettings
from santral.telephony.base import AgentEndpoint, AgentLegResult, CallFlow

log = structlog.get_logger(__name__)

UNAVAILABLE_DEVICE_STATES = frozenset({"UNAVAILABLE", "INVALID"})
# OriginateResponse ``Reason`` codes (the last control frame seen): 1 hang-up, 3 ringing,
# 4 answered, 5 busy, 8 congestion; 0 when the channel could not be created.
ORIGINATE_REASON = {
    "1": AgentLegResult.DECLINED,
    "3": AgentLegResult.NO_ANSWER,
    "5": AgentLegResult.BUSY,
}


def default_call_id(request: AgiRequest) -> str:
    """Return ``asterisk-<uniqueid>``, or a random id when Asterisk sent no uniqueid."""
    return f"asterisk-{request.unique_id}" if request.unique_id else f"asterisk-{uuid.uuid4()}"


class AsteriskConnector:
    """Serves Asterisk: implements ``Connector`` for the engine and ``CallControl`` per call."""

    name = "asterisk"

    def __init__(
        self,
        settings: AsteriskSettings,
        calls: CallFlow,
        *,
        clock: Clock,
        bus: EventBus,
        store: object | None = None,
        agents: Mapping[str, str] | None = None,
        call_id_factory: Callable[[AgiRequest], str] = default_call_id,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        """``agents`` maps each agent's endpoint (``PJSIP/alice``) to the agent id.

        ``environ`` is the engine's environment, where the AMI secret's variable is read;
        None reads the process environment.
        """
        self.settings = settings
        self.calls = calls
        self.clock = clock
        self.bus = bus
        self.store = store
        self.ami: AmiClient | None = None
        self.table = ami_events.ChannelTable()
        self.last_error = ""
        self.calls_started = 0
        self._agents = dict(agents or {})
        self._call_id = call_id_factory
        self._environ = environ
        self._server: FastAgiServer | None = None
        self._calls: dict[str, AsteriskCall] = {}
        self._by_unique_id: dict[str, AsteriskCall] = {}
        self._by_agent_unique_id: dict[str, AsteriskCall] = {}
        self._by_consult_unique_id: dict[str, AsteriskCall] = {}
        self._available: dict[str, bool] = {}
        self._tasks: set[asyncio.Task[Any]] = set()

    # Connector

    @property
    def fastagi_address(self) -> tuple[str, int]:
        if self._server is None:
            raise ConnectorError("the FastAGI server is not running")
        return self._server.address

    async def start(self) -> None:
        """Listen for FastAGI and start the AMI login; raise ``ConnectorError`` if unable."""
        fastagi = self.settings.fastagi
        if fastagi.enabled:
            self._server = FastAgiServer(
                self._on_session,
                host=fastagi.host,
                port=fastagi.port,
                header_timeout=fastagi.header_timeout,
                reply_timeout=fastagi.reply_timeout,
                max_sessions=fastagi.max_sessions,
            )
            try:
                await self._server.start()
            except OSError as error:
                raise ConnectorError(
                    f"cannot listen for FastAGI on {fastagi.host}:{fastagi.port}: {error};"
                    " set asterisk.fastagi.port to a free port"
                ) from error
        if self.settings.ami.enabled:
            self.ami = AmiClient(
                self.settings.ami, self._on_ami_event, on_login=self._resync, environ=self._environ
            )
            await self.ami.start()
        log.info("asterisk_connector_started", ami=self.ami is not None, fastagi=fastagi.enabled)

    async def stop(self) -> None:
        """Close every session (Asterisk continues each channel's dialplan) and log off AMI."""
        for call in list(self._calls.values()):
            call.hangup_cause = call.hangup_cause or "engine_stopped"
        if self._server is not None:
            await self._server.stop()
        if self._tasks:
            # Ended calls hang up the channels santral left waiting; AMI must still be up.
            await asyncio.wait(self._tasks, timeout=2.0)
        if self.ami is not None:
            await self.ami.stop()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=2.0)
        log.info("asterisk_connector_stopped")

    def health(self) -> dict[str, object]:
        health: dict[str, object] = {
            "connected": self._server is not None,
            "calls": len(self._calls),
            "calls_started": self.calls_started,
            "last_error": self.last_error,
        }
        if self.ami is not None:
            health["ami"] = self.ami.health()
        return health

    # FastAGI sessions

    async def _on_session(self, session: AgiSession) -> None:
        request = session.request
        call = AsteriskCall(self._call_id(request), session)
        self._register(call)
        log.info(
            "asterisk_call_started",
            call_id=call.call_id,
            channel=call.channel,
            script=request.script,
        )
        try:
            actions = await self.calls.start_call(
                self._call_info(call), self, entry=request.script or None
            )
            await session.send(agi.answer_command())
            await CallRunner(self, call).run(actions)
        except AgiHangup:
            call.hangup_cause = call.hangup_cause or "caller_hangup"
        except (SantralError, KeyError) as error:
            self.last_error = str(error)
            log.error("asterisk_call_failed", call_id=call.call_id, error=str(error))
        finally:
            await self._end_call(call)

    def _call_info(self, call: AsteriskCall) -> CallInfo:
        request = call.request
        language = request.query.get("lang") or request.query.get("language") or request.language
        variables: dict[str, Any] = {
            "asterisk_channel": request.channel,
            "asterisk_unique_id": request.unique_id,
            "agi_script": request.script,
            "agi_arguments": list(request.arguments),
            **{f"agi_{name}": value for name, value in request.query.items()},
        }
        return CallInfo(
            call_id=call.call_id,
            caller=request.caller,
            called=request.called,
            connector=self.name,
            language=language,
            variables=variables,
        )

    def _register(self, call: AsteriskCall) -> None:
        self.calls_started += 1
        self._calls[call.call_id] = call
        self._by_unique_id[call.unique_id] = call

    async def _end_call(self, call: AsteriskCall) -> None:
        call.transition(CallState.ENDED)
        for request in (call.dial, call.dialing):
            if request is not None:
                self.resolve_dial(call, AgentLegResult.CALLER_GONE, request)
        self._calls.pop(call.call_id, None)
        self._by_unique_id.pop(call.unique_id, None)
        self._by_agent_unique_id.pop(call.agent_unique_id, None)
        self._hang_up_parked_legs(call)
        await call.session.close()
        if not call.caller_reported:
            call.caller_reported = True
            cause = call.hangup_cause or "caller_hangup"
            log.info("asterisk_call_ended", call_id=call.call_id, cause=cause)
            await self.calls.caller_hung_up(call.call_id, cause)

    # CallControl

    async def connect_agent(
        self, call_id: str, agent: AgentEndpoint, ring_timeout: float, whisper: str = ""
    ) -> AgentLegResult:
        """Ring ``agent`` from the caller's session and return how the attempt ended.

        Returns ``CALLER_GONE`` if the call is over. Raises ``ConnectorError`` if another
        agent is being rung or is connected. If cancelled while the phone rings, the agent leg is
        hung up (through AMI) and the caller keeps waiting.
        """
        call = self._calls.get(call_id)
        if call is None or call.state is CallState.ENDED:
            return AgentLegResult.CALLER_GONE
        # IVR is accepted too: the ACD may offer the call before the caller's coroutine
        # has started the queue wait, which then picks the request up.
        if call.state not in (CallState.IVR, CallState.QUEUED) or call.dial is not None:
            raise ConnectorError(
                f"cannot ring {agent.address}: the call is {call.state.value},"
                " not waiting in a queue",
                call_id=call_id,
            )
        self._agents.setdefault(agent.address, agent.agent_id)
        future: asyncio.Future[AgentLegResult] = asyncio.get_running_loop().create_future()
        request = DialRequest(agent, ring_timeout, whisper, future)
        call.dial = request
        try:
            return await asyncio.wait_for(asyncio.shield(future), self._dial_limit(ring_timeout))
        except TimeoutError:
            log.warning(
                "asterisk_dial_unanswered_in_time", call_id=call_id, agent_id=agent.agent_id
            )
            await self._cancel_dial(call, request)
            return AgentLegResult.NO_ANSWER
        except asyncio.CancelledError:
            await self._cancel_dial(call, request)
            raise

    def _dial_limit(self, ring_timeout: float) -> float | None:
        # Without AMI the answer is only known when Dial returns after the conversation.
        if self.ami is None or not self.ami.authenticated:
            return None
        return (
            ring_timeout + self.settings.queue_poll_interval + self.settings.fastagi.reply_timeout
        )

    async def _cancel_dial(self, call: AsteriskCall, request: DialRequest) -> None:
        if call.dial is request:
            call.dial = None
            request.result.cancel()
            return
        if call.dialing is not request:
            return
        if call.agent_channel and self.ami is not None and self.ami.authenticated:
            with contextlib.suppress(ConnectorError):
                await self.ami.hangup(call.agent_channel)
            return
        log.warning(
            "asterisk_cannot_stop_ringing", call_id=call.call_id, reason="AMI is not logged in"
        )

    def resolve_dial(
        self, call: AsteriskCall, result: AgentLegResult, request: DialRequest | None = None
    ) -> None:
        """Settle the dial in progress (or ``request``) once; later results are ignored."""
        request = request or call.dialing
        if request is None or request.result.done():
            return
        request.result.set_result(result)
        state = "answered" if result is AgentLegResult.ANSWERED else result.value
        self._publish_leg(call, state)
        if call.dialing is request:
            call.dialing = None
        if call.state is CallState.ENDED:
            return
        if result is AgentLegResult.ANSWERED:
            call.agent_leg_reported = False
            call.transition(CallState.CONNECTED)
        else:
            call.transition(CallState.QUEUED)

    async def agent_leg_left(
        self, call: AsteriskCall, cause: str, *, caller_remains: bool = True
    ) -> None:
        """Report once that the agent left the conversation.

        ``AgentLegChanged(left)`` is published either way. ``CallFlow.agent_leg_ended`` is
        called only when the caller remained on the line (``caller_remains``, decided when
        the event arrived). A caller's hang-up is reported by ``caller_hung_up`` instead,
        so the interaction ends once.
        """
        if call.agent_leg_reported or call.state is not CallState.CONNECTED:
            return
        call.agent_leg_reported = True
        self._publish_leg(call, "left", cause)
        if not caller_remains or call.session.hung_up:
            return
        call.transition(CallState.QUEUED)
        await self.calls.agent_leg_ended(call.call_id)

    async def hold(self, call_id: str, on_hold: bool) -> None:
        """Hold the caller with music, or bridge it with the agent again; needs AMI.

        Holding redirects the agent's channel to ``hold_context``, which ends the caller's
        bridge; the caller's session then plays music on hold. Resuming has the session run
        ``Bridge`` with the agent's channel. Raises ``ConnectorError`` if the call is not
        connected, AMI is not logged in, Asterisk refused the redirect, or a consultation
        is in progress (cancel or complete it instead).
        """
        call = self._connected_call(call_id, "hold")
        if on_hold == call.held:
            return
        if not on_hold:
            if call.consult is not None:
                raise ConnectorError(
                    "cannot take the caller off hold during a consultation; cancel or complete it",
                    call_id=call_id,
                )
            await self._bridge_back(call, call.agent_channel)
            return
        await self._park_agent(call)

    def _connected_call(self, call_id: str, operation: str) -> AsteriskCall:
        call = self._calls.get(call_id)
        if call is None or call.state is not CallState.CONNECTED or not call.agent_channel:
            raise ConnectorError(
                f"cannot {operation}: the call is not connected to an agent", call_id=call_id
            )
        if self.ami is None or not self.ami.authenticated:
            raise ConnectorError(
                f"{operation} needs an AMI login; configure asterisk.ami", call_id=call_id
            )
        return call

    async def _park_agent(self, call: AsteriskCall) -> None:
        """Redirect the agent's channel to the hold context; the caller's bridge ends.

        NOTE: tested against the scripted Asterisk only. It relies on ``Dial`` with the
        ``g`` option returning to the caller's AGI when the agent's channel is redirected.
        """
        assert self.ami is not None
        call.held = True
        result = await self.ami.redirect(call.agent_channel, self.settings.hold_context, "s")
        if not result.success:
            call.held = False
            message = result.response.get("Message")
            raise ConnectorError(
                f"Asterisk rejected the hold of {call.agent_channel}: {message}",
                call_id=call.call_id,
            )
        log.info("asterisk_caller_held", call_id=call.call_id, agent_channel=call.agent_channel)

    async def _bridge_back(self, call: AsteriskCall, channel: str) -> None:
        """Have the caller's session bridge with ``channel``; return once it runs ``Bridge``.

        Raises ``ConnectorError`` if the session does not get to it in time.
        """
        sent: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        call.held = False
        call.bridge_to = BridgeRequest(channel, sent)
        limit = self.settings.queue_poll_interval + self.settings.fastagi.reply_timeout
        try:
            await asyncio.wait_for(asyncio.shield(sent), limit)
        except TimeoutError:
            raise ConnectorError(
                f"the caller's session did not bridge with {channel} in time",
                call_id=call.call_id,
            ) from None
        log.info("asterisk_caller_bridged", call_id=call.call_id, channel=channel)

    def _hang_up_parked_legs(self, call: AsteriskCall) -> None:
        """Hang up the agent and consulted channels santral left waiting in the dialplan."""
        channels = []
        if call.consult is not None and call.consult.channel:
            call.consult.ending = True
            channels.append(call.consult.channel)
            self._by_consult_unique_id.pop(call.consult.unique_id, None)
        if (call.held or call.consult is not None) and call.agent_channel:
            channels.append(call.agent_channel)
        call.consult = None
        for channel in channels:
            self._spawn(self._hang_up_channel(call, channel))

    async def _hang_up_channel(self, call: AsteriskCall, channel: str) -> None:
        if self.ami is None or not self.ami.authenticated:
            return
        try:
            await self.ami.hangup(channel)
        except ConnectorError as error:
            log.warning(
                "asterisk_leg_hangup_failed",
                call_id=call.call_id,
                channel=channel,
                error=str(error),
            )

    # ConsultControl

    async def consult(
        self, call_id: str, target: AgentEndpoint, ring_timeout: float
    ) -> AgentLegResult:
        """Hold the caller and originate ``target`` into ``consult_context``; needs AMI.

        Returns ``ANSWERED`` when the target talks with the agent, whose channel waits in
        the hold context. Any other result bridges the caller with the agent again. Raises
        ``ConnectorError`` if the call is not connected, a consultation is already running,
        or Asterisk rejected an action. If cancelled, the caller is bridged with the agent
        again. A target that still rings then rings until ``ring_timeout``, because its
        channel name arrives only with ``OriginateResponse``.
        """
        call = self._calls.get(call_id)
        if call is None or call.state is CallState.ENDED:
            return AgentLegResult.CALLER_GONE
        call = self._connected_call(call_id, "consult")
        if call.consult is not None:
            raise ConnectorError("a consultation is already in progress", call_id=call_id)
        if not call.held:
            await self._park_agent(call)
        consult = ConsultLeg(target, f"santral-consult-{uuid.uuid4().hex}")
        call.consult = consult
        self._by_consult_unique_id[consult.unique_id] = call
        try:
            result = await self._originate_consult(call, consult, ring_timeout)
        except BaseException:
            with contextlib.suppress(ConnectorError):
                await self._end_consult(call, consult)
            raise
        if result is not AgentLegResult.ANSWERED:
            await self._end_consult(call, consult)
        return result

    async def _originate_consult(
        self, call: AsteriskCall, consult: ConsultLeg, ring_timeout: float
    ) -> AgentLegResult:
        assert self.ami is not None
        address = consult.target.address
        dial_string = (
            address if "/" in address else self.settings.transfer_template.format(target=address)
        )
        fields = [
            ("Channel", dial_string),
            ("Context", self.settings.consult_context),
            ("Exten", "s"),
            ("Priority", "1"),
            ("Timeout", str(int(ring_timeout * 1000))),
            ("CallerID", call.request.caller),
            ("Async", "true"),
            ("ChannelId", consult.unique_id),
            ("Variable", f"SANTRAL_AGENT={call.agent_channel}"),
        ]
        limit = ring_timeout + self.settings.ami.action_timeout
        result = await self.ami.send("Originate", fields, limit=limit)
        response = result.events[-1] if result.events else result.response
        if result.success:
            consult.channel = response.get("Channel")
            log.info("asterisk_consult_answered", call_id=call.call_id, channel=consult.channel)
            return AgentLegResult.ANSWERED
        reason = response.get("Reason")
        log.info("asterisk_consult_not_answered", call_id=call.call_id, reason=reason)
        return ORIGINATE_REASON.get(reason, AgentLegResult.FAILED)

    async def _end_consult(
        self, call: AsteriskCall, consult: ConsultLeg, *, bridge_back: bool = True
    ) -> None:
        """End the consulted leg (if any) and bridge the caller with the agent again."""
        consult.ending = True
        if call.consult is consult:
            call.consult = None
        self._by_consult_unique_id.pop(consult.unique_id, None)
        if consult.channel:
            await self._hang_up_channel(call, consult.channel)
        if bridge_back and call.state is CallState.CONNECTED:
            await self._bridge_back(call, call.agent_channel)

    async def complete_consult(self, call_id: str) -> None:
        """Hang up the agent's channel and bridge the caller with the consulted party.

        The consulted party's channel becomes the call's agent leg. Raises
        ``ConnectorError`` if no answered consultation is in progress.
        """
        call = self._connected_call(call_id, "complete the consultation")
        consult = call.consult
        if consult is None or not consult.channel:
            raise ConnectorError("no answered consultation to complete", call_id=call_id)
        assert self.ami is not None
        consult.ending = True
        call.consult = None
        self._by_consult_unique_id.pop(consult.unique_id, None)
        agent_channel = call.agent_channel
        self._by_agent_unique_id.pop(call.agent_unique_id, None)
        self._publish_leg(call, "left", "transferred")
        call.agent = consult.target
        call.agent_channel, call.agent_unique_id = consult.channel, consult.unique_id
        self._by_agent_unique_id[consult.unique_id] = call
        await self._hang_up_channel(call, agent_channel)
        await self._bridge_back(call, consult.channel)

    async def cancel_consult(self, call_id: str) -> None:
        """Hang up the consulted party's channel and bridge the caller with the agent again."""
        call = self._connected_call(call_id, "cancel the consultation")
        consult = call.consult
        if consult is None:
            raise ConnectorError("no consultation to cancel", call_id=call_id)
        await self._end_consult(call, consult)

    async def _consulted_left(self, call: AsteriskCall) -> None:
        """Bridge the caller with the agent again and report the consulted party's hang-up."""
        try:
            await self._bridge_back(call, call.agent_channel)
        except ConnectorError as error:
            log.warning("asterisk_bridge_back_failed", call_id=call.call_id, error=str(error))
        await self.calls.consult_leg_ended(call.call_id)

    async def transfer(self, call_id: str, target: str) -> None:
        """Redirect the caller to ``target`` in ``transfer_context``; needs AMI."""
        call = self._calls.get(call_id)
        if call is None:
            raise ConnectorError("cannot transfer: the call is over", call_id=call_id)
        if self.ami is None or not self.ami.authenticated:
            raise ConnectorError(
                "transfer needs an AMI login; configure asterisk.ami", call_id=call_id
            )
        call.hangup_cause = "transferred"
        result = await self.ami.redirect(call.channel, self.settings.transfer_context, target)
        if not result.success:
            message = result.response.get("Message")
            raise ConnectorError(
                f"Asterisk rejected the transfer to {target}: {message}", call_id=call_id
            )

    async def hangup_agent(self, call_id: str) -> None:
        """Hang up the agent's channel so the caller's Dial returns to the dialplan.

        Needs AMI; without it the agent channel cannot be reached and the whole call ends.
        """
        call = self._calls.get(call_id)
        if call is None:
            return
        if self.ami is None or not self.ami.authenticated or not call.agent_channel:
            await self.hangup(call_id)
            return
        result = await self.ami.hangup(call.agent_channel)
        if not result.success:
            log.warning(
                "asterisk_agent_hangup_failed",
                call_id=call_id,
                channel=call.agent_channel,
                message=result.response.get("Message"),
            )

    async def hangup(self, call_id: str) -> None:
        """Hang up the caller (idempotent): AMI hangs up the channel, the session closes."""
        call = self._calls.get(call_id)
        if call is None:
            return
        call.hangup_cause = call.hangup_cause or "engine_hangup"
        if self.ami is not None and self.ami.authenticated:
            try:
                await self.ami.hangup(call.channel)
            except ConnectorError as error:
                log.warning("asterisk_ami_hangup_failed", call_id=call_id, error=str(error))
        call.session.abort()

    async def pause_recording(self, call: AsteriskCall, paused: bool) -> None:
        """Mute or unmute the call's MixMonitor recording around sensitive input."""
        if self.ami is None or not self.ami.authenticated:
            log.warning("asterisk_recording_pause_skipped", call_id=call.call_id, reason="no AMI")
            return
        fields = [
            ("Channel", call.channel),
            ("Direction", "both"),
            ("State", "1" if paused else "0"),
        ]
        try:
            await self.ami.send("MixMonitorMute", fields)
        except ConnectorError as error:
            log.warning("asterisk_recording_pause_failed", call_id=call.call_id, error=str(error))

    # AMI

    def _on_ami_event(self, event: ami_events.AsteriskEvent) -> None:
        self.table.apply(event)
        if isinstance(event, ami_events.ChannelHungUp):
            self._channel_hung_up(event)
        elif isinstance(event, ami_events.DialStarted):
            self._dial_started(event)
        elif isinstance(event, ami_events.DialEnded):
            self._dial_ended(event)
        elif isinstance(event, ami_events.BridgeEntered):
            self._bridge_entered(event)
        elif isinstance(event, ami_events.BridgeLeft):
            self._bridge_left(event)
        elif isinstance(event, ami_events.EndpointRegistration):
            self._endpoint_available(event.endpoint, event.status, event.registered)
        elif isinstance(event, ami_events.DeviceStateChanged):
            available = event.state not in UNAVAILABLE_DEVICE_STATES
            self._endpoint_available(event.device, event.state, available)

    def _channel_hung_up(self, event: ami_events.ChannelHungUp) -> None:
        call = self._by_unique_id.get(event.unique_id)
        if call is not None:
            call.hangup_cause = call.hangup_cause or f"caller_hangup_cause_{event.cause}"
            call.session.abort()
            return
        call = self._by_consult_unique_id.pop(event.unique_id, None)
        if call is not None:
            self._consult_hung_up(call, event)
            return
        call = self._by_agent_unique_id.pop(event.unique_id, None)
        if call is not None:
            cause = f"agent_hangup_cause_{event.cause}"
            consult = call.consult
            if consult is not None:
                # The agent hung up while consulting: the consulted leg ends too.
                self._spawn(self._end_consult(call, consult, bridge_back=False))
            call.held = False
            remains = not call.caller_left_bridge
            self._spawn(self.agent_leg_left(call, cause, caller_remains=remains))

    def _consult_hung_up(self, call: AsteriskCall, event: ami_events.ChannelHungUp) -> None:
        consult = call.consult
        if consult is None or consult.unique_id != event.unique_id or consult.ending:
            return
        log.info("asterisk_consulted_hung_up", call_id=call.call_id, cause=event.cause)
        call.consult = None
        if consult.channel and call.state is CallState.CONNECTED:
            self._spawn(self._consulted_left(call))

    def _dial_started(self, event: ami_events.DialStarted) -> None:
        call = self._by_unique_id.get(event.caller_unique_id)
        if call is None:
            return
        call.agent_unique_id = event.agent_unique_id
        call.agent_channel = event.agent_channel
        call.caller_left_bridge = False
        if event.agent_unique_id:
            self._by_agent_unique_id[event.agent_unique_id] = call
        self._publish_leg(call, "ringing")

    def _dial_ended(self, event: ami_events.DialEnded) -> None:
        call = self._by_unique_id.get(event.caller_unique_id)
        if call is not None and call.dialing is not None:
            self.resolve_dial(call, DIAL_STATUS.get(event.status, AgentLegResult.FAILED))

    def _bridge_entered(self, event: ami_events.BridgeEntered) -> None:
        caller = self._by_unique_id.get(event.unique_id)
        if caller is not None:
            caller.caller_bridge = event.bridge_id
            caller.caller_left_bridge = False
            return
        call = self._by_agent_unique_id.get(event.unique_id)
        if call is not None and call.consult is None:
            self._publish_leg(call, "bridged")

    def _bridge_left(self, event: ami_events.BridgeLeft) -> None:
        caller = self._by_unique_id.get(event.unique_id)
        if caller is not None:
            caller.caller_bridge = ""
            # A held caller leaves the bridge because santral moved the agent's channel.
            if not caller.held and caller.consult is None:
                caller.caller_left_bridge = True
            return
        call = self._by_agent_unique_id.get(event.unique_id)
        # Only the caller's own bridge counts; the agent also leaves hold and consult bridges.
        if call is None or call.held or event.bridge_id != call.caller_bridge:
            return
        remains = not call.caller_left_bridge
        self._spawn(self.agent_leg_left(call, "agent_left_bridge", caller_remains=remains))

    def _endpoint_available(self, endpoint: str, state: str, available: bool) -> None:
        if self._agents and endpoint not in self._agents:
            return
        if self._available.get(endpoint) == available:
            return
        self._available[endpoint] = available
        agent_id = self._agents.get(endpoint, "")
        log.info(
            "asterisk_endpoint_state",
            endpoint=endpoint,
            agent_id=agent_id,
            state=state,
            available=available,
        )
        self.bus.publish(
            EndpointStateChanged(
                connector=self.name,
                endpoint=endpoint,
                state=state,
                available=available,
                agent_id=agent_id,
            )
        )

    def _publish_leg(self, call: AsteriskCall, state: str, cause: str = "") -> None:
        agent = call.agent
        self.bus.publish(
            AgentLegChanged(
                connector=self.name,
                call_id=call.call_id,
                agent_id=agent.agent_id if agent else "",
                endpoint=agent.address if agent else call.agent_channel,
                state=state,
                cause=cause,
            )
        )

    async def _resync(self) -> None:
        """Rebuild the picture of channels and phones after a login.

        Only calls that existed before ``CoreShowChannels`` was sent are checked against
        its list, because a call that arrives meanwhile may be missing from it.
        """
        assert self.ami is not None
        known = list(self._calls.values())
        try:
            channels = await self.ami.core_show_channels()
            devices = await self.ami.device_states()
        except ConnectorError as error:
            log.warning("asterisk_resync_failed", error=str(error))
            return
        self.table.replace_channels(channels)
        alive = {channel.unique_id for channel in channels}
        for call in known:
            if call.state is not CallState.ENDED:
                self._resync_call(call, alive)
        for device in devices:
            self._endpoint_available(
                device.device, device.state, device.state not in UNAVAILABLE_DEVICE_STATES
            )
        log.info(
            "asterisk_resynchronised",
            channels=len(channels),
            devices=len(devices),
            calls=len(self._calls),
        )

    def _resync_call(self, call: AsteriskCall, alive: set[str]) -> None:
        if call.unique_id not in alive:
            log.warning("asterisk_call_vanished", call_id=call.call_id, channel=call.channel)
            call.hangup_cause = call.hangup_cause or "channel_gone_during_ami_outage"
            call.session.abort()
        elif call.state is CallState.CONNECTED and call.agent_unique_id not in alive:
            self._spawn(self.agent_leg_left(call, "agent_channel_gone_during_ami_outage"))

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("asterisk_task_failed", error=repr(task.exception()))
