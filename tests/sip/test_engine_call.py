"""A SIP call through the real engine: sample IVR, live ACD, a CTI agent, baresip, the store."""

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
from santral.telephony.sip.connector import SipConnector
from santral.testing.cti_client import CtiClient
from santral.testing.sip_peers import Baresip, Kamailio, run_sipp
from tests.conftest import REPOSITORY, require_program
from tests.sip.conftest import SCENARIOS, connector_settings
from tests.sip.test_peers_agent import speech_seconds, start_phone

pytestmark = [pytest.mark.peer, pytest.mark.slow]

# A Monday at 10:00 in Istanbul, when the sample dialplans are open for business.
MONDAY_MORNING = datetime.fromisoformat("2026-12-07T10:00:00+03:00").timestamp()


@dataclass
class Site:
    engine: Engine
    connector: SipConnector
    phone: Baresip
    events: list[Event]

    def of(self, event_type: str) -> list[Event]:
        return [event for event in self.events if event.type == event_type]


@pytest.fixture
async def site(kamailio: Kamailio, tmp_path: Path) -> AsyncIterator[Site]:
    require_program("sipp")
    environ = {
        "SANTRAL_HTTP__PORT": "0",
        "SANTRAL_STORE__URL": f"sqlite:///{tmp_path / 'santral.db'}",
        "SANTRAL_EMAIL__LISTEN_PORT": "0",
        "SANTRAL_ASTERISK__FASTAGI__PORT": "0",
        "SANTRAL_ACD__AGENTS__ALICE__ENDPOINT": f"sip:alice@127.0.0.1:{kamailio.port}",
    }
    config = load_config(REPOSITORY / "config.yaml", environ=environ)
    engine = Engine(config, clock=ShiftedClock(MONDAY_MORNING), environ=environ)
    await engine.start()
    events: list[Event] = []
    engine.bus.subscribe(events.append)
    assert engine.calls is not None
    phone = await start_phone(kamailio, tmp_path)
    settings = connector_settings(kamailio.port, extensions=["100"])
    connector = SipConnector(settings, engine.calls, clock=engine.clock, bus=engine.bus)
    engine.calls.register_control(connector)
    await connector.start()
    try:
        yield Site(engine, connector, phone, events)
    finally:
        await connector.stop()
        phone.stop()
        await engine.stop()


async def test_sip_call_reaches_cti_agent(site: Site, kamailio: Kamailio, tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{site.engine.http_port}"
    async with CtiClient(url) as alice:
        await alice.login("alice", "alice-demo")
        events = await alice.connect()
        await alice.post("/api/agents/alice/status", {"status": "available"})
        caller = asyncio.create_task(
            run_sipp(
                SCENARIOS / "caller_sample_ivr.xml",
                proxy_port=kamailio.port,
                service="100",
                workdir=tmp_path / "sipp",
                time_limit=60,
            )
        )

        offer = await events.wait_for("offer_created", within=30)
        assert offer["queue"] == "billing"
        await alice.post(f"/api/agents/alice/offers/{offer['offer_id']}/accept")
        await events.wait_for("interaction_connected", within=10)
        await events.wait_for("wrapup_started", within=30)
        await alice.post("/api/agents/alice/wrapup/end", {"disposition": "resolved"})
        await events.wait_for("wrapup_ended", within=5)
        outcome = await caller

    assert outcome.returncode == 0, outcome.output[-2000:]
    site.phone.stop()  # baresip completes its WAV files when it exits
    received = [path for path in site.phone.recordings() if path.name.endswith("-dec.wav")]
    assert received, f"baresip recorded nothing in {site.phone.workdir}"
    assert speech_seconds(received[0]) > 3.0
    record = await stored_record(site)
    assert record["connector"] == "sip"
    assert record["agent_id"] == "alice"
    assert record["queue"] == "billing"
    assert record["answered_at"] is not None
    assert record["wrapup_ended_at"] is not None


async def stored_record(site: Site) -> dict[str, Any]:
    assert site.engine.store is not None
    started = site.of("call_started")
    assert len(started) == 1
    await site.engine.store.flush()
    record = await site.engine.store.interaction(getattr(started[0], "call_id", ""))
    assert record is not None
    return record
