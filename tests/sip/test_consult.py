"""Consult transfers on real SIP: a baresip caller, agent alice and consulted party carol.

Every party sends its own sine tone and music on hold is a tone too, so each phone's
recording shows, in order, whom it heard: the caller 440 Hz, alice 1000 Hz, carol 1600 Hz,
music on hold 700 Hz.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ivr.actions import Action, CallInfo, Enqueue
from santral.clock import SystemClock
from santral.errors import ConnectorError
from santral.telephony.base import AgentEndpoint, AgentLegResult, CallControl
from santral.telephony.sip.connector import SipConnector
from santral.telephony.sip.legs import AgentLeg, CallerLeg
from santral.testing.sip_peers import Baresip, Kamailio
from tests.sip.conftest import connector_settings
from tests.sip.flows import ScriptedFlow
from tests.sip.phones import (
    received_recording,
    start_phone,
    tone_segments,
    wait_until,
    write_tone,
)

pytestmark = [pytest.mark.peer, pytest.mark.slow]

CALLER_TONE, ALICE_TONE, CAROL_TONE, MUSIC_TONE = 440, 1000, 1600, 700
TONES = (CALLER_TONE, ALICE_TONE, CAROL_TONE, MUSIC_TONE)
TALK = 2.0  # seconds each stage lasts, so every recording has a clear segment of it


class QueueFlow(ScriptedFlow):
    """Puts every caller straight into the queue, then hangs up once the agent leaves."""

    async def start_call(
        self, info: CallInfo, control: CallControl, *, entry: str | None = None
    ) -> list[Action]:
        await super().start_call(info, control, entry=entry)
        self.queue_results[info.call_id] = asyncio.get_running_loop().create_future()
        return [Enqueue(queue="support")]


@dataclass
class ConsultCall:
    """A caller talking with alice through the connector, and carol's phone ready."""

    kamailio: Kamailio
    flow: QueueFlow
    connector: SipConnector
    call_id: str
    caller: Baresip
    alice: Baresip
    carol: Baresip

    @property
    def leg(self) -> CallerLeg:
        leg = self.connector.caller(self.call_id)
        assert leg is not None, "the caller's leg has ended"
        return leg

    @property
    def consulted_leg(self) -> AgentLeg:
        consultation = self.leg.consultation
        assert consultation is not None, "no consultation is in progress"
        assert consultation.leg is not None, "the consulted party has not answered"
        return consultation.leg

    def endpoint(self, user: str) -> AgentEndpoint:
        return AgentEndpoint(agent_id=user, address=f"sip:{user}@127.0.0.1:{self.kamailio.port}")

    async def consult_carol(self, ring_timeout: float = 10.0) -> AgentLegResult:
        return await self.connector.consult(self.call_id, self.endpoint("carol"), ring_timeout)

    def sent(self, method: str) -> list[bytes]:
        """Call-ID headers of the requests of ``method`` the connector sent."""
        trace = self.connector.trace or []
        return [
            _call_id(data)
            for direction, data in trace
            if direction == "out" and data.startswith(method.encode() + b" ")
        ]


def _call_id(message: bytes) -> bytes:
    for line in message.split(b"\r\n"):
        if line.lower().startswith(b"call-id:"):
            return line.split(b":", 1)[1].strip()
    return b""


async def hang_up(phone: Baresip) -> None:
    await asyncio.to_thread(phone.command, "hangup")


@contextlib.asynccontextmanager
async def consult_call(
    kamailio: Kamailio, tmp_path: Path, *, carol_answers: str = "auto"
) -> AsyncIterator[ConsultCall]:
    """Start three phones and the connector, then dial in from the caller and connect alice."""
    tones = {tone: write_tone(tmp_path / f"tone-{tone}.wav", tone) for tone in TONES}
    phones: list[Baresip] = []
    flow = QueueFlow()
    settings = connector_settings(kamailio.port, music_on_hold=tones[MUSIC_TONE])
    connector = SipConnector(settings, flow, clock=SystemClock())
    connector.trace = []
    try:
        for user, tone, answer in (
            ("caller", CALLER_TONE, "manual"),
            ("alice", ALICE_TONE, "auto"),
            ("carol", CAROL_TONE, carol_answers),
        ):
            phone = await start_phone(kamailio, tmp_path / user, user, tones[tone], answer=answer)
            phones.append(phone)
        await connector.start()
        caller, alice, carol = phones
        await asyncio.to_thread(caller.command, "dial", f"sip:ivr@127.0.0.1:{kamailio.port}")
        await wait_until(lambda: bool(flow.queue_results))
        call = ConsultCall(kamailio, flow, connector, flow.started[0].call_id, caller, alice, carol)
        result = await connector.connect_agent(call.call_id, call.endpoint("alice"), 10.0)
        assert result is AgentLegResult.ANSWERED
        await asyncio.sleep(TALK)
        yield call
    finally:
        await connector.stop()
        for phone in phones:
            phone.stop()


def heard(phone: Baresip) -> list[int]:
    return tone_segments(received_recording(phone), TONES)


def assert_in_order(segments: list[int], expected: list[int]) -> None:
    """Assert ``expected`` occurs in ``segments`` in this order (other segments may lie between)."""
    remaining = iter(segments)
    assert all(tone in remaining for tone in expected), f"heard {segments}, expected {expected}"


async def test_complete_bridges_caller_and_carol(kamailio: Kamailio, tmp_path: Path) -> None:
    async with consult_call(kamailio, tmp_path) as call:
        alice_leg = call.leg.agent
        assert alice_leg is not None

        assert await call.consult_carol() is AgentLegResult.ANSWERED
        assert call.leg.rtp.music is not None
        assert call.connector.health()["consultations"] == 1
        await asyncio.sleep(TALK)
        await call.connector.complete_consult(call.call_id)

        carol_leg = call.leg.agent
        assert carol_leg is not None and carol_leg is not alice_leg
        assert call.leg.consultation is None
        assert call.sent("BYE") == [alice_leg.sip_call_id.encode()]
        assert list(call.connector.agent_legs) == [carol_leg.sip_call_id]
        await asyncio.sleep(TALK)
        await call.connector.hold(call.call_id, True)
        assert call.leg.rtp.music is not None
        assert carol_leg.rtp is not None and carol_leg.rtp.relay is None
        await call.connector.hold(call.call_id, False)
        assert call.leg.rtp.music is None
        assert carol_leg.rtp.relay is not None
        await hang_up(call.carol)
        await wait_until(lambda: call.call_id in call.flow.hung_up)

        assert call.flow.agent_legs_ended == [call.call_id]
        assert call.flow.consult_legs_ended == []
        assert call.flow.hang_up_reports == [call.call_id]
        assert call.flow.hung_up[call.call_id] == "engine_hangup"  # the dialplan hung up

    caller_heard = heard(call.caller)
    assert_in_order(caller_heard, [ALICE_TONE, MUSIC_TONE, CAROL_TONE])
    carol_heard = heard(call.carol)
    assert carol_heard[0] == ALICE_TONE
    assert_in_order(carol_heard, [ALICE_TONE, CALLER_TONE])
    assert MUSIC_TONE not in carol_heard
    alice_heard = heard(call.alice)
    assert_in_order(alice_heard, [CALLER_TONE, CAROL_TONE])
    assert MUSIC_TONE not in alice_heard


async def test_cancel_bridges_caller_and_alice(kamailio: Kamailio, tmp_path: Path) -> None:
    async with consult_call(kamailio, tmp_path) as call:
        alice_leg = call.leg.agent
        assert alice_leg is not None

        number = AgentEndpoint(agent_id="", address="carol")  # a user the registrar knows

        assert await call.connector.consult(call.call_id, number, 10.0) is AgentLegResult.ANSWERED
        carol_leg = call.consulted_leg
        await asyncio.sleep(TALK)
        await call.connector.cancel_consult(call.call_id)

        assert call.leg.agent is alice_leg
        assert call.leg.consultation is None
        assert call.leg.rtp.music is None
        assert call.sent("BYE") == [carol_leg.sip_call_id.encode()]
        await asyncio.sleep(TALK)
        await hang_up(call.alice)
        await wait_until(lambda: call.call_id in call.flow.hung_up)

        assert call.flow.agent_legs_ended == [call.call_id]
        assert call.flow.consult_legs_ended == []

    assert_in_order(heard(call.caller), [ALICE_TONE, MUSIC_TONE, ALICE_TONE])
    assert CAROL_TONE not in heard(call.caller)
    carol_heard = heard(call.carol)
    assert carol_heard == [ALICE_TONE]
    assert_in_order(heard(call.alice), [CALLER_TONE, CAROL_TONE, CALLER_TONE])


async def test_carol_hangup_returns_caller_to_alice(kamailio: Kamailio, tmp_path: Path) -> None:
    async with consult_call(kamailio, tmp_path) as call:
        alice_leg = call.leg.agent

        assert await call.consult_carol() is AgentLegResult.ANSWERED
        await asyncio.sleep(TALK)
        await hang_up(call.carol)
        await wait_until(lambda: call.flow.consult_legs_ended)

        assert call.flow.consult_legs_ended == [call.call_id]
        assert call.leg.agent is alice_leg
        assert call.leg.consultation is None
        assert call.leg.rtp.music is None
        assert call.flow.agent_legs_ended == []
        with pytest.raises(ConnectorError):
            await call.connector.complete_consult(call.call_id)
        await call.connector.cancel_consult(call.call_id)  # too late: does nothing
        await asyncio.sleep(TALK)
        await hang_up(call.alice)
        await wait_until(lambda: call.call_id in call.flow.hung_up)

        assert call.flow.agent_legs_ended == [call.call_id]

    assert_in_order(heard(call.caller), [ALICE_TONE, MUSIC_TONE, ALICE_TONE])


async def test_alice_hangup_ends_consultation(kamailio: Kamailio, tmp_path: Path) -> None:
    async with consult_call(kamailio, tmp_path) as call:
        assert await call.consult_carol() is AgentLegResult.ANSWERED
        carol_leg = call.consulted_leg

        await hang_up(call.alice)
        await wait_until(lambda: call.call_id in call.flow.hung_up)

        assert call.sent("BYE")[0] == carol_leg.sip_call_id.encode()
        assert call.flow.agent_legs_ended == [call.call_id]
        assert call.flow.consult_legs_ended == []
        assert call.flow.hang_up_reports == [call.call_id]
        assert call.connector.agent_legs == {}


async def test_caller_hangup_ends_both_legs(kamailio: Kamailio, tmp_path: Path) -> None:
    async with consult_call(kamailio, tmp_path) as call:
        alice_leg = call.leg.agent
        assert alice_leg is not None
        assert await call.consult_carol() is AgentLegResult.ANSWERED
        carol_leg = call.consulted_leg

        await hang_up(call.caller)
        await wait_until(lambda: call.call_id in call.flow.hung_up)
        await asyncio.sleep(0.5)  # room for a second, wrong report of the hang-up

        assert call.flow.hung_up[call.call_id] == "bye"
        assert call.flow.hang_up_reports == [call.call_id]
        expected = {alice_leg.sip_call_id.encode(), carol_leg.sip_call_id.encode()}
        assert set(call.sent("BYE")) == expected
        assert call.connector.agent_legs == {}
        assert call.connector.callers == {}
        assert call.flow.agent_legs_ended == []
        assert call.flow.consult_legs_ended == []


async def test_absent_target_returns_caller(kamailio: Kamailio, tmp_path: Path) -> None:
    async with consult_call(kamailio, tmp_path) as call:
        alice_leg = call.leg.agent

        result = await call.connector.consult(call.call_id, call.endpoint("dave"), 5.0)

        assert result is AgentLegResult.FAILED
        assert call.leg.agent is alice_leg
        assert call.leg.consultation is None
        assert call.leg.rtp.music is None
        assert call.leg.rtp.relay is not None
        assert alice_leg is not None
        assert list(call.connector.agent_legs) == [alice_leg.sip_call_id]


async def test_cancel_while_ringing_cancels_invite(kamailio: Kamailio, tmp_path: Path) -> None:
    async with consult_call(kamailio, tmp_path, carol_answers="manual") as call:
        alice_leg = call.leg.agent
        assert alice_leg is not None
        attempt = asyncio.create_task(call.consult_carol(ring_timeout=20.0))
        await wait_until(
            lambda: (
                attempt.done()
                or any(
                    leg.ringing
                    for leg in call.connector.agent_legs.values()
                    if leg is not alice_leg
                )
            )
        )

        await call.connector.cancel_consult(call.call_id)

        assert await attempt is AgentLegResult.FAILED
        assert call.leg.agent is alice_leg
        assert call.leg.consultation is None
        assert call.leg.rtp.music is None
        assert len(call.sent("CANCEL")) == 1
        assert list(call.connector.agent_legs) == [alice_leg.sip_call_id]
        await hang_up(call.alice)
        await wait_until(lambda: call.call_id in call.flow.hung_up)


async def test_consult_needs_an_agent(kamailio: Kamailio, tmp_path: Path) -> None:
    async with consult_call(kamailio, tmp_path) as call:
        assert await call.consult_carol() is AgentLegResult.ANSWERED

        with pytest.raises(ConnectorError, match="already in progress"):
            await call.consult_carol()
        with pytest.raises(ConnectorError, match="complete or cancel"):
            await call.connector.hold(call.call_id, False)
        await call.connector.hold(call.call_id, True)  # the caller is already on hold
        with pytest.raises(ConnectorError, match="no such SIP call"):
            await call.connector.consult("sip-unknown", call.endpoint("carol"), 1.0)
        await call.connector.cancel_consult(call.call_id)
        await call.connector.hangup_agent(call.call_id)

        with pytest.raises(ConnectorError, match="no agent is connected"):
            await call.consult_carol()
