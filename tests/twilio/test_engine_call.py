"""Twilio calls through the real engine: sample dialplans, live ACD, a CTI agent, the store.

The engine builds the Twilio connector itself from the environment, as in production;
only its REST client is replaced by the peer's capturing one.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from santral.clock import ShiftedClock
from santral.config import load_config
from santral.engine import Engine
from santral.events import Event
from santral.telephony.twilio import TwilioConnector
from santral.testing.cti_client import CtiClient
from santral.testing.twilio_peer import Agent, TwilioPeer
from tests.conftest import REPOSITORY
from tests.twilio.conftest import ENVIRON, until
from tests.twilio.wire import ACCOUNT_SID, AUTH_TOKEN, PUBLIC_URL

# A Monday at 10:00 in Istanbul, when the sample dialplans are open for business.
MONDAY_MORNING = datetime.fromisoformat("2026-12-07T10:00:00+03:00").timestamp()
SAMPLE_NUMBER = "+908505550100"
CALLER = "+905551112233"
# English, billing, a Luhn-valid account number ended by #, confirm with 1.
BILLING_INPUTS: list[str | None] = ["1", "1", "12345678903#", "1"]


@dataclass
class Site:
    """The engine, its Twilio connector on its own HTTP listener, and the peer."""

    engine: Engine
    connector: TwilioConnector
    peer: TwilioPeer
    events: list[Event]

    def of(self, event_type: str) -> list[Event]:
        return [event for event in self.events if event.type == event_type]


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    environ = {
        **ENVIRON,
        "SANTRAL_PUBLIC_URL": PUBLIC_URL,
        "SANTRAL_HTTP__PORT": "0",
        "SANTRAL_STORE__URL": f"sqlite:///{tmp_path / 'santral.db'}",
        "SANTRAL_EMAIL__LISTEN_PORT": "0",
        "SANTRAL_EMAIL__ATTACHMENTS_FOLDER": str(tmp_path / "attachments"),
        "SANTRAL_ASTERISK__FASTAGI__PORT": "0",
        "SANTRAL_ACD__AGENTS__ALICE__ENDPOINT": "client:alice",
        "SANTRAL_ACD__AGENTS__BOB__ENDPOINT": "'+15005550006'",
        "SANTRAL_ACD__AGENTS__BOB__AUTO_ACCEPT": "true",
    }
    config = load_config(REPOSITORY / "config.yaml", environ=environ)
    engine = Engine(config, clock=ShiftedClock(MONDAY_MORNING), environ=environ)
    await engine.start()

    events: list[Event] = []
    engine.bus.subscribe(events.append)
    connector = engine.connectors["twilio"]
    assert isinstance(connector, TwilioConnector)

    peer = TwilioPeer(
        target_url=f"http://127.0.0.1:{engine.http_port}",
        public_url=PUBLIC_URL,
        account_sid=ACCOUNT_SID,
        auth_token=AUTH_TOKEN,
        time_scale=0.01,
    )
    connector.rest_client = peer.rest_client()

    async with peer:
        yield Site(engine, connector, peer, events)

    await engine.stop()


def engine_url(site: Site) -> str:
    return f"http://127.0.0.1:{site.engine.http_port}"


async def test_twilio_call_reaches_cti_agent(site: Site) -> None:
    async with CtiClient(engine_url(site)) as alice:
        await alice.login("alice", "alice-demo")
        events = await alice.connect()
        await alice.post("/api/agents/alice/status", {"status": "available"})

        call = site.peer.call(CALLER, SAMPLE_NUMBER, list(BILLING_INPUTS))
        offer = await events.wait_for("offer_created", within=15)
        assert offer["queue"] == "billing"
        assert offer["pop"]["caller"] == CALLER
        await alice.post(f"/api/agents/alice/offers/{offer['offer_id']}/accept")
        await events.wait_for("interaction_connected", within=10)

        call.inputs.append("5")
        call.agent_hangs_up()
        await events.wait_for("wrapup_started", within=10)
        await asyncio.wait_for(call.finished(), 10)
        await alice.post("/api/agents/alice/wrapup/end", {"disposition": "resolved"})
        await events.wait_for("wrapup_ended", within=5)

    assert [getattr(e, "score", None) for e in site.of("survey_answered")] == [5]
    assert [getattr(e, "outcome", None) for e in site.of("call_ended")] == ["answered"]
    assert ("dial", "client:alice") in [(entry.kind, entry.value) for entry in call.transcript]
    assert any(entry.kind == "whisper" for entry in call.transcript)
    assert [(url, status) for url, status, _ in call.replies if status not in (200, 204)] == []
    record = await stored_record(site, call.sid)
    assert record["outcome"] == "answered"
    assert record["connector"] == "twilio"
    assert record["agent_id"] == "alice"
    assert record["queue"] == "billing"
    assert record["survey_score"] == 5
    for stamp in (
        "arrived_at",
        "ivr_exit_at",
        "enqueued_at",
        "first_offer_at",
        "answered_at",
        "ended_at",
        "wrapup_started_at",
        "wrapup_ended_at",
    ):
        assert record[stamp] is not None, stamp
    assert "12345678903" not in repr(record)


async def test_twilio_caller_hangs_up_in_queue(site: Site) -> None:
    call = site.peer.call(CALLER, SAMPLE_NUMBER, list(BILLING_INPUTS))
    await until(lambda: bool(site.of("interaction_queued")), seconds=15)
    await until(lambda: bool(call.requested("/twilio/queue")), seconds=5)
    call.hang_up()
    await asyncio.wait_for(call.finished(), 10)

    await until(lambda: bool(site.of("interaction_ended")), seconds=5)
    assert [getattr(e, "outcome", None) for e in site.of("interaction_ended")] == [
        "abandoned_in_queue"
    ]
    assert [getattr(e, "outcome", None) for e in site.of("call_ended")] == ["abandoned_in_queue"]
    record = await stored_record(site, call.sid)
    assert record["outcome"] == "abandoned_in_queue"


async def test_twilio_no_answer_goes_to_next_agent(site: Site) -> None:
    site.peer.agents["+15005550006"] = Agent(answer="no-answer")
    await site.engine.acd.set_status("bob", "available")
    # English, technical support (bob's best skill), account, confirm.
    call = site.peer.call(CALLER, SAMPLE_NUMBER, ["1", "2", "12345678903#", "1"])
    await until(lambda: bool(site.of("offer_ended")), seconds=20)
    missed = site.of("offer_ended")[0]
    assert getattr(missed, "agent_id", None) == "bob"

    await site.engine.acd.set_status("alice", "available")
    offered = await wait_event(site, "offer_created", agent_id="alice")
    await site.engine.acd.accept("alice", getattr(offered, "offer_id", ""))
    await wait_event(site, "interaction_connected", agent_id="alice")
    call.agent_hangs_up()
    await asyncio.wait_for(call.finished(), 15)

    dialed = [entry.value for entry in call.transcript if entry.kind == "dial"]
    assert dialed == ["+15005550006", "client:alice"]
    assert [getattr(e, "outcome", None) for e in site.of("call_ended")] == ["answered"]


async def wait_event(site: Site, event_type: str, **match: Any) -> Event:
    def found() -> Event | None:
        for event in site.of(event_type):
            if all(getattr(event, name, None) == value for name, value in match.items()):
                return event
        return None

    await until(lambda: found() is not None, seconds=15)
    event = found()
    assert event is not None
    return event


async def stored_record(site: Site, call_id: str) -> dict[str, Any]:
    assert site.engine.store is not None
    await site.engine.store.flush()
    record = await site.engine.store.interaction(call_id)
    assert record is not None
    return record
