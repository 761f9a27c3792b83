"""Hold and consult transfer over AMI, against the scripted Asterisk.

The agent's channel waits in the hold context while the caller hears music on hold from
its own FastAGI session. To resume, the session bridges with the agent (or the consulted
party) again with ``EXEC Bridge``.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from santral.errors import ConnectorError
from santral.telephony.asterisk.call import ConsultLeg
from santral.telephony.base import AgentEndpoint, AgentLegResult
from santral.testing.asterisk_peer import CallerSession
from tests.asterisk.conftest import Rig
from tests.asterisk.test_connector import call_over, eventually

CAROL = AgentEndpoint(agent_id="carol", address="PJSIP/carol", display_name="Carol")
MUSIC_ON = 'EXEC StartMusicOnHold "default"'


@dataclass
class Connected:
    caller: CallerSession
    call_id: str
    agent_channel: str


async def connected(rig: Rig) -> Connected:
    """Place a sales call, let alice answer, and return once the two are bridged."""
    rig.peer.add_phone("PJSIP/carol")
    caller = await rig.peer.call(rig.port, "ivr?lang=en", keys=["1", "3"])
    await eventually(lambda: any(getattr(e, "state", "") == "bridged" for e in rig.published))
    call_id = f"asterisk-{caller.leg.unique_id}"
    caller.after_conversation.append("5")
    return Connected(caller, call_id, rig.connector._calls[call_id].agent_channel)


async def consulting(rig: Rig, call: Connected) -> ConsultLeg:
    """Have alice consult carol, who answers; return the consulted leg."""
    assert await rig.connector.consult(call.call_id, CAROL, 15.0) is AgentLegResult.ANSWERED
    consulted = rig.connector._calls[call.call_id].consult
    assert consulted is not None
    return consulted


def actions(rig: Rig, name: str) -> list[dict[str, str]]:
    return [action for action in rig.ami.actions if action.get("action") == name]


def after_dial(caller: CallerSession) -> list[str]:
    dial = next(i for i, line in enumerate(caller.commands) if line.startswith("EXEC Dial"))
    return caller.commands[dial + 1 :]


async def test_hold_then_resume(rig: Rig) -> None:
    call = await connected(rig)

    await rig.connector.hold(call.call_id, True)
    await eventually(lambda: MUSIC_ON in after_dial(call.caller))
    await rig.connector.hold(call.call_id, False)
    await eventually(lambda: f'EXEC Bridge "{call.agent_channel}"' in call.caller.commands)
    rig.peer.agent_hangs_up("PJSIP/alice")
    record = await call_over(rig, call.caller)

    redirects = actions(rig, "Redirect")
    assert [(a["channel"], a["context"], a["exten"]) for a in redirects] == [
        (call.agent_channel, "santral-hold", "s")
    ]
    commands = after_dial(call.caller)
    assert commands.index(MUSIC_ON) < commands.index('EXEC StopMusicOnHold ""')
    assert commands.index('EXEC StopMusicOnHold ""') < commands.index(
        f'EXEC Bridge "{call.agent_channel}"'
    )
    assert record.agent_legs_ended == 1
    assert record.survey == {"csat": 5}


async def test_agent_hangs_up_while_the_caller_holds(rig: Rig) -> None:
    call = await connected(rig)

    await rig.connector.hold(call.call_id, True)
    await eventually(lambda: MUSIC_ON in after_dial(call.caller))
    rig.peer.agent_hangs_up("PJSIP/alice")
    record = await call_over(rig, call.caller)

    assert record.agent_legs_ended == 1
    assert record.survey == {"csat": 5}
    assert 'EXEC StopMusicOnHold ""' in after_dial(call.caller)


async def test_hold_needs_a_connected_call(rig: Rig) -> None:
    with pytest.raises(ConnectorError, match="not connected"):
        await rig.connector.hold("asterisk-unknown", True)


async def test_consult_then_complete_bridges_caller_with_consulted(rig: Rig) -> None:
    call = await connected(rig)

    consulted = await consulting(rig, call)
    carol_channel = consulted.channel
    await rig.connector.complete_consult(call.call_id)
    await eventually(lambda: f'EXEC Bridge "{carol_channel}"' in call.caller.commands)
    rig.peer.agent_hangs_up("PJSIP/carol")
    record = await call_over(rig, call.caller)

    originate = actions(rig, "Originate")[0]
    assert originate["channel"] == "PJSIP/carol"
    assert originate["context"] == "santral-consult"
    assert originate["exten"] == "s"
    assert originate["timeout"] == "15000"
    assert originate["variable"] == f"SANTRAL_AGENT={call.agent_channel}"
    assert originate["channelid"] == consulted.unique_id
    assert [a["channel"] for a in actions(rig, "Hangup")] == [call.agent_channel]
    assert record.agent_legs_ended == 1
    assert record.consult_legs_ended == 0
    assert record.survey == {"csat": 5}


async def test_consult_then_cancel_bridges_caller_with_agent(rig: Rig) -> None:
    call = await connected(rig)

    consulted = await consulting(rig, call)
    await rig.connector.cancel_consult(call.call_id)
    await eventually(lambda: f'EXEC Bridge "{call.agent_channel}"' in call.caller.commands)
    rig.peer.agent_hangs_up("PJSIP/alice")
    record = await call_over(rig, call.caller)

    assert [a["channel"] for a in actions(rig, "Hangup")] == [consulted.channel]
    assert rig.connector.health()["calls"] == 0
    assert record.consult_legs_ended == 0
    assert record.agent_legs_ended == 1
    assert record.survey == {"csat": 5}


async def test_consulted_party_hangs_up(rig: Rig) -> None:
    call = await connected(rig)

    await consulting(rig, call)
    rig.peer.agent_hangs_up("PJSIP/carol")
    record = rig.flow.records[call.call_id]
    await eventually(lambda: record.consult_legs_ended == 1)
    assert f'EXEC Bridge "{call.agent_channel}"' in call.caller.commands
    rig.peer.agent_hangs_up("PJSIP/alice")
    await call_over(rig, call.caller)

    assert actions(rig, "Hangup") == []
    assert record.agent_legs_ended == 1
    assert record.survey == {"csat": 5}


async def test_unanswered_consult_bridges_caller_with_agent(rig: Rig) -> None:
    call = await connected(rig)
    rig.peer.phones["PJSIP/carol"].behaviour = "no_answer"

    result = await rig.connector.consult(call.call_id, CAROL, 15.0)
    await eventually(lambda: f'EXEC Bridge "{call.agent_channel}"' in call.caller.commands)
    rig.peer.agent_hangs_up("PJSIP/alice")
    record = await call_over(rig, call.caller)

    assert result is AgentLegResult.NO_ANSWER
    assert record.agent_legs_ended == 1
    assert record.survey == {"csat": 5}


async def test_agent_hangs_up_during_consult_ends_consulted_leg(rig: Rig) -> None:
    call = await connected(rig)

    consulted = await consulting(rig, call)
    rig.peer.agent_hangs_up("PJSIP/alice")
    record = await call_over(rig, call.caller)

    await eventually(lambda: bool(actions(rig, "Hangup")))
    assert [a["channel"] for a in actions(rig, "Hangup")] == [consulted.channel]
    assert record.agent_legs_ended == 1
    assert record.consult_legs_ended == 0
    assert record.survey == {"csat": 5}


async def test_stop_hangs_up_held_agent(rig: Rig) -> None:
    call = await connected(rig)
    await rig.connector.hold(call.call_id, True)
    await eventually(lambda: MUSIC_ON in after_dial(call.caller))

    await rig.connector.stop()
    await call_over(rig, call.caller)

    assert [a["channel"] for a in actions(rig, "Hangup")] == [call.agent_channel]
