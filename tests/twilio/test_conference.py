"""Agents bridged through a Twilio conference: hold, console hang-up, consultation."""

from __future__ import annotations

import asyncio

import pytest

from ivr.actions import DigitsCollected, QueueResult
from santral.errors import ConnectorError
from santral.telephony.base import AgentEndpoint, AgentLegResult
from santral.testing.twilio_peer import Agent, PeerCall, PeerLeg
from tests.twilio.conftest import Rig, until

ALICE = AgentEndpoint(agent_id="alice", address="client:alice", display_name="Alice")
BOB = AgentEndpoint(agent_id="bob", address="+15005550006", display_name="Bob")
CALLER = "+447700900123"
NUMBER = "+442071234567"
TALK = Agent(talk_seconds=600.0)


async def bridged_call(rig: Rig) -> PeerCall:
    """Return a call whose caller talks with Alice in the conference."""
    rig.peer.agents["client:alice"] = TALK
    rig.peer.agents["+15005550006"] = TALK
    call = rig.peer.call(CALLER, NUMBER, ["1", "1", "12345#"])
    await until(lambda: bool(call.requested("/twilio/queue")))
    result = await rig.connector.connect_agent(call.sid, ALICE, 10.0)
    assert result is AgentLegResult.ANSWERED
    await until(lambda: in_conference(rig, call.sid) and in_conference(rig, call.legs[0].sid))
    return call


def in_conference(rig: Rig, call_sid: str) -> bool:
    return any(call_sid in c.participants for c in rig.peer.conferences.values())


def holds(call: PeerCall) -> list[str]:
    return [entry.value for entry in call.transcript if entry.kind == "hold"]


async def survey_after_agent(rig: Rig, call: PeerCall) -> None:
    """Answer the survey once the agent is gone and check the call ended normally."""
    await asyncio.wait_for(call.finished(), 5)
    events = [event for sid, event in rig.flow.events if sid == call.sid]
    assert QueueResult(outcome="answered") in events
    assert events[-1] == DigitsCollected(digits="5", reason="max_digits")
    assert rig.flow.agent_legs_ended == [call.sid]
    assert rig.flow.hung_up == [(call.sid, "completed")]


async def test_hold_and_resume_caller(rig: Rig) -> None:
    call = await bridged_call(rig)

    await rig.connector.hold(call.sid, True)
    await until(lambda: bool(call.requested("/twilio/hold-music")))
    await rig.connector.hold(call.sid, False)

    assert holds(call) == ["on", "off"]
    updates = [r.data for r in rig.peer.http_client.requests if "/Participants/" in r.url]
    assert updates[0]["Hold"] == "true"
    assert updates[0]["HoldUrl"] == "https://voice.example.test/twilio/hold-music"
    assert updates[1]["Hold"] == "false"
    assert call.requested("/twilio/hold-music")[0].attributes["status"] == "200"
    assert len([r for r in rig.peer.http_client.requests if "Conferences.json" in r.url]) == 1
    call.hang_up()
    await asyncio.wait_for(call.finished(), 5)


async def test_caller_hangup_ends_agent_leg(rig: Rig) -> None:
    call = await bridged_call(rig)
    call.hang_up()
    await asyncio.wait_for(call.finished(), 5)
    await asyncio.wait_for(call.legs[0].ended.wait(), 5)
    assert rig.flow.hung_up == [(call.sid, "completed")]
    assert rig.flow.agent_legs_ended == []


async def test_console_hangup_continues_survey(rig: Rig) -> None:
    call = await bridged_call(rig)
    call.inputs.append("5")
    await rig.connector.hangup_agent(call.sid)
    await survey_after_agent(rig, call)
    hangups = [
        r
        for r in rig.peer.http_client.requests
        if r.url.endswith(f"/Calls/{call.legs[0].sid}.json")
    ]
    assert [r.data for r in hangups] == [{"Status": "completed"}]
    assert call.legs[0].status == "completed"


async def test_agent_phone_hangup_continues_survey(rig: Rig) -> None:
    call = await bridged_call(rig)
    call.inputs.append("5")
    call.agent_hangs_up()
    await survey_after_agent(rig, call)


async def test_consult_then_complete(rig: Rig) -> None:
    call = await bridged_call(rig)
    alice = call.legs[0]

    result = await rig.connector.consult(call.sid, BOB, 10.0)
    assert result is AgentLegResult.ANSWERED
    bob = call.legs[1]
    await until(lambda: in_conference(rig, bob.sid))
    assert holds(call) == ["on"]

    await rig.connector.complete_consult(call.sid)
    await asyncio.wait_for(alice.ended.wait(), 5)
    assert holds(call) == ["on", "off"]
    assert in_conference(rig, call.sid)
    assert in_conference(rig, bob.sid)
    session = await rig.store.load_call_session(call.sid)
    assert session is not None
    assert session["agent_sid"] == bob.sid
    assert session["consult_attempt"] == ""

    call.inputs.append("5")
    call.agent_hangs_up()
    await survey_after_agent(rig, call)
    assert bob.status == "completed"
    assert rig.flow.consult_legs_ended == []


async def test_consult_then_cancel(rig: Rig) -> None:
    call = await bridged_call(rig)
    alice = call.legs[0]
    assert await rig.connector.consult(call.sid, BOB, 10.0) is AgentLegResult.ANSWERED
    bob = call.legs[1]

    await rig.connector.cancel_consult(call.sid)
    await asyncio.wait_for(bob.ended.wait(), 5)
    assert holds(call) == ["on", "off"]
    assert in_conference(rig, alice.sid)
    assert in_conference(rig, call.sid)
    assert rig.flow.consult_legs_ended == []

    call.inputs.append("5")
    call.agent_hangs_up()
    await survey_after_agent(rig, call)


async def test_consulted_party_hangs_up(rig: Rig) -> None:
    call = await bridged_call(rig)
    alice = call.legs[0]
    assert await rig.connector.consult(call.sid, BOB, 10.0) is AgentLegResult.ANSWERED
    bob = call.legs[1]

    bob.hang_up()
    await until(lambda: rig.flow.consult_legs_ended == [call.sid])
    await until(lambda: holds(call) == ["on", "off"])
    # Twilio retries a callback it got no answer to; the retry changes nothing.
    retry = await rig.peer.post(str(bob._fields["StatusCallback"]), bob._params())
    assert retry[0] == 204
    assert rig.flow.consult_legs_ended == [call.sid]
    assert holds(call) == ["on", "off"]
    assert in_conference(rig, alice.sid)
    with pytest.raises(ConnectorError, match="no consultation"):
        await rig.connector.complete_consult(call.sid)

    call.inputs.append("5")
    call.agent_hangs_up()
    await survey_after_agent(rig, call)


async def test_busy_consult_target_unholds_caller(rig: Rig) -> None:
    call = await bridged_call(rig)
    rig.peer.agents["+15005550006"] = Agent(answer="busy")

    result = await rig.connector.consult(call.sid, BOB, 10.0)
    assert result is AgentLegResult.BUSY
    await until(lambda: holds(call) == ["on", "off"])
    assert rig.flow.consult_legs_ended == []
    assert (await rig.store.load_call_session(call.sid) or {})["consult_attempt"] == ""
    call.hang_up()
    await asyncio.wait_for(call.finished(), 5)


async def test_agent_leaves_during_consult(rig: Rig) -> None:
    call = await bridged_call(rig)
    assert await rig.connector.consult(call.sid, BOB, 10.0) is AgentLegResult.ANSWERED
    bob = call.legs[1]

    call.inputs.append("5")
    call.agent_hangs_up()
    await asyncio.wait_for(bob.ended.wait(), 5)
    await survey_after_agent(rig, call)
    assert bob.status == "completed"


async def test_second_consult_is_rejected(rig: Rig) -> None:
    call = await bridged_call(rig)
    assert await rig.connector.consult(call.sid, BOB, 10.0) is AgentLegResult.ANSWERED
    with pytest.raises(ConnectorError, match="already in progress"):
        await rig.connector.consult(call.sid, BOB, 10.0)
    call.hang_up()
    await asyncio.wait_for(call.finished(), 5)
    await asyncio.wait_for(call.legs[1].ended.wait(), 5)


async def test_leg_callbacks_count_once(rig: Rig) -> None:
    call = await bridged_call(rig)
    alice: PeerLeg = call.legs[0]
    session = await rig.store.load_call_session(call.sid)
    assert session is not None
    status_url = rig.peer.url(f"agent-status?call={call.sid}&attempt={session['attempt']}")

    # A late "busy" and a repeated answer change nothing once the leg was answered.
    for status in ("busy", "in-progress", "no-answer"):
        code, _ = await rig.peer.post(status_url, alice._params(CallStatus=status))
        assert code == 204
    after = await rig.store.load_call_session(call.sid)
    assert after is not None
    assert after["leg_result"] == "answered"
    assert after["state"] == "connected"
    assert after["agent_left"] is False
    assert in_conference(rig, call.sid)
    call.hang_up()
    await asyncio.wait_for(call.finished(), 5)


async def test_agent_gone_before_caller_joined(rig: Rig) -> None:
    rig.peer.agents["client:alice"] = Agent(talk_seconds=0.0)
    call = rig.peer.call(CALLER, NUMBER, ["1", "1", "12345#"])
    await until(lambda: bool(call.requested("/twilio/queue")))
    call.inputs.append("5")

    assert await rig.connector.connect_agent(call.sid, ALICE, 10.0) is AgentLegResult.ANSWERED
    await survey_after_agent(rig, call)


async def test_hold_music_loops_without_call_parameters(rig: Rig) -> None:
    status, body = await rig.peer.post(rig.peer.url("hold-music"), {})
    assert status == 200
    assert "/twilio/music/0.wav</Play>" in body or "<Pause" in body
    assert body.endswith(
        '<Redirect method="POST">https://voice.example.test/twilio/hold-music</Redirect></Response>'
    )

    unsigned, _ = await rig.peer.post(rig.peer.url("hold-music"), {}, signature="bm9wZQ==")
    assert unsigned == 403
