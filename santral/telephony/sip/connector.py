"""The SIP connector: registers extensions, answers calls, runs their IVR, rings agents.

Signalling and media run on the asyncio loop (see ``transport`` and ``media``); messages are
parsed and built by santral's fixed pyVoIP classes (``pyvoip_fixes``). The connector owns
no business rules: it reports caller and agent-leg happenings to ``CallFlow`` and carries
out the media actions the IVR returns (``ivr_runner``).
"""

from __future__ import annotations

import asyncio
import os
import random
import tempfile
import uuid
from pathlib import Path
from typing import Any

import structlog

from ivr.actions import CallInfo
from santral.clock import Clock
from santral.errors import ConnectorError
from santral.telephony.base import AgentEndpoint, AgentLegResult, CallFlow
from santral.telephony.sip import sdp as sdp_module
from santral.telephony.sip.consult import ConsultTransfers
from santral.telephony.sip.errors import SipParseError
from santral.telephony.sip.ivr_runner import IvrRunner
from santral.telephony.sip.legs import AgentLeg, CallerLeg, LegState
from santral.telephony.sip.media import MediaClock, RtpLeg, bridge, unbridge
from santral.telephony.sip.prompts import PromptLibrary
from santral.telephony.sip.pyvoip_fixes import SantralSIPClient, SantralSIPMessage, parse_message
from santral.telephony.sip.registration import Registrar
from santral.telephony.sip.settings import SipSettings
from santral.telephony.sip.transport import Address, DatagramEndpoint, PortPool, open_endpoint

log = structlog.get_logger(__name__)

CANCEL_WAIT = 4.0
T1 = 0.5  # RFC 3261 timer T1: round-trip estimate, seconds
T2 = 4.0  # RFC 3261 timer T2: the longest retransmission interval, seconds
FINAL_RESULTS = {
    486: AgentLegResult.BUSY,
    600: AgentLegResult.BUSY,
    603: AgentLegResult.DECLINED,
    408: AgentLegResult.NO_ANSWER,
    480: AgentLegResult.NO_ANSWER,
    487: AgentLegResult.NO_ANSWER,
}


class SipConnector:
    """A SIP endpoint for santral that implements ``Connector`` and ``ConsultControl``."""

    name = "sip"

    def __init__(
        self,
        settings: SipSettings,
        calls: CallFlow,
        *,
        clock: Clock,
        bus: Any = None,
        store: Any = None,
        environ: dict[str, str] | None = None,
    ) -> None:
        self.settings = settings
        self.calls = calls
        self.clock = clock
        self.bus = bus
        self.store = store
        environ = dict(os.environ) if environ is None else environ
        password = environ.get(settings.password_env, "") if settings.password_env else ""
        self.clients = {
            extension: SantralSIPClient(
                settings.server,
                settings.port,
                extension,
                password,
                address=settings.local_address,
                sip_port=settings.local_port,
            )
            for extension in settings.extensions
        }
        self.ports = PortPool(settings.rtp_port_min, settings.rtp_port_max)
        self.media = MediaClock()
        self.callers: dict[str, CallerLeg] = {}
        self.agent_legs: dict[str, AgentLeg] = {}
        self.endpoint: DatagramEndpoint | None = None
        self.registrar = Registrar(self)
        self._cache = Path(tempfile.mkdtemp(prefix="santral-sip-"))
        self.library = PromptLibrary(calls.prompt_file, self._cache, voice=settings.tts_voice)
        self.runner = IvrRunner(self)
        self.consults = ConsultTransfers(self)
        self.recordings_dir = self._cache / "recordings"
        self.last_error = ""
        self.invalid_messages = 0
        self._tasks: set[asyncio.Task[Any]] = set()  # call runners, retransmissions, reports
        self.trace: list[tuple[str, bytes]] | None = None  # set to a list to record the wire

    # Connector

    async def start(self) -> None:
        """Bind the SIP port, start the media clock and register every extension.

        Raises ``ConnectorError`` if the port is taken or a registration fails; nothing is
        left running in that case.
        """
        address = (self.settings.local_address, self.settings.local_port)
        try:
            self.endpoint = await open_endpoint(address, self._datagram_received)
        except OSError as error:
            raise ConnectorError(
                f"cannot bind SIP port {address[0]}:{address[1]}: {error}"
            ) from None
        for client in self.clients.values():
            client.myPort = self.endpoint.local_address[1]
        self.media.start()
        if self.settings.registration:
            try:
                await self.registrar.register_all()
            except ConnectorError:
                await self.stop()
                raise
        log.info("sip_started", address=self.endpoint.local_address, extensions=list(self.clients))

    async def stop(self) -> None:
        """Hang up every call, remove the registrations and close the sockets."""
        for call in list(self.callers.values()):
            await self.hangup(call.call_id)
        await self.registrar.unregister_all()
        pending = [task for task in self._tasks if not task.done()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        await self.media.stop()
        if self.endpoint is not None:
            self.endpoint.close()
            self.endpoint = None
        log.info("sip_stopped")

    def health(self) -> dict[str, object]:
        return {
            "connected": self.endpoint is not None and self.registrar.all_registered(),
            "registered": sorted(self.registrar.registered),
            "calls": len(self.callers),
            "agent_legs": len(self.agent_legs),
            "consultations": sum(1 for call in self.callers.values() if call.consultation),
            "late_media_ticks": self.media.late_ticks,
            "invalid_messages": self.invalid_messages,
            "last_error": self.last_error,
        }

    @property
    def local_port(self) -> int:
        if self.endpoint is None:
            raise ConnectorError("the SIP connector is not started")
        return self.endpoint.local_address[1]

    # Sending

    def send_request(self, text: str) -> None:
        """Send a request to the registrar and proxy (santral sends no request elsewhere)."""
        self._send(text, (self.settings.server, self.settings.port))

    def send_response(self, request: SantralSIPMessage, text: str) -> None:
        """Send a response to the top Via of ``request`` (RFC 3261 section 18.2.2)."""
        via = request.headers["Via"][0]
        host = via.get("received") or via["address"][0]
        port = via.get("rport") or via["address"][1]
        self._send(text, (str(host), int(port)))

    def _send(self, text: str, destination: Address) -> None:
        log.debug("sip_out", first_line=text.split("\r\n", 1)[0], destination=destination)
        if self.trace is not None:
            self.trace.append(("out", text.encode()))
        if self.endpoint is not None:
            self.endpoint.send(text.encode(), destination)

    # Receiving

    def _datagram_received(self, data: bytes, source: Address) -> None:
        if not data.strip():
            return  # keep-alive
        if self.trace is not None:
            self.trace.append(("in", data))
        try:
            message = parse_message(data)
        except SipParseError as error:
            self.invalid_messages += 1
            log.warning("sip_invalid_message", source=source, error=str(error))
            return
        log.debug("sip_in", first_line=message.heading.decode(errors="replace"))
        if message.status_code:
            self._response_received(message)
        else:
            self._request_received(message)

    def _request_received(self, request: SantralSIPMessage) -> None:
        handlers = {
            "INVITE": self._invite_received,
            "ACK": self._ack_received,
            "BYE": self._bye_received,
            "CANCEL": self._cancel_received,
            "OPTIONS": self._options_received,
        }
        handler = handlers.get(request.method)
        if handler is None:
            client = self._client_for(request)
            self.send_response(request, client.gen_response(request, 501, "Not Implemented"))
            return
        handler(request)

    def _response_received(self, response: SantralSIPMessage) -> None:
        method = response.cseq[1]
        if method == "REGISTER":
            self.registrar.response_received(response)
        elif method == "INVITE":
            self._invite_response(response)

    def _client_for(self, request: SantralSIPMessage) -> SantralSIPClient:
        user = request.headers["To"].get("number")
        return self.clients.get(str(user)) or next(iter(self.clients.values()))

    def _options_received(self, request: SantralSIPMessage) -> None:
        self.send_response(request, self._client_for(request).gen_response(request, 200, "OK"))

    # Inbound calls

    def _invite_received(self, invite: SantralSIPMessage) -> None:
        call = self.callers.get(invite.call_id)
        if call is not None and call.invite.branch == invite.branch:
            self.send_response(invite, call.last_response)  # retransmission
            return
        if invite.headers["To"]["tag"]:
            self._reinvite_received(invite)
            return
        self._new_call(invite)

    def _new_call(self, invite: SantralSIPMessage) -> None:
        client = self._client_for(invite)
        try:
            offer = sdp_module.parse_sdp(invite.sdp)
        except SipParseError as error:
            log.warning("sip_invite_rejected", sip_call_id=invite.call_id, error=str(error))
            self.send_response(invite, client.gen_response(invite, 488, "Not Acceptable Here"))
            return
        codec = offer.choose_codec(self.settings.codecs)
        port = self.ports.acquire() if codec is not None else None
        if codec is None or port is None:
            status = (488, "Not Acceptable Here") if codec is None else (503, "Service Unavailable")
            self.send_response(invite, client.gen_response(invite, *status))
            return
        self.send_response(invite, client.gen_response(invite, 100, "Trying"))
        task = asyncio.get_running_loop().create_task(
            self._open_call(invite, client, offer, codec, port)
        )
        self._tasks_hold(task)

    def _tasks_hold(self, task: asyncio.Task[Any]) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _open_call(
        self,
        invite: SantralSIPMessage,
        client: SantralSIPClient,
        offer: sdp_module.MediaDescription,
        codec: tuple[int, str],
        port: int,
    ) -> None:
        rtp_leg = await self._open_rtp(port, offer, codec)
        if rtp_leg is None:
            self.ports.release(port)
            self.send_response(invite, client.gen_response(invite, 503, "Service Unavailable"))
            return
        info = CallInfo(
            call_id=f"sip-{uuid.uuid4().hex[:16]}",
            caller=str(invite.headers["From"].get("number") or ""),
            called=str(invite.headers["To"].get("number") or ""),
            connector=self.name,
        )
        call = CallerLeg(
            info=info,
            invite=invite,
            client=client,
            rtp=rtp_leg,
            port=port,
            offer=offer,
            session_id=random.randrange(1, 1 << 31),
        )
        rtp_leg.on_key = call.key_pressed
        self.callers[invite.call_id] = call
        call.last_response = client.gen_ringing(invite)
        self.send_response(invite, call.last_response)
        await self.runner.run(call)

    async def _open_rtp(
        self, port: int, remote: sdp_module.MediaDescription, codec: tuple[int, str]
    ) -> RtpLeg | None:
        holder: list[RtpLeg] = []
        try:
            endpoint = await open_endpoint(
                (self.settings.local_address, port),
                lambda data, source: holder[0].datagram_received(data, source) if holder else None,
            )
        except OSError as error:
            log.warning("rtp_port_unavailable", port=port, error=str(error))
            return None
        leg = RtpLeg(
            endpoint,
            remote=(remote.address, remote.port),
            codec=codec,
            telephone_event_type=remote.telephone_event_type,
        )
        holder.append(leg)
        return leg

    def answer(self, call: CallerLeg) -> None:
        """Send the 200 OK with santral's SDP answer and start sending media."""
        if call.state is not LegState.RINGING:
            return
        answer = self._sdp_answer(call, call.offer)
        call.last_response = call.client.gen_answer(call.invite, answer)
        self.send_response(call.invite, call.last_response)
        call.transition(LegState.ANSWERED)
        self.media.legs.add(call.rtp)
        self.spawn(self._retransmit_answer(call, call.last_response))

    def _ack_received(self, ack: SantralSIPMessage) -> None:
        call = self.callers.get(ack.call_id)
        if call is not None:
            call.acknowledged.set()

    async def _retransmit_answer(self, call: CallerLeg, answer: str) -> None:
        """Resend the 200 OK until the ACK arrives (RFC 3261 section 13.3.1.4).

        The interval starts at T1 and doubles up to T2. Without an ACK within 64*T1 the
        call is ended with a BYE, as the RFC asks of a UAS.
        """
        interval, waited = T1, 0.0
        while waited < 64 * T1:
            try:
                await asyncio.wait_for(call.acknowledged.wait(), interval)
                return
            except TimeoutError:
                waited += interval
            if call.state is not LegState.ANSWERED:
                return
            self.send_response(call.invite, answer)
            interval = min(2 * interval, T2)
        log.warning("sip_ack_missing", call_id=call.call_id, waited=waited)
        self.send_request(call.client.gen_bye(call.invite))
        self._caller_ended(call, "ack_timeout")

    def _sdp_answer(self, call: CallerLeg, offer: sdp_module.MediaDescription) -> str:
        return sdp_module.build_sdp(
            session_id=call.session_id,
            version=call.sdp_version,
            address=self.settings.local_address,
            port=call.port,
            codec=(call.rtp.codec_type, call.rtp.codec),
            telephone_event_type=offer.telephone_event_type,
            direction=sdp_module.ANSWER_DIRECTION.get(offer.direction, "sendrecv"),
        )

    def _reinvite_received(self, invite: SantralSIPMessage) -> None:
        call = self.callers.get(invite.call_id)
        agent = self.agent_legs.get(invite.call_id)
        rtp_leg: RtpLeg | None = None
        client = self._client_for(invite)
        if call is not None:
            rtp_leg, client = call.rtp, call.client
        elif agent is not None:
            rtp_leg, client = agent.rtp, agent.client
        if rtp_leg is None:
            self.send_response(
                invite, client.gen_response(invite, 481, "Call/Transaction Does Not Exist")
            )
            return
        try:
            offer = sdp_module.parse_sdp(invite.sdp)
        except SipParseError:
            self.send_response(invite, client.gen_response(invite, 488, "Not Acceptable Here"))
            return
        self._apply_offer(rtp_leg, offer)
        answer = self._reinvite_answer(call, rtp_leg, offer)
        response = client.gen_response(invite, 200, "OK", body=answer, contact=True)
        if call is not None:
            call.invite = invite
            call.last_response = response
        self.send_response(invite, response)

    def _apply_offer(self, rtp_leg: RtpLeg, offer: sdp_module.MediaDescription) -> None:
        log.info("sip_media_update", direction=offer.direction, on_hold=offer.on_hold)
        codec = offer.choose_codec([rtp_leg.codec]) or (rtp_leg.codec_type, rtp_leg.codec)
        rtp_leg.update_remote((offer.address, offer.port), codec, offer.telephone_event_type)
        rtp_leg.sending = offer.direction in ("sendrecv", "recvonly") and not offer.on_hold

    def _reinvite_answer(
        self, call: CallerLeg | None, rtp_leg: RtpLeg, offer: sdp_module.MediaDescription
    ) -> str:
        if call is not None:
            call.sdp_version += 1
            return self._sdp_answer(call, offer)
        return sdp_module.build_sdp(
            session_id=1,
            version=2,
            address=self.settings.local_address,
            port=rtp_leg.endpoint.local_address[1],
            codec=(rtp_leg.codec_type, rtp_leg.codec),
            telephone_event_type=offer.telephone_event_type,
            direction=sdp_module.ANSWER_DIRECTION.get(offer.direction, "sendrecv"),
        )

    def _cancel_received(self, cancel: SantralSIPMessage) -> None:
        client = self._client_for(cancel)
        call = self.callers.get(cancel.call_id)
        if call is None or call.invite.branch != cancel.branch:
            self.send_response(
                cancel, client.gen_response(cancel, 481, "Call/Transaction Does Not Exist")
            )
            return
        self.send_response(cancel, call.client.gen_response(cancel, 200, "OK"))
        if call.state is LegState.RINGING:
            call.last_response = call.client.gen_response(call.invite, 487, "Request Terminated")
            self.send_response(call.invite, call.last_response)
            self._caller_ended(call, "cancel")

    def _bye_received(self, bye: SantralSIPMessage) -> None:
        call = self.callers.get(bye.call_id)
        agent = self.agent_legs.get(bye.call_id)
        client = self._client_for(bye)
        if call is not None or agent is not None:
            client = call.client if call is not None else agent.client  # type: ignore[union-attr]
        if call is None and agent is None:
            self.send_response(
                bye, client.gen_response(bye, 481, "Call/Transaction Does Not Exist")
            )
            return
        self.send_response(bye, client.gen_response(bye, 200, "OK"))
        if call is not None:
            self._caller_ended(call, "bye")
        elif agent is not None:
            self._agent_hung_up(agent)

    def _caller_ended(self, call: CallerLeg, cause: str) -> None:
        """End the caller's leg from the caller's side, and the agent leg with it."""
        if call.state is LegState.ENDED:
            return
        self.media.legs.discard(call.rtp)
        call.transition(LegState.ENDED)
        self.consults.drop(call)
        if call.agent is not None:
            self.end_agent_leg(call.agent)
        self.spawn(self.calls.caller_hung_up(call.call_id, cause))
        self._forget(call)

    def _forget(self, call: CallerLeg) -> None:
        self.callers.pop(call.invite.call_id, None)
        call.client.forget(call.invite.call_id)
        self.ports.release(call.port)

    def spawn(self, coroutine: Any) -> None:
        """Run ``coroutine`` as a background task that is kept and whose failure is logged."""
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks_hold(task)
        task.add_done_callback(_log_failure)

    # Agent legs

    async def connect_agent(
        self, call_id: str, agent: AgentEndpoint, ring_timeout: float, whisper: str = ""
    ) -> AgentLegResult:
        """Ring ``agent.address`` for at most ``ring_timeout`` seconds and bridge on answer.

        Return how the attempt ended. If cancelled while the phone rings, the INVITE is
        cancelled and the caller keeps hearing music on hold.
        """
        call = self.caller(call_id)
        if call is None or call.state is not LegState.ANSWERED:
            return AgentLegResult.CALLER_GONE
        log.info("agent_dialing", call_id=call_id, agent_id=agent.agent_id)
        result, leg = await self.dial(call, agent.address, ring_timeout)
        if result is AgentLegResult.ANSWERED and leg is not None and leg.rtp is not None:
            if whisper:
                await self.runner.whisper(leg.rtp, whisper)
            self.bridge_agent(call, leg)
        log.info("agent_leg_result", call_id=call_id, agent_id=agent.agent_id, result=result.value)
        return result

    def caller(self, call_id: str) -> CallerLeg | None:
        """Return the caller's leg of the engine's ``call_id``, or None."""
        return next((call for call in self.callers.values() if call.call_id == call_id), None)

    def bridge_agent(self, call: CallerLeg, leg: AgentLeg) -> None:
        """Make ``leg`` the call's agent leg and relay audio between it and the caller."""
        if call.state is not LegState.ANSWERED or leg.rtp is None:
            self.end_agent_leg(leg)
            return
        call.agent = leg
        call.rtp.stop_music()
        call.rtp.stop_playback()
        bridge(call.rtp, leg.rtp)
        self.media.legs.add(leg.rtp)

    def bridge_transfer(self, call: CallerLeg, leg: AgentLeg) -> None:
        """Bridge a transfer target; its hang-up ends the call instead of an agent conversation."""
        leg.transfer = True
        self.bridge_agent(call, leg)

    async def dial(
        self,
        call: CallerLeg,
        target: str,
        ring_timeout: float,
        *,
        abort: asyncio.Event | None = None,
    ) -> tuple[AgentLegResult, AgentLeg | None]:
        """Call ``target`` for ``call``; return the result and, if answered, the leg.

        Setting ``abort`` while the target rings cancels the INVITE, and the result is then
        ``FAILED``, which does not count as the target's miss.
        """
        port = self.ports.acquire()
        if port is None:
            return AgentLegResult.FAILED, None
        leg = AgentLeg(
            sip_call_id=f"{uuid.uuid4().hex}@{self.settings.local_address}",
            caller_call_id=call.call_id,
            client=call.client,
            port=port,
        )
        self.agent_legs[leg.sip_call_id] = leg
        try:
            result = await self._ring(call, leg, target, ring_timeout, abort)
        except asyncio.CancelledError:
            await self._cancel_invite(leg)
            self._release(leg)
            raise
        if result is not AgentLegResult.ANSWERED:
            self._release(leg)
            return result, None
        return result, leg

    async def _ring(
        self,
        call: CallerLeg,
        leg: AgentLeg,
        target: str,
        ring_timeout: float,
        abort: asyncio.Event | None,
    ) -> AgentLegResult:
        offer = sdp_module.build_sdp(
            session_id=random.randrange(1, 1 << 31),
            version=1,
            address=self.settings.local_address,
            port=leg.port,
            codec=(0, "PCMU"),
            extra_codecs=((8, "PCMA"),),
            telephone_event_type=self.settings.dtmf_payload_type,
        )
        branch = leg.client.gen_branch()
        leg.invite = leg.client.gen_invite(
            target, "1", None, None, branch, leg.sip_call_id, sdp=offer
        )
        self.send_request(leg.invite)
        self.spawn(self._retransmit_invite(leg))
        stops = [asyncio.ensure_future(call.hung_up.wait())]
        if abort is not None:
            stops.append(asyncio.ensure_future(abort.wait()))
        try:
            waiting: set[asyncio.Future[Any]] = {leg.final, *stops}
            await asyncio.wait(waiting, timeout=ring_timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for stop in stops:
                stop.cancel()
        if leg.final.done():
            return await self._final_response(leg, leg.final.result())
        await self._cancel_invite(leg)
        if call.hung_up.is_set():
            return AgentLegResult.CALLER_GONE
        if abort is not None and abort.is_set():
            return AgentLegResult.FAILED
        return AgentLegResult.NO_ANSWER

    async def _retransmit_invite(self, leg: AgentLeg) -> None:
        """Resend the INVITE until any response arrives (RFC 3261 timers A and B)."""
        interval, waited = T1, 0.0
        while waited < 64 * T1:
            try:
                await asyncio.wait_for(leg.responded.wait(), interval)
                return
            except TimeoutError:
                waited += interval
            if leg.state is LegState.ENDED or leg.final.done():
                return
            self.send_request(leg.invite)
            interval *= 2

    async def _final_response(self, leg: AgentLeg, response: SantralSIPMessage) -> AgentLegResult:
        code = response.status_code
        if code >= 300:
            return FINAL_RESULTS.get(code, AgentLegResult.FAILED)
        try:
            answer = sdp_module.parse_sdp(response.sdp)
        except SipParseError as error:
            log.warning("agent_answer_invalid", sip_call_id=leg.sip_call_id, error=str(error))
            self.end_agent_leg(leg)
            return AgentLegResult.FAILED
        codec = answer.choose_codec(["PCMU", "PCMA"]) or (0, "PCMU")
        leg.rtp = await self._open_rtp(leg.port, answer, codec)
        if leg.rtp is None:
            self.end_agent_leg(leg)
            return AgentLegResult.FAILED
        leg.transition(LegState.ANSWERED)
        return AgentLegResult.ANSWERED

    def _invite_response(self, response: SantralSIPMessage) -> None:
        leg = self.agent_legs.get(response.call_id)
        code = response.status_code
        if leg is not None:
            leg.responded.set()
        if leg is None or code < 200:
            if leg is not None and code in (180, 183):
                leg.ringing = True
            return
        if leg.ack and code < 300:
            self.send_request(leg.ack)  # a retransmitted 200 OK gets the same ACK
            return
        leg.ack = leg.client.gen_ack(response)
        self.send_request(leg.ack)
        if not leg.final.done():
            leg.final.set_result(response)
        elif code < 300:
            self.end_agent_leg(leg)  # answered after santral gave up on it

    async def _cancel_invite(self, leg: AgentLeg) -> None:
        if leg.final.done():
            if leg.final.result().status_code < 300:
                self.end_agent_leg(leg)
            return
        leg.cancelled = True
        self.send_request(leg.client.gen_cancel(leg.sip_call_id))
        try:
            response = await asyncio.wait_for(asyncio.shield(leg.final), CANCEL_WAIT)
        except TimeoutError:
            log.warning("agent_cancel_unanswered", sip_call_id=leg.sip_call_id)
            return
        if response.status_code < 300:
            self.end_agent_leg(leg)

    def end_agent_leg(self, leg: AgentLeg) -> None:
        """Send BYE on an answered agent leg and forget it."""
        if leg.state is LegState.ANSWERED:
            self.send_request(leg.client.bye_for(leg.sip_call_id))
        self._release(leg)

    def _release(self, leg: AgentLeg) -> None:
        if leg.rtp is not None:
            self.media.legs.discard(leg.rtp)
        leg.transition(LegState.ENDED)
        self.agent_legs.pop(leg.sip_call_id, None)
        leg.client.forget(leg.sip_call_id)
        self.ports.release(leg.port)

    def _agent_hung_up(self, leg: AgentLeg) -> None:
        """Handle a BYE from an agent leg, a consulted party's leg or a transfer target."""
        call = self.caller(leg.caller_call_id)
        self._release(leg)
        if call is None or leg.transfer or self.consults.party_hung_up(call, leg):
            return
        if call.agent is not leg:
            return
        self.consults.drop(call)
        call.agent = None
        unbridge(call.rtp)
        self.spawn(self.calls.agent_leg_ended(call.call_id))

    # CallControl

    async def hold(self, call_id: str, on_hold: bool) -> None:
        """Put the caller on music on hold (agent hears silence), or bridge them again.

        During a consultation the caller is already on hold. Taking them off hold raises
        ``ConnectorError`` until the consultation is completed or cancelled.
        """
        call = self.caller(call_id)
        if call is None:
            raise ConnectorError("no such SIP call", call_id=call_id)
        if call.agent is None or call.agent.rtp is None:
            return
        if call.consultation is not None:
            if on_hold:
                return
            raise ConnectorError(
                "the caller is on hold for a consultation; complete or cancel it first",
                call_id=call_id,
            )
        if on_hold:
            unbridge(call.rtp, call.agent.rtp)
            await self.runner.start_music(call)
        else:
            call.rtp.stop_music()
            bridge(call.rtp, call.agent.rtp)

    async def transfer(self, call_id: str, target: str) -> None:
        """Drop the agent leg and connect the caller to ``target`` instead."""
        call = self.caller(call_id)
        if call is None:
            raise ConnectorError("no such SIP call", call_id=call_id)
        self.consults.drop(call)
        if call.agent is not None:
            unbridge(call.rtp)
            self.end_agent_leg(call.agent)
            call.agent = None
        result, leg = await self.dial(call, target, self.settings.ring_timeout)
        if leg is None:
            raise ConnectorError(f"transfer to {target} failed: {result.value}", call_id=call_id)
        self.bridge_agent(call, leg)

    async def consult(
        self, call_id: str, target: AgentEndpoint, ring_timeout: float
    ) -> AgentLegResult:
        """Hold the caller and ring ``target`` for at most ``ring_timeout`` seconds.

        On answer the agent and ``target`` talk while the caller hears music on hold. Any
        other result bridges the caller with the agent again. Raises ``ConnectorError``
        when no agent is connected or a consultation is already in progress.
        """
        return await self.consults.consult(call_id, target, ring_timeout)

    async def complete_consult(self, call_id: str) -> None:
        """Bridge the caller with the consulted party and send BYE to the agent's phone."""
        await self.consults.complete(call_id)

    async def cancel_consult(self, call_id: str) -> None:
        """End the consulted party's leg and bridge the caller with the agent again."""
        await self.consults.cancel(call_id)

    async def hangup_agent(self, call_id: str) -> None:
        """End the agent's leg (BYE) and give the caller back to the dialplan."""
        call = self.caller(call_id)
        if call is None or call.agent is None:
            return
        self.consults.drop(call)
        self.end_agent_leg(call.agent)
        call.agent = None
        unbridge(call.rtp)
        await self.calls.agent_leg_ended(call.call_id)

    async def hangup(self, call_id: str) -> None:
        """Hang up the caller (BYE, or 480 while ringing) and any agent leg."""
        call = self.caller(call_id)
        if call is None or call.state is LegState.ENDED:
            return
        if call.state is LegState.ANSWERED:
            self.send_request(call.client.gen_bye(call.invite))
        else:
            self.send_response(
                call.invite, call.client.gen_response(call.invite, 480, "Temporarily Unavailable")
            )
        self.consults.drop(call)
        if call.agent is not None:
            self.end_agent_leg(call.agent)
        self.media.legs.discard(call.rtp)
        call.transition(LegState.ENDED)
        self._forget(call)
        # The engine must hear of every ending once, also those it or the IVR runner asked for.
        await self.calls.caller_hung_up(call_id, "engine_hangup")


def _log_failure(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("sip_background_task_failed", error=repr(task.exception()))
