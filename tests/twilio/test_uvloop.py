"""The connector and its peer on uvloop, the event loop ``santral run`` uses."""

from __future__ import annotations

import asyncio

import pytest

from santral.telephony.base import AgentEndpoint, AgentLegResult
from santral.telephony.twilio import MemorySessionStore
from santral.testing.twilio_peer import Agent, TwilioPeer
from tests.twilio.conftest import make_connector, serve, until
from tests.twilio.flows import MenuFlow
from tests.twilio.wire import ACCOUNT_SID, AUTH_TOKEN, PUBLIC_URL

uvloop = pytest.importorskip("uvloop")

ALICE = AgentEndpoint(agent_id="alice", address="client:alice")


async def agent_call_with_hold() -> tuple[MenuFlow, list[str]]:
    flow, store = MenuFlow(), MemorySessionStore()
    peer = TwilioPeer(
        target_url="http://127.0.0.1:1",
        public_url=PUBLIC_URL,
        account_sid=ACCOUNT_SID,
        auth_token=AUTH_TOKEN,
        time_scale=0.01,
    )
    peer.agents["client:alice"] = Agent(talk_seconds=600.0)
    connector = make_connector(flow, store, peer, reply_budget=0.3)
    await connector.start()
    runner, peer.target_url = await serve(connector)
    try:
        async with peer:
            call = peer.call("+447700900123", "+442071234567", ["1", "1", "12345#"])
            await until(lambda: bool(call.requested("/twilio/queue")))
            assert await connector.connect_agent(call.sid, ALICE, 10.0) is AgentLegResult.ANSWERED
            await until(lambda: any(call.sid in c.participants for c in peer.conferences.values()))
            await connector.hold(call.sid, True)
            await connector.hold(call.sid, False)
            call.inputs.append("5")
            await connector.hangup_agent(call.sid)
            await asyncio.wait_for(call.finished(), 5)
            holds = [entry.value for entry in call.transcript if entry.kind == "hold"]
    finally:
        await connector.stop()
        await runner.cleanup()
    return flow, holds


def test_agent_call_runs_on_uvloop() -> None:
    flow, holds = uvloop.run(agent_call_with_hold())
    assert holds == ["on", "off"]
    assert len(flow.agent_legs_ended) == 1
    assert flow.hung_up[0][1] == "completed"
