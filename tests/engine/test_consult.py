"""Consult transfers at the agent desk, through the engine and the virtual connector.

Bob answers a sales call, then consults alice (an agent), a queue or a number while the
caller holds, and completes or cancels the transfer.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from cti.ports import DeskError
from ivr.actions import QueueResult
from santral.acd_service import EnqueueRequest, VoiceLeg
from santral.engine import Engine
from santral.events import ConsultChanged, Event, OfferCreated
from santral.telephony.base import AgentEndpoint, AgentLegResult
from santral.telephony.virtual import CallerOutput, KeyScript, VirtualConnector
from tests.engine.conftest import EventLog, next_event

# English, sales; then 5 in the survey once the last agent hangs up.
SALES_KEYS = ["1", "3", "5"]
CALLER = "+905551112233"
WAIT = 10.0


@dataclass
class BobsCall:
    """A sales call bob has answered, with what the caller heard."""

    engine: Engine
    task: asyncio.Task[str]
    interaction_id: str
    call_id: str
    heard: list[CallerOutput] = field(default_factory=list)

    @property
    def virtual(self) -> VirtualConnector:
        assert self.engine.virtual is not None
        return self.engine.virtual

    async def hang_up(self) -> None:
        self.task.cancel()  # the caller puts the phone down
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(self.task, WAIT)


@pytest.fixture
async def call(engine: Engine) -> AsyncIterator[BobsCall]:
    assert engine.virtual is not None
    await engine.acd.set_status("bob", "available")
    heard: list[CallerOutput] = []
    offered = next_event(engine, "offer_created", agent_id="bob")
    script = KeyScript(keys=list(SALES_KEYS), key_gap=0.05, time_scale=0.0)
    task = asyncio.ensure_future(engine.virtual.place_call(CALLER, "100", script, heard.append))
    offer = await asyncio.wait_for(offered, WAIT)
    assert isinstance(offer, OfferCreated)
    connected = next_event(engine, "interaction_connected", agent_id="bob")
    await engine.acd.accept("bob", offer.offer_id)
    await asyncio.wait_for(connected, WAIT)
    bobs = BobsCall(engine, task, offer.interaction_id, str(offer.pop["call_id"]), heard)
    yield bobs
    if not task.done():
        await bobs.hang_up()


def consult_states(log: EventLog) -> list[str]:
    return [event.state for event in log.events if isinstance(event, ConsultChanged)]


def outcomes(log: EventLog, event_type: str, **match: str) -> list[str]:
    return [
        str(getattr(event, "outcome", ""))
        for event in log.of(event_type)
        if all(getattr(event, name, None) == value for name, value in match.items())
    ]


async def request_alice(call: BobsCall, kind: str = "agent", target: str = "alice") -> OfferCreated:
    """Make alice available, have bob consult ``target``, and return alice's offer."""
    engine = call.engine
    await engine.acd.set_status("alice", "available")
    offered = next_event(engine, "offer_created", agent_id="alice")
    await engine.acd.consult("bob", call.interaction_id, kind, target)
    offer = await asyncio.wait_for(offered, WAIT)
    assert isinstance(offer, OfferCreated)
    return offer


async def consult_alice(call: BobsCall) -> OfferCreated:
    """Have bob consult alice and alice accept; return alice's consultation offer."""
    engine = call.engine
    offer = await request_alice(call)
    connected = next_event(engine, "consult_changed", state="connected")
    await engine.acd.accept("alice", offer.offer_id)
    await asyncio.wait_for(connected, WAIT)
    return offer


async def test_consult_agent_offer_carries_pop(call: BobsCall, event_log: EventLog) -> None:
    engine = call.engine

    offer = await request_alice(call)

    assert offer.pop["consult"]["from_agent_id"] == "bob"
    assert offer.pop["consult"]["interaction_id"] == call.interaction_id
    assert offer.pop["caller"] == CALLER
    assert offer.pop["call_id"] == call.call_id
    assert engine.acd.agent_view("alice")["state"] == "reserved"
    view = engine.acd.agent_view("bob")["interactions"][0]
    assert view["consult"]["state"] == "requested"
    assert view["consult"]["target"] == "alice"
    assert consult_states(event_log) == ["requested"]


async def test_consult_agent_then_complete(call: BobsCall, event_log: EventLog) -> None:
    engine = call.engine
    offer = await consult_alice(call)

    assert engine.acd.agent_view("alice")["state"] == "busy"
    assert engine.acd.agent_view("bob")["state"] == "busy"
    held = [getattr(e, "on_hold", None) for e in event_log.of("interaction_held")]
    assert held == [True]
    assert call.virtual.consulting(call.call_id) is not None

    await engine.acd.complete_consult("bob", call.interaction_id)

    assert consult_states(event_log) == ["requested", "ringing", "connected", "completed"]
    assert engine.acd.agent_view("bob")["state"] == "wrap_up"
    assert outcomes(event_log, "interaction_ended", interaction_id=call.interaction_id) == [
        "transferred"
    ]
    alice = engine.acd.agent_view("alice")
    assert alice["state"] == "busy"
    assert [item["interaction_id"] for item in alice["interactions"]] == [offer.interaction_id]
    assert alice["interactions"][0]["consulted_by"] is None

    wrapup = next_event(engine, "wrapup_started", agent_id="alice")
    await engine.acd.hangup("alice", offer.interaction_id)
    await asyncio.wait_for(wrapup, WAIT)
    await asyncio.wait_for(call.task, WAIT)

    assert [getattr(e, "score", None) for e in event_log.of("survey_answered")] == [5]
    assert outcomes(event_log, "call_ended") == ["answered"]
    assert any(item.text == "connected to Alice Demir" for item in call.heard)
    assert engine.store is not None
    await engine.store.flush()
    record = await engine.store.interaction(call.call_id)
    assert record is not None
    assert record["outcome"] == "transferred"
    assert record["transfer_target"] == "agent:alice"
    assert record["agent_id"] == "bob"
    consulted = await engine.store.interaction(offer.interaction_id)
    assert consulted is not None
    assert consulted["agent_id"] == "alice"
    assert consulted["outcome"] == "answered"


async def test_consult_agent_then_cancel(call: BobsCall, event_log: EventLog) -> None:
    engine = call.engine
    await consult_alice(call)

    await engine.acd.cancel_consult("bob", call.interaction_id)

    assert consult_states(event_log)[-1] == "cancelled"
    assert [getattr(e, "on_hold", None) for e in event_log.of("interaction_held")] == [
        True,
        False,
    ]
    assert engine.acd.agent_view("alice")["state"] == "wrap_up"
    bob = engine.acd.agent_view("bob")
    assert bob["state"] == "busy"
    assert bob["interactions"][0]["consult"] is None
    assert call.virtual.consulting(call.call_id) is None

    await engine.acd.hangup("bob", call.interaction_id)
    await asyncio.wait_for(call.task, WAIT)
    assert outcomes(event_log, "call_ended") == ["answered"]


async def test_consulted_agent_hangs_up_phone(call: BobsCall, event_log: EventLog) -> None:
    engine = call.engine
    await consult_alice(call)

    await call.virtual.end_consult_leg(call.call_id)

    assert consult_states(event_log)[-1] == "target_left"
    assert engine.acd.agent_view("alice")["state"] == "wrap_up"
    assert engine.acd.agent_view("bob")["interactions"][0]["on_hold"] is False


async def test_consulted_agent_hangs_up_console(call: BobsCall, event_log: EventLog) -> None:
    engine = call.engine
    offer = await consult_alice(call)

    await engine.acd.hangup("alice", offer.interaction_id)

    assert consult_states(event_log)[-1] == "target_left"
    assert call.virtual.consulting(call.call_id) is None
    assert engine.acd.agent_view("alice")["state"] == "wrap_up"
    assert engine.acd.agent_view("bob")["state"] == "busy"


async def test_caller_hangs_up_while_consulting(call: BobsCall, event_log: EventLog) -> None:
    engine = call.engine
    await consult_alice(call)

    await call.hang_up()
    await asyncio.sleep(0)

    assert consult_states(event_log).count("ended") == 1
    assert consult_states(event_log)[-1] == "ended"
    assert outcomes(event_log, "call_ended") == ["answered"]
    assert engine.acd.agent_view("alice")["state"] == "wrap_up"
    assert engine.acd.agent_view("bob")["state"] == "wrap_up"
    assert engine.acd.agent_view("alice")["interactions"] == []


async def test_consult_agent_rejects(call: BobsCall, event_log: EventLog) -> None:
    engine = call.engine
    offer = await request_alice(call)

    await engine.acd.reject("alice", offer.offer_id)

    failed = [e for e in event_log.events if isinstance(e, ConsultChanged) and e.state == "failed"]
    assert [e.reason for e in failed] == ["rejected"]
    assert engine.acd.agent_view("alice")["state"] == "idle"
    assert engine.acd.agent_view("alice")["offer"] is None
    assert engine.acd.agent_view("bob")["interactions"][0]["consult"] is None
    assert outcomes(event_log, "interaction_ended", interaction_id=offer.interaction_id) == [
        "withdrawn"
    ]
    assert engine.acd.router.stats is not None
    totals = engine.acd.router.stats.totals("sales")
    assert totals.abandoned + totals.short_abandoned == 0


async def test_consulted_leg_not_answered(call: BobsCall, event_log: EventLog) -> None:
    engine = call.engine
    call.virtual.consult_leg_results["alice"] = [AgentLegResult.NO_ANSWER]
    offer = await request_alice(call)
    failed = next_event(engine, "consult_changed", state="failed")

    await engine.acd.accept("alice", offer.offer_id)
    event = await asyncio.wait_for(failed, WAIT)

    assert isinstance(event, ConsultChanged)
    assert event.reason == "no_answer"
    assert consult_states(event_log) == ["requested", "ringing", "failed"]
    assert [getattr(e, "on_hold", None) for e in event_log.of("interaction_held")] == [
        True,
        False,
    ]
    assert engine.acd.agent_view("bob")["state"] == "busy"


async def test_consult_unavailable_agent_rejected(call: BobsCall, event_log: EventLog) -> None:
    with pytest.raises(DeskError) as raised:
        await call.engine.acd.consult("bob", call.interaction_id, "agent", "alice")

    assert raised.value.code == "invalid_state"
    assert "alice" in str(raised.value)
    assert "logged_out" in str(raised.value)
    assert call.engine.acd.agent_view("bob")["interactions"][0]["consult"] is None
    assert consult_states(event_log) == []


async def test_consult_unknown_targets(call: BobsCall) -> None:
    for kind, target in (("agent", "nobody"), ("queue", "nowhere")):
        with pytest.raises(DeskError) as raised:
            await call.engine.acd.consult("bob", call.interaction_id, kind, target)
        assert raised.value.code == "not_found"
    with pytest.raises(DeskError) as raised:
        await call.engine.acd.consult("bob", call.interaction_id, "agent", "bob")
    assert raised.value.code == "invalid"


async def test_second_consult_rejected(call: BobsCall) -> None:
    await call.engine.acd.set_status("alice", "available")
    await call.engine.acd.consult("bob", call.interaction_id, "agent", "alice")

    with pytest.raises(DeskError) as raised:
        await call.engine.acd.consult("bob", call.interaction_id, "number", "+905550001122")

    assert raised.value.code == "invalid_state"


async def test_hold_refused_while_consulting(call: BobsCall) -> None:
    offer = await consult_alice(call)

    with pytest.raises(DeskError) as raised:
        await call.engine.acd.hold("bob", call.interaction_id, False)
    assert raised.value.code == "invalid_state"
    with pytest.raises(DeskError) as raised:
        await call.engine.acd.hold("alice", offer.interaction_id, True)
    assert raised.value.code == "invalid_state"


async def test_cancel_before_target_accepts(call: BobsCall, event_log: EventLog) -> None:
    engine = call.engine
    await engine.acd.set_status("alice", "available")
    await engine.acd.consult("bob", call.interaction_id, "agent", "alice")

    await engine.acd.cancel_consult("bob", call.interaction_id)

    assert consult_states(event_log) == ["requested", "cancelled"]
    assert engine.acd.agent_view("alice")["state"] == "idle"
    assert event_log.of("interaction_held") == []


async def test_consult_queue_reaches_member(call: BobsCall, event_log: EventLog) -> None:
    engine = call.engine

    offer = await request_alice(call, "queue", "billing")

    assert offer.queue == "billing"
    queued = [
        e for e in event_log.of("interaction_queued") if e.interaction_id == offer.interaction_id
    ]
    assert [getattr(e, "priority", None) for e in queued] == [1000]
    connected = next_event(engine, "consult_changed", state="connected")
    await engine.acd.accept("alice", offer.offer_id)
    event = await asyncio.wait_for(connected, WAIT)
    assert isinstance(event, ConsultChanged)
    assert event.target_agent_id == "alice"


async def test_consult_number_then_complete(call: BobsCall, event_log: EventLog) -> None:
    engine = call.engine
    connected = next_event(engine, "consult_changed", state="connected")

    await engine.acd.consult("bob", call.interaction_id, "number", "+905550001122")
    await asyncio.wait_for(connected, WAIT)
    await engine.acd.complete_consult("bob", call.interaction_id)

    assert consult_states(event_log) == ["requested", "ringing", "connected", "completed"]
    assert engine.acd.agent_view("bob")["state"] == "wrap_up"
    assert any(item.text == "connected to +905550001122" for item in call.heard)
    await call.hang_up()
    assert outcomes(event_log, "call_ended") == ["answered"]


async def test_consult_through_transfer_flag(call: BobsCall, event_log: EventLog) -> None:
    connected = next_event(call.engine, "consult_changed", state="connected")

    await call.engine.acd.transfer("bob", call.interaction_id, "number", "+905550001122", True)

    await asyncio.wait_for(connected, WAIT)
    assert consult_states(event_log)[:1] == ["requested"]


class PlainControl:
    """A connector control without ``ConsultControl``: the agent leg always answers."""

    name = "plain"

    async def connect_agent(
        self, call_id: str, agent: AgentEndpoint, ring_timeout: float, whisper: str = ""
    ) -> AgentLegResult:
        return AgentLegResult.ANSWERED

    async def hold(self, call_id: str, on_hold: bool) -> None:
        return None

    async def transfer(self, call_id: str, target: str) -> None:
        return None

    async def hangup(self, call_id: str) -> None:
        return None


async def test_connector_without_consult_control(engine: Engine) -> None:
    await engine.acd.set_status("bob", "available")
    results: list[QueueResult] = []
    offered = next_event(engine, "offer_created", agent_id="bob")
    request = EnqueueRequest(channel="voice", queue="sales", caller=CALLER, call_id="plain-1")
    interaction_id = engine.acd.enqueue(
        request, VoiceLeg("plain-1", PlainControl(), results.append)
    )
    assert isinstance(interaction_id, str)
    offer: Event = await asyncio.wait_for(offered, WAIT)
    connected = next_event(engine, "interaction_connected", agent_id="bob")
    await engine.acd.accept("bob", getattr(offer, "offer_id", ""))
    await asyncio.wait_for(connected, WAIT)

    with pytest.raises(DeskError) as raised:
        await engine.acd.consult("bob", interaction_id, "number", "+905550001122")

    assert raised.value.code == "not_supported"
    assert "plain connector" in str(raised.value)
    await engine.acd.hangup("bob", interaction_id)


async def test_consulting_agent_hangs_up(call: BobsCall, event_log: EventLog) -> None:
    engine = call.engine
    await consult_alice(call)
    ended = next_event(engine, "call_ended")

    await engine.acd.hangup("bob", call.interaction_id)
    await asyncio.wait_for(ended, WAIT)

    states = consult_states(event_log)
    assert states.count("ended") == 1
    assert states[-1] == "ended"
    assert engine.acd.agent_view("alice")["state"] == "wrap_up"
    assert engine.acd.agent_view("bob")["state"] == "wrap_up"
    assert [getattr(e, "score", None) for e in event_log.of("survey_answered")] == [5]


async def test_queue_consult_ahead_of_waiting_call(call: BobsCall) -> None:
    engine = call.engine
    waiting = EnqueueRequest(channel="voice", queue="billing", caller="+905550003344")
    leg = VoiceLeg("plain-2", PlainControl(), lambda result: None)
    ordinary = engine.acd.enqueue(waiting, leg)
    assert isinstance(ordinary, str)
    await engine.acd.consult("bob", call.interaction_id, "queue", "billing")
    offered = next_event(engine, "offer_created", agent_id="alice")

    await engine.acd.set_status("alice", "available")
    offer = await asyncio.wait_for(offered, WAIT)

    assert isinstance(offer, OfferCreated)
    assert offer.interaction_id != ordinary
    assert offer.pop["consult"]["from_agent_id"] == "bob"
    await engine.acd.cancel_consult("bob", call.interaction_id)
    engine.acd.abandon(ordinary)


async def test_queue_consult_waits_after_miss(call: BobsCall, event_log: EventLog) -> None:
    engine = call.engine
    call.virtual.consult_leg_results["alice"] = [AgentLegResult.NO_ANSWER]
    offer = await request_alice(call, "queue", "billing")
    requeued = next_event(engine, "consult_changed", state="requested", reason="no_answer")

    await engine.acd.accept("alice", offer.offer_id)
    await asyncio.wait_for(requeued, WAIT)

    assert consult_states(event_log) == ["requested", "ringing", "requested"]
    view = engine.acd.agent_view("bob")["interactions"][0]
    assert view["consult"]["state"] == "requested"
    assert view["on_hold"] is False
    await engine.acd.cancel_consult("bob", call.interaction_id)
    assert consult_states(event_log)[-1] == "cancelled"
    assert engine.acd.agent_view("alice")["offer"] is None


async def test_blind_transfer_to_queue_recorded(call: BobsCall) -> None:
    engine = call.engine
    queued = next_event(engine, "interaction_queued", queue="billing")

    await engine.acd.transfer("bob", call.interaction_id, "queue", "billing", consult=False)
    await asyncio.wait_for(queued, WAIT)
    assert engine.store is not None
    await engine.store.flush()
    record = await engine.store.interaction(call.interaction_id)

    assert record is not None
    assert record["outcome"] == "transferred"
    assert record["transfer_target"] == "queue:billing"
    assert engine.acd.agent_view("bob")["state"] == "wrap_up"


async def test_transferred_interaction_ends_once(call: BobsCall, event_log: EventLog) -> None:
    engine = call.engine
    queued = next_event(engine, "interaction_queued", queue="billing")

    await engine.acd.transfer("bob", call.interaction_id, "queue", "billing", consult=False)
    await asyncio.wait_for(queued, WAIT)

    ended = [
        event
        for event in event_log.of("interaction_ended")
        if getattr(event, "interaction_id", None) == call.interaction_id
    ]
    assert [(getattr(e, "outcome", ""), getattr(e, "transfer_target", "")) for e in ended] == [
        ("transferred", "queue:billing")
    ]
    # Consoles see the interaction end before the agent's wrap-up starts.
    types = [event.type for event in event_log.events]
    assert types.index("interaction_ended") < types.index("wrapup_started")


async def test_blind_transfer_reaches_agent(call: BobsCall, event_log: EventLog) -> None:
    engine = call.engine
    await engine.acd.set_status("alice", "available")
    offered = next_event(engine, "offer_created", agent_id="alice")

    # alice has no sales skill, so only the named target brings the call to her.
    await engine.acd.transfer("bob", call.interaction_id, "agent", "alice", consult=False)
    offer = await asyncio.wait_for(offered, WAIT)

    assert isinstance(offer, OfferCreated)
    assert offer.pop["transferred_from"] == "bob"
    assert outcomes(event_log, "interaction_ended", interaction_id=call.interaction_id) == [
        "transferred"
    ]


async def test_held_caller_held_once_for_consult(call: BobsCall, event_log: EventLog) -> None:
    engine = call.engine
    await engine.acd.hold("bob", call.interaction_id, True)
    offer = await request_alice(call)
    connected = next_event(engine, "consult_changed", state="connected")

    await engine.acd.accept("alice", offer.offer_id)
    await asyncio.wait_for(connected, WAIT)

    held = [getattr(e, "on_hold", None) for e in event_log.of("interaction_held")]
    assert held == [True]
