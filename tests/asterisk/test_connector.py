"""The connector with the scripted Asterisk and the real IVR interpreter."""

from __future__ import annotations

import asyncio

import pytest

from ivr.actions import QueueResult, RecordingFinished
from santral.clock import VirtualClock
from santral.errors import ConnectorError
from santral.events import AgentLegChanged, EndpointStateChanged
from santral.telephony.base import AgentLegResult
from santral.testing.asterisk_peer import CallerSession
from tests.asterisk.conftest import ALICE, Rig, start_rig
from tests.asterisk.flow import CallRecord

LANGUAGE_MENU = 'STREAM FILE "santral/en/language_choice" "0123456789*#"'


async def eventually(condition: object, limit: float = 5.0) -> None:
    """Wait until ``condition()`` is true, checking every 10 ms up to ``limit`` seconds."""
    assert callable(condition)
    for _ in range(int(limit / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not met in time")


async def call_over(rig: Rig, caller: CallerSession) -> CallRecord:
    """Wait until santral closed the caller's session and reported the end to the engine."""
    await caller.finished()
    record = rig.flow.records[f"asterisk-{caller.leg.unique_id}"]
    await eventually(lambda: bool(record.hangups))
    return record


async def test_caller_reaches_agent_then_rates_the_call(rig: Rig) -> None:
    caller = await rig.peer.call(rig.port, "ivr?lang=en", keys=["1", "3"])
    await eventually(lambda: caller.variables.get("DIALSTATUS") == "ANSWER")
    await eventually(lambda: any(getattr(e, "state", "") == "bridged" for e in rig.published))
    caller.keys.append("5")
    rig.peer.agent_hangs_up("PJSIP/alice")
    record = await call_over(rig, caller)

    assert caller.commands[0] == "ANSWER"
    assert caller.commands[1] == LANGUAGE_MENU
    assert 'EXEC "StartMusicOnHold" "default"' not in caller.commands
    assert 'EXEC StartMusicOnHold "default"' in caller.commands
    assert 'EXEC Dial "PJSIP/alice,15,g"' in caller.commands
    assert record.attempts == [AgentLegResult.ANSWERED]
    assert record.agent_legs_ended == 1
    assert record.survey == {"csat": 5}
    assert caller.commands[-1] == "HANGUP"
    assert len(record.hangups) == 1
    assert caller.closed_by_santral.is_set()


async def test_agent_leg_events_in_order(rig: Rig) -> None:
    caller = await rig.peer.call(rig.port, "ivr?lang=en", keys=["1", "3"])
    await eventually(lambda: caller.variables.get("DIALSTATUS") == "ANSWER")
    await eventually(lambda: len(rig.published_of(AgentLegChanged)) >= 3)
    caller.keys.append("5")
    rig.peer.agent_hangs_up("PJSIP/alice")
    await call_over(rig, caller)

    legs = [
        event for event in rig.published_of(AgentLegChanged) if isinstance(event, AgentLegChanged)
    ]
    assert [event.state for event in legs] == ["ringing", "answered", "bridged", "left"]
    assert {event.agent_id for event in legs[1:]} == {"alice"}


async def test_caller_hangs_up_while_queued(rig: Rig) -> None:
    rig.peer.phones["PJSIP/alice"].behaviour = "no_answer"
    rig.peer.phones["PJSIP/bob"].behaviour = "no_answer"
    rig.peer.ring_cap = 2.0
    caller = await rig.peer.call(rig.port, "ivr?lang=en", keys=["1", "3"])
    await eventually(lambda: 'EXEC StartMusicOnHold "default"' in caller.commands)
    await caller.hang_up()
    record = await call_over(rig, caller)

    assert len(record.hangups) == 1
    assert record.agent_legs_ended == 0
    assert caller.closed_by_santral.is_set()
    assert rig.connector.health()["calls"] == 0


async def test_missed_agent_then_next_agent_answers(rig: Rig) -> None:
    rig.peer.phones["PJSIP/alice"].behaviour = "no_answer"
    caller = await rig.peer.call(rig.port, "ivr?lang=en", keys=["1", "3"])
    await eventually(lambda: caller.variables.get("DIALSTATUS") == "ANSWER")
    caller.keys.append("4")
    rig.peer.agent_hangs_up("PJSIP/bob")
    record = await call_over(rig, caller)

    assert record.attempts == [AgentLegResult.NO_ANSWER, AgentLegResult.ANSWERED]
    dials = [command for command in caller.commands if command.startswith("EXEC Dial")]
    assert dials == ['EXEC Dial "PJSIP/alice,15,g"', 'EXEC Dial "PJSIP/bob,15,g"']
    assert record.survey == {"csat": 4}


async def test_caller_hangs_up_during_conversation(rig: Rig) -> None:
    caller = await rig.peer.call(rig.port, "ivr?lang=en", keys=["1", "3"])
    await eventually(lambda: caller.variables.get("DIALSTATUS") == "ANSWER")
    await eventually(lambda: any(getattr(e, "state", "") == "bridged" for e in rig.published))
    await caller.hang_up()
    record = await call_over(rig, caller)

    assert record.attempts == [AgentLegResult.ANSWERED]
    assert record.agent_legs_ended == 0
    assert len(record.hangups) == 1
    assert caller.commands[-1].startswith("GET VARIABLE") or caller.commands[-1].startswith(
        "EXEC Dial"
    )


async def test_caller_hangs_up_while_agent_rings(rig: Rig) -> None:
    rig.peer.phones["PJSIP/alice"].behaviour = "no_answer"
    rig.peer.ring_cap = 5.0
    caller = await rig.peer.call(rig.port, "ivr?lang=en", keys=["1", "3"])
    await eventually(lambda: rig.peer.phones["PJSIP/alice"].rings == 1)
    await caller.hang_up()
    record = await call_over(rig, caller)

    await eventually(lambda: bool(record.attempts))
    assert record.attempts == [AgentLegResult.CALLER_GONE]
    assert len(record.hangups) == 1


async def test_unregistered_phone_makes_agent_unavailable(rig: Rig) -> None:
    await eventually(lambda: len(rig.published_of(EndpointStateChanged)) == 2)
    rig.peer.register("PJSIP/bob", False)
    await eventually(lambda: len(rig.published_of(EndpointStateChanged)) == 3)
    rig.peer.register("PJSIP/bob", True)
    await eventually(lambda: len(rig.published_of(EndpointStateChanged)) == 4)

    changes = [
        e for e in rig.published_of(EndpointStateChanged) if isinstance(e, EndpointStateChanged)
    ]
    assert [(e.agent_id, e.available) for e in changes] == [
        ("alice", True),
        ("bob", True),
        ("bob", False),
        ("bob", True),
    ]


async def test_channel_gone_during_ami_outage_ends_call(rig: Rig) -> None:
    rig.peer.phones["PJSIP/alice"].behaviour = "no_answer"
    rig.peer.phones["PJSIP/bob"].behaviour = "no_answer"
    rig.peer.ring_cap = 5.0
    caller = await rig.peer.call(rig.port, "ivr?lang=en", keys=["1", "3"])
    await eventually(lambda: 'EXEC StartMusicOnHold "default"' in caller.commands)
    await rig.ami.drop_connections()
    rig.ami.channels.pop(caller.leg.unique_id)
    await eventually(lambda: rig.ami.logins == 2)
    record = await call_over(rig, caller)

    assert record.hangups == ["channel_gone_during_ami_outage"]


async def test_hangup_during_voicemail_keeps_recording(ami_secret: str) -> None:
    rig = await start_rig([])
    try:
        caller = await rig.peer.call(rig.port, "ivr?lang=en", keys=["1", "3"])
        caller.hang_up_during_record = True
        await call_over(rig, caller)
    finally:
        await rig.connector.stop()
        await rig.ami.stop()

    record = rig.flow.records[f"asterisk-{caller.leg.unique_id}"]
    recorded = [event for event in record.events if isinstance(event, RecordingFinished)]
    assert recorded == [
        RecordingFinished(name=recorded[0].name, duration=25280 / 8000, reason="hangup")
    ]
    assert caller.commands[-1].startswith('RECORD FILE "santral/recordings/voicemail-')
    assert len(record.hangups) == 1


async def test_exit_key_leaves_the_queue(ami_secret: str) -> None:
    rig = await start_rig([ALICE], exit_key="*")
    rig.peer.add_phone("PJSIP/alice", "no_answer")
    rig.peer.ring_cap = 5.0
    try:
        caller = await rig.peer.call(rig.port, "ivr?lang=en", keys=["1", "3", "*"])
        await call_over(rig, caller)
    finally:
        await rig.connector.stop()
        await rig.ami.stop()

    record = rig.flow.records[f"asterisk-{caller.leg.unique_id}"]
    assert QueueResult(outcome="left") in record.events
    assert 'EXEC StopMusicOnHold ""' in caller.commands
    assert caller.commands[-1] == "HANGUP"


async def test_engine_hangup_closes_session(rig: Rig) -> None:
    rig.peer.phones["PJSIP/alice"].behaviour = "no_answer"
    rig.peer.phones["PJSIP/bob"].behaviour = "no_answer"
    rig.peer.ring_cap = 5.0
    caller = await rig.peer.call(rig.port, "ivr?lang=en", keys=["1", "3"])
    await eventually(lambda: 'EXEC StartMusicOnHold "default"' in caller.commands)
    call_id = f"asterisk-{caller.leg.unique_id}"

    await rig.connector.hangup(call_id)
    await call_over(rig, caller)
    await rig.connector.hangup(call_id)

    assert any(action.get("action") == "Hangup" for action in rig.ami.actions)
    assert rig.flow.records[call_id].hangups == ["engine_hangup"]


async def test_hold_is_refused_with_reason(rig: Rig) -> None:
    with pytest.raises(ConnectorError, match="hold"):
        await rig.connector.hold("asterisk-1", True)


async def test_call_without_ami_reaches_survey(ami_secret: str) -> None:
    rig = await start_rig([ALICE], with_ami=False)
    rig.peer.add_phone("PJSIP/alice")
    try:
        caller = await rig.peer.call(rig.port, "ivr?lang=en", keys=["1", "3"])
        await eventually(lambda: caller.variables.get("DIALSTATUS") == "ANSWER")
        caller.keys.append("3")
        rig.peer.agent_hangs_up("PJSIP/alice")
        record = await call_over(rig, caller)
    finally:
        await rig.connector.stop()
        await rig.ami.stop()

    assert rig.connector.ami is None
    assert record.attempts == [AgentLegResult.ANSWERED]
    assert record.agent_legs_ended == 1
    assert record.survey == {"csat": 3}


async def test_cancelled_offer_hangs_up_ringing_phone(rig: Rig) -> None:
    rig.peer.phones["PJSIP/alice"].behaviour = "no_answer"
    rig.peer.ring_cap = 5.0
    rig.flow.agents = []
    caller = await rig.peer.call(rig.port, "ivr?lang=en", keys=["1", "3"])
    await eventually(lambda: 'EXEC StartMusicOnHold "default"' in caller.commands)
    call_id = f"asterisk-{caller.leg.unique_id}"

    ringing = asyncio.create_task(rig.connector.connect_agent(call_id, ALICE, 15.0))
    await eventually(lambda: rig.peer.phones["PJSIP/alice"].rings == 1)
    await eventually(lambda: any(getattr(e, "state", "") == "ringing" for e in rig.published))
    ringing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await ringing
    await eventually(lambda: caller.variables.get("DIALSTATUS") == "NOANSWER")

    hangups = [action for action in rig.ami.actions if action.get("action") == "Hangup"]
    assert len(hangups) == 1
    assert hangups[0]["channel"].startswith("PJSIP/alice-")
    await caller.hang_up()
    await call_over(rig, caller)


async def test_connect_agent_after_call_ended(rig: Rig) -> None:
    result = await rig.connector.connect_agent("asterisk-unknown", ALICE, 15.0)

    assert result is AgentLegResult.CALLER_GONE


async def test_whisper_plays_to_agent(rig: Rig) -> None:
    rig.flow.agents = []
    caller = await rig.peer.call(rig.port, "ivr?lang=en", keys=["1", "3"])
    await eventually(lambda: 'EXEC StartMusicOnHold "default"' in caller.commands)
    call_id = f"asterisk-{caller.leg.unique_id}"

    result = await rig.connector.connect_agent(call_id, ALICE, 20.0, whisper="sales_whisper")
    await caller.hang_up()
    await call_over(rig, caller)

    assert result is AgentLegResult.ANSWERED
    assert 'EXEC Dial "PJSIP/alice,20,gA(santral/en/sales_whisper)"' in caller.commands


async def test_queue_announcements_interrupt_music(rig: Rig) -> None:
    rig.flow.agents = []
    rig.flow.announce_every = 30.0
    caller = await rig.peer.call(rig.port, "ivr?lang=en", keys=["1", "3"])
    await eventually(lambda: 'EXEC StartMusicOnHold "default"' in caller.commands)
    clock = rig.flow.clock
    assert isinstance(clock, VirtualClock)
    clock.advance(31.0)
    await eventually(lambda: caller.commands.count('EXEC StartMusicOnHold "default"') == 2)
    await caller.hang_up()
    await call_over(rig, caller)

    start = caller.commands.index('EXEC StopMusicOnHold ""')
    assert caller.commands[start + 1 : start + 9] == [
        'STREAM FILE "santral/en/please_hold" ""',
        'STREAM FILE "queue-thereare" ""',
        'SAY NUMBER 2 ""',
        'STREAM FILE "queue-callswaiting" ""',
        'STREAM FILE "queue-holdtime" ""',
        'SAY NUMBER 2 ""',
        'STREAM FILE "queue-minutes" ""',
        'EXEC StartMusicOnHold "default"',
    ]


async def test_transfer_redirects_connected_caller(rig: Rig) -> None:
    caller = await rig.peer.call(rig.port, "ivr?lang=en", keys=["1", "3"])
    await eventually(lambda: any(getattr(e, "state", "") == "bridged" for e in rig.published))
    call_id = f"asterisk-{caller.leg.unique_id}"

    await rig.connector.transfer(call_id, "2000")
    record = await call_over(rig, caller)

    redirects = [action for action in rig.ami.actions if action.get("action") == "Redirect"]
    assert [(a["channel"], a["context"], a["exten"]) for a in redirects] == [
        (caller.leg.channel, "santral-transfer", "2000")
    ]
    assert record.hangups == ["transferred"]


async def test_stop_hands_calls_back(rig: Rig) -> None:
    rig.flow.agents = []
    caller = await rig.peer.call(rig.port, "ivr?lang=en", keys=["1", "3"])
    await eventually(lambda: 'EXEC StartMusicOnHold "default"' in caller.commands)

    await rig.connector.stop()
    record = await call_over(rig, caller)

    assert record.hangups == ["engine_stopped"]


async def test_sensitive_input_mutes_recording(rig: Rig) -> None:
    rig.flow.agents = []
    caller = await rig.peer.call(rig.port, "ivr?lang=en", keys=["1", "1", *"12345678903", "#"])
    await eventually(lambda: len(muted(rig)) == 2)
    await caller.hang_up()
    await call_over(rig, caller)

    assert [(action["channel"], action["state"]) for action in muted(rig)] == [
        (caller.leg.channel, "1"),
        (caller.leg.channel, "0"),
    ]


def muted(rig: Rig) -> list[dict[str, str]]:
    return [action for action in rig.ami.actions if action.get("action") == "MixMonitorMute"]


async def test_console_hangup_returns_dial(rig: Rig) -> None:
    caller = await rig.peer.call(rig.port, "ivr?lang=en", keys=["1", "3"])
    await eventually(lambda: any(getattr(e, "state", "") == "bridged" for e in rig.published))
    call_id = f"asterisk-{caller.leg.unique_id}"
    agent_channel = rig.connector._calls[call_id].agent_channel
    emitted_before = len(rig.ami.emitted)
    caller.after_conversation.append("5")

    await rig.connector.hangup_agent(call_id)
    record = await call_over(rig, caller)

    assert record.agent_legs_ended == 1
    assert record.survey == {"csat": 5}
    assert caller.commands[caller.commands.index('EXEC Dial "PJSIP/alice,15,g"') + 1] == (
        "GET VARIABLE DIALSTATUS"
    )
    hangups = [a for a in rig.ami.actions if a.get("action") == "Hangup"]
    assert [a["channel"] for a in hangups] == [agent_channel]
    after = rig.ami.emitted[emitted_before:]
    sequence = [(name, dict(fields).get("Channel", "")) for name, fields in after]
    assert sequence[:5] == [
        ("SoftHangupRequest", agent_channel),
        ("BridgeLeave", agent_channel),
        ("BridgeLeave", caller.leg.channel),
        ("BridgeDestroy", ""),
        ("Hangup", agent_channel),
    ]
