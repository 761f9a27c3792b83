"""Consult transfers on SIP calls: the agent talks with a third party, the caller is on hold.

santral relays all media itself, so a consultation is only a change of bridges. The caller's
leg is unbridged and hears music on hold, the agent's leg is bridged with the consulted
party's leg, and completing or cancelling bridges the caller with one of the two again.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import structlog

from santral.errors import ConnectorError
from santral.telephony.base import AgentEndpoint, AgentLegResult
from santral.telephony.sip.legs import AgentLeg, CallerGone, CallerLeg, Consultation, LegState
from santral.telephony.sip.media import bridge, unbridge

if TYPE_CHECKING:
    from santral.telephony.sip.connector import SipConnector

log = structlog.get_logger(__name__)


class ConsultTransfers:
    """The ``ConsultControl`` operations of the SIP connector, and its handling of BYEs."""

    def __init__(self, connector: SipConnector) -> None:
        self.connector = connector

    async def consult(
        self, call_id: str, target: AgentEndpoint, ring_timeout: float
    ) -> AgentLegResult:
        """Hold the caller, ring ``target`` and bridge it with the agent on answer.

        Any result but ``ANSWERED`` bridges the caller with the agent again, off hold.
        ``FAILED`` also covers a consultation ended while the target rang (the agent hung
        up, or ``cancel`` was called). If cancelled while the target rings, the INVITE is
        cancelled and the caller is bridged with the agent again.
        """
        call, agent = self._agent_call(call_id)
        if call.consultation is not None:
            raise ConnectorError(
                "a consultation is already in progress; complete or cancel it first",
                call_id=call_id,
            )
        consultation = Consultation(agent=agent)
        call.consultation = consultation
        log.info("consult_dialing", call_id=call_id, target_agent_id=target.agent_id)
        try:
            await self._hold_caller(call, agent)
            result, leg = await self.connector.dial(
                call, target.address, ring_timeout, abort=consultation.abort
            )
        except CallerGone:
            return AgentLegResult.CALLER_GONE  # while the music on hold was being read
        except asyncio.CancelledError:
            self._resume(call, consultation)
            raise
        result = self._connect(call, consultation, result, leg)
        log.info("consult_result", call_id=call_id, result=result.value)
        return result

    def _agent_call(self, call_id: str) -> tuple[CallerLeg, AgentLeg]:
        call = self._call(call_id)
        agent = call.agent
        if agent is None or agent.rtp is None or agent.state is not LegState.ANSWERED:
            raise ConnectorError(
                "no agent is connected to consult from; connect an agent first", call_id=call_id
            )
        return call, agent

    def _call(self, call_id: str) -> CallerLeg:
        call = self.connector.caller(call_id)
        if call is None or call.state is not LegState.ANSWERED:
            raise ConnectorError("no such SIP call", call_id=call_id)
        return call

    async def _hold_caller(self, call: CallerLeg, agent: AgentLeg) -> None:
        if agent.rtp is not None:
            unbridge(call.rtp, agent.rtp)
        if call.rtp.music is None:
            await self.connector.runner.start_music(call)

    def _connect(
        self,
        call: CallerLeg,
        consultation: Consultation,
        result: AgentLegResult,
        leg: AgentLeg | None,
    ) -> AgentLegResult:
        """Bridge the answered target with the agent, or give the caller back to the agent."""
        agent_rtp = consultation.agent.rtp
        if result is AgentLegResult.ANSWERED and leg is not None:
            if self._still_consulting(call, consultation) and agent_rtp and leg.rtp:
                consultation.leg = leg
                bridge(agent_rtp, leg.rtp)
                self.connector.media.legs.add(leg.rtp)
                return result
            self.connector.end_agent_leg(leg)  # the consultation ended while it rang
            result = AgentLegResult.FAILED
        if call.consultation is consultation:
            self._resume(call, consultation)
        if call.state is not LegState.ANSWERED:
            return AgentLegResult.CALLER_GONE
        return result

    @staticmethod
    def _still_consulting(call: CallerLeg, consultation: Consultation) -> bool:
        return (
            call.consultation is consultation
            and call.state is LegState.ANSWERED
            and consultation.agent.state is LegState.ANSWERED
        )

    def _resume(self, call: CallerLeg, consultation: Consultation) -> None:
        """End ``consultation`` and bridge the caller with its agent again, if both remain."""
        if call.consultation is consultation:
            call.consultation = None
        consultation.abort.set()
        agent, leg = consultation.agent, consultation.leg
        if leg is not None and agent.rtp is not None and leg.rtp is not None:
            unbridge(agent.rtp, leg.rtp)
        alive = call.state is LegState.ANSWERED and agent.state is LegState.ANSWERED
        if alive and call.agent is agent:
            self.connector.bridge_agent(call, agent)

    async def complete(self, call_id: str) -> None:
        """Bridge the caller with the consulted party and send BYE on the agent's leg.

        The consulted party's leg becomes the call's agent leg. Raises ``ConnectorError``
        when no consulted party has answered.
        """
        call = self._call(call_id)
        consultation = call.consultation
        leg = consultation.leg if consultation is not None else None
        if consultation is None or leg is None:
            raise ConnectorError(
                "no consulted party has answered, so there is nothing to complete; "
                "wait for consult to return ANSWERED",
                call_id=call_id,
            )
        call.consultation = None
        agent = consultation.agent
        if agent.rtp is not None and leg.rtp is not None:
            unbridge(agent.rtp, leg.rtp)
        self.connector.end_agent_leg(agent)
        self.connector.bridge_agent(call, leg)
        log.info("consult_completed", call_id=call_id, sip_call_id=leg.sip_call_id)

    async def cancel(self, call_id: str) -> None:
        """End the consulted party's leg (BYE, or CANCEL while it rings), rejoin the agent.

        Does nothing when no consultation is in progress, for example when the consulted
        party has just hung up.
        """
        call = self._call(call_id)
        consultation = call.consultation
        if consultation is None:
            return
        self._resume(call, consultation)
        if consultation.leg is not None:
            self.connector.end_agent_leg(consultation.leg)
        log.info("consult_cancelled", call_id=call_id)

    def party_hung_up(self, call: CallerLeg, leg: AgentLeg) -> bool:
        """Handle the consulted party's BYE; return False if ``leg`` is not a consulted leg."""
        consultation = call.consultation
        if consultation is None or consultation.leg is not leg:
            return False
        self._resume(call, consultation)
        log.info("consult_party_hung_up", call_id=call.call_id, sip_call_id=leg.sip_call_id)
        self.connector.spawn(self.connector.calls.consult_leg_ended(call.call_id))
        return True

    def drop(self, call: CallerLeg) -> None:
        """End the consultation of a call whose caller or agent is gone (BYE or CANCEL)."""
        consultation = call.consultation
        if consultation is None:
            return
        call.consultation = None
        consultation.abort.set()
        if consultation.leg is not None:
            self.connector.end_agent_leg(consultation.leg)
        log.info("consult_dropped", call_id=call.call_id)
