"""The connector on uvloop, whose transports do not derive from asyncio's classes."""

from __future__ import annotations

import asyncio

import uvloop

from santral.events import AgentLegChanged
from tests.asterisk.conftest import ALICE, start_rig
from tests.asterisk.test_connector import call_over, eventually


async def agent_call_with_survey() -> tuple[int, dict[str, int], list[str]]:
    """Run one call to alice and back to the survey; return AMI logins, survey, leg states."""
    rig = await start_rig([ALICE])
    rig.peer.add_phone("PJSIP/alice")
    try:
        caller = await rig.peer.call(rig.port, "ivr?lang=en", keys=["1", "3"])
        await eventually(lambda: any(getattr(e, "state", "") == "bridged" for e in rig.published))
        caller.keys.append("5")
        rig.peer.agent_hangs_up("PJSIP/alice")
        record = await call_over(rig, caller)
    finally:
        await rig.connector.stop()
        await rig.ami.stop()
    states = [e.state for e in rig.published_of(AgentLegChanged) if isinstance(e, AgentLegChanged)]
    return rig.ami.logins, record.survey, states


def test_fastagi_session_and_ami_login_on_uvloop(ami_secret: str) -> None:
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        loop_type = runner.get_loop().__class__.__module__
        logins, survey, states = runner.run(agent_call_with_survey())

    assert loop_type.startswith("uvloop")
    assert logins == 1
    assert survey == {"csat": 5}
    assert states == ["ringing", "answered", "bridged", "left"]
