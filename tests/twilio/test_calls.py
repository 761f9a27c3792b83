"""Whole calls between the scripted Twilio peer and the connector."""

from __future__ import annotations

import asyncio

import pytest

from ivr.actions import DigitsCollected, QueueResult
from santral.errors import ConnectorError
from santral.telephony.base import AgentEndpoint, AgentLegResult
from santral.testing.twilio_peer import Agent, PeerCall
from tests.twilio.conftest import Rig, until

ALICE = AgentEndpoint(agent_id="alice", address="client:alice", display_name="Alice")
BOB = AgentEndpoint(agent_id="bob", address="+15005550006", display_name="Bob")
CALLER = "+447700900123"
NUMBER = "+442071234567"


async def queued_call(rig: Rig, inputs: list[str | None] | None = None) -> PeerCall:
    call = rig.peer.call(CALLER, NUMBER, list(inputs or ["1", "1", "12345#"]))
    await until(lambda: rig.flow.queue_status(call.sid) is not None)
    await until(lambda: bool(call.requested("/twilio/queue")))
    return call


async def test_call_reaches_agent_and_survey(rig: Rig) -> None:
    call = await queued_call(rig)

    result = await rig.connector.connect_agent(call.sid, ALICE, 20.0, "Support call")
    assert result is AgentLegResult.ANSWERED
    call.inputs.append("5")
    call.agent_hangs_up()
    await asyncio.wait_for(call.finished(), 5)

    events = [event for sid, event in rig.flow.events if sid == call.sid]
    assert events[0] == DigitsCollected(digits="1", reason="max_digits")
    assert DigitsCollected(digits="12345", reason="terminator") in events
    assert QueueResult(outcome="answered") in events
    assert events[-1] == DigitsCollected(digits="5", reason="max_digits")
    assert rig.flow.agent_legs_ended == [call.sid]
    assert rig.flow.hung_up == [(call.sid, "completed")]


async def test_caller_hears_prompts_and_queue(rig: Rig) -> None:
    call = await queued_call(rig)
    await until(lambda: len(call.requested("/twilio/queue")) >= 2)
    call.hang_up()
    await asyncio.wait_for(call.finished(), 5)

    plays = [entry for entry in call.transcript if entry.kind == "play"]
    assert plays[0].value == "https://voice.example.test/twilio/prompts/en/welcome.wav"
    assert all(entry.attributes["status"] == "200" for entry in plays)
    assert any("/twilio/music/" in entry.value for entry in plays)
    assert "You are number 1 in the queue." in call.say_texts()
    assert "The estimated wait is about 2 minutes." in call.say_texts()
    assert all(status == 200 for _, status, _ in call.replies)


async def test_agent_leg_placed_with_calls_api(rig: Rig) -> None:
    call = await queued_call(rig)
    await rig.connector.connect_agent(call.sid, ALICE, 15.0, "Support call from Ann")

    create = next(r for r in rig.peer.http_client.requests if r.url.endswith("/Calls.json"))
    assert create.data["To"] == "client:alice"
    assert create.data["From"] == NUMBER
    assert create.data["Timeout"] == 15
    assert str(create.data["Url"]).startswith("https://voice.example.test/twilio/agent-join?")
    assert str(create.data["StatusCallback"]).startswith(
        "https://voice.example.test/twilio/agent-status?"
    )
    update = rig.peer.http_client.requests[-1]
    twiml = str(update.data["Twiml"])
    assert update.url.endswith(f"/Calls/{call.sid}.json")
    assert '<Dial action="https://voice.example.test/twilio/agent-ended' in twiml
    assert f">santral-{call.sid}</Conference>" in twiml
    assert 'endConferenceOnExit="true"' in twiml
    whisper = ("whisper", "Support call from Ann")
    await until(lambda: whisper in [(e.kind, e.value) for e in call.transcript])
    call.hang_up()
    await asyncio.wait_for(call.finished(), 5)


async def test_caller_hangs_up_while_queued(rig: Rig) -> None:
    call = await queued_call(rig)
    call.hang_up()
    await asyncio.wait_for(call.finished(), 5)
    assert rig.flow.hung_up == [(call.sid, "completed")]
    assert rig.flow.queue_status(call.sid) is None


async def test_no_answer_goes_to_next_agent(rig: Rig) -> None:
    rig.peer.agents["+15005550006"] = Agent(answer="no-answer")
    call = await queued_call(rig)
    before = len(call.requested("/twilio/queue"))

    missed = await rig.connector.connect_agent(call.sid, BOB, 5.0)
    assert missed is AgentLegResult.NO_ANSWER
    await until(lambda: len(call.requested("/twilio/queue")) > before)

    answered = await rig.connector.connect_agent(call.sid, ALICE, 5.0)
    assert answered is AgentLegResult.ANSWERED
    call.hang_up()
    await asyncio.wait_for(call.finished(), 5)
    assert rig.flow.hung_up == [(call.sid, "completed")]


async def test_busy_agent_is_a_miss(rig: Rig) -> None:
    rig.peer.agents["+15005550006"] = Agent(answer="busy")
    call = await queued_call(rig)
    result = await rig.connector.connect_agent(call.sid, BOB, 5.0)
    assert result is AgentLegResult.BUSY
    assert result.is_miss
    call.hang_up()
    await asyncio.wait_for(call.finished(), 5)


async def test_connect_after_caller_left(rig: Rig) -> None:
    call = await queued_call(rig)
    call.hang_up()
    await asyncio.wait_for(call.finished(), 5)
    result = await rig.connector.connect_agent(call.sid, ALICE, 5.0)
    assert result is AgentLegResult.CALLER_GONE


async def test_queue_outcome_ends_hold(rig: Rig) -> None:
    call = await queued_call(rig)
    rig.flow.set_outcome(call.sid, QueueResult(outcome="timeout"))
    await asyncio.wait_for(call.finished(), 5)
    assert "Goodbye (timeout)." in call.say_texts()
    assert (call.sid, QueueResult(outcome="timeout")) in rig.flow.events


async def test_gather_timeout_runs_next_verb(rig: Rig) -> None:
    call = rig.peer.call(CALLER, NUMBER, [None, "1"])
    await until(lambda: len(rig.flow.events) >= 2)
    call.hang_up()
    await asyncio.wait_for(call.finished(), 5)
    assert rig.flow.events[0] == (call.sid, DigitsCollected(digits="", reason="no_input"))
    assert len(call.requested("/twilio/gather?step=1&empty=1")) == 1
    urls = [entry.value for entry in call.transcript if entry.kind == "request"]
    assert "https://voice.example.test/twilio/gather?step=1" not in urls
    assert rig.flow.events[1] == (call.sid, DigitsCollected(digits="1", reason="max_digits"))


async def test_cancelled_ring_ends_agent_leg(rig: Rig) -> None:
    rig.peer.agents["+15005550006"] = Agent(answer="no-answer")
    call = await queued_call(rig)
    ringing = asyncio.ensure_future(rig.connector.connect_agent(call.sid, BOB, 60.0))
    await until(lambda: any(entry.kind == "dial" for entry in call.transcript))
    before = len(call.requested("/twilio/queue"))

    ringing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await ringing
    leg = call.legs[0]
    await asyncio.wait_for(leg.ended.wait(), 5)
    assert leg.status == "canceled"
    assert rig.peer.http_client.requests[-1].data == {"Status": "completed"}
    await until(lambda: len(call.requested("/twilio/queue")) > before)
    session = await rig.store.load_call_session(call.sid)
    assert session is not None
    assert session["state"] == "queued"
    call.hang_up()
    await asyncio.wait_for(call.finished(), 5)


async def test_hangup_and_transfer_use_rest(rig: Rig) -> None:
    call = await queued_call(rig)
    await rig.connector.transfer(call.sid, "+15005550009")
    transfer = rig.peer.http_client.requests[-1]
    assert "<Number>+15005550009</Number>" in str(transfer.data["Twiml"])
    await until(lambda: ("dial", "+15005550009") in [(e.kind, e.value) for e in call.transcript])

    await rig.connector.hangup(call.sid)
    assert rig.peer.http_client.requests[-1].data == {"Status": "completed"}
    await asyncio.wait_for(call.finished(), 5)
    assert rig.flow.hung_up == [(call.sid, "completed")]


async def test_hold_needs_bridged_agent(rig: Rig) -> None:
    call = await queued_call(rig)
    with pytest.raises(ConnectorError, match="not bridged with an agent"):
        await rig.connector.hold(call.sid, True)
    call.hang_up()
    await asyncio.wait_for(call.finished(), 5)


async def test_rest_rejection_is_connector_error(rig: Rig) -> None:
    call = await queued_call(rig)
    rig.peer.auth_token = "rotated"
    with pytest.raises(ConnectorError, match="Twilio rejected"):
        await rig.connector.connect_agent(call.sid, ALICE, 5.0)
    assert "REST 401" in str(rig.connector.health()["last_error"])
    session = await rig.store.load_call_session(call.sid)
    assert session is not None
    assert session["state"] == "queued"
    call.hang_up()
    await asyncio.wait_for(call.finished(), 5)


async def test_exit_key_leaves_queue(rig: Rig) -> None:
    rig.flow.exit_key = "*"
    call = await queued_call(rig)
    call.inputs.append("*")
    await asyncio.wait_for(call.finished(), 5)
    assert (call.sid, QueueResult(outcome="left")) in rig.flow.events
    assert "Goodbye (left)." in call.say_texts()
    assert call.requested("/twilio/queue-key?step=")


@pytest.mark.parametrize("settings_overrides", [{"queue_poll_interval": 60, "hold_music": None}])
async def test_queue_outcome_pushed_at_once(rig: Rig) -> None:
    call = await queued_call(rig)
    rig.flow.set_outcome(call.sid, QueueResult(outcome="overflow"))
    await asyncio.wait_for(call.finished(), 5)

    pushed = [r for r in rig.peer.http_client.requests if "Url" in r.data]
    assert len(pushed) == 1
    assert str(pushed[0].data["Url"]).startswith("https://voice.example.test/twilio/queue?step=")
    assert "Goodbye (overflow)." in call.say_texts()
    assert rig.flow.events.count((call.sid, QueueResult(outcome="overflow"))) == 1
