"""Asterisk calls through the real engine: sample dialplans, live ACD, a CTI agent, the store."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from santral.clock import ShiftedClock
from santral.config import load_config
from santral.engine import Engine
from santral.events import Event
from santral.telephony.asterisk.connector import AsteriskConnector
from santral.testing.asterisk_peer import AmiServer, AsteriskPeer
from santral.testing.cti_client import CtiClient
from tests.asterisk.conftest import OPEN_HOURS, SECRET_ENV
from tests.conftest import REPOSITORY

# English, then sales: the sample dialplan queues for sales, where bob has the skill.
SALES_KEYS = ["1", "3"]


@dataclass
class Site:
    """The engine with its Asterisk connector, and the scripted Asterisk it serves."""

    engine: Engine
    connector: AsteriskConnector
    peer: AsteriskPeer
    ami: AmiServer
    events: list[Event]

    def of(self, event_type: str) -> list[Event]:
        return [event for event in self.events if event.type == event_type]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.engine.http_port}"


async def until(condition: Any, seconds: float = 10.0) -> None:
    for _ in range(int(seconds / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not met in time")


def engine_environ(tmp_path: Path, ami_port: int) -> dict[str, str]:
    """Overrides for the shipped config: free ports, files under ``tmp_path``, the AMI login."""
    return {
        "SANTRAL_HTTP__PORT": "0",
        "SANTRAL_STORE__URL": f"sqlite:///{tmp_path / 'santral.db'}",
        "SANTRAL_EMAIL__LISTEN_PORT": "0",
        "SANTRAL_EMAIL__ATTACHMENTS_FOLDER": str(tmp_path / "attachments"),
        "SANTRAL_ASTERISK__FASTAGI__PORT": "0",
        "SANTRAL_ASTERISK__AMI__HOST": "127.0.0.1",
        "SANTRAL_ASTERISK__AMI__PORT": str(ami_port),
        "SANTRAL_ASTERISK__AMI__USERNAME": "santral",
        "SANTRAL_ASTERISK__AMI__SECRET_ENV": SECRET_ENV,
        SECRET_ENV: "s3cret",
        "SANTRAL_ASTERISK__QUEUE_POLL_INTERVAL": "0.05",
        "SANTRAL_ACD__AGENTS__ALICE__ENDPOINT": "PJSIP/alice",
        "SANTRAL_ACD__AGENTS__BOB__ENDPOINT": "PJSIP/bob",
    }


@pytest.fixture
async def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Site]:
    monkeypatch.delenv(SECRET_ENV, raising=False)
    ami = AmiServer(secret="s3cret")
    await ami.start()
    peer = AsteriskPeer(ami)
    peer.add_phone("PJSIP/alice")
    peer.add_phone("PJSIP/bob")
    environ = engine_environ(tmp_path, ami.port)
    config = load_config(REPOSITORY / "config.yaml", environ=environ)
    engine = Engine(config, clock=ShiftedClock(OPEN_HOURS), environ=environ)
    events: list[Event] = []
    engine.bus.subscribe(events.append)
    await engine.start()
    connector = engine.connectors["asterisk"]
    assert isinstance(connector, AsteriskConnector)
    assert connector.ami is not None
    await connector.ami.wait_logged_in(5.0)
    yield Site(engine, connector, peer, ami, events)
    await engine.stop()
    await ami.stop()


async def stored_record(site: Site, call_id: str) -> dict[str, Any]:
    assert site.engine.store is not None
    await site.engine.store.flush()
    record = await site.engine.store.interaction(call_id)
    assert record is not None
    return record


async def test_asterisk_call_reaches_cti_agent(site: Site) -> None:
    async with CtiClient(site.url) as bob:
        await bob.login("bob", "bob-demo")
        events = await bob.connect()
        await bob.post("/api/agents/bob/status", {"status": "available"})

        caller = await site.peer.call(site.connector.fastagi_address[1], "ivr?lang=en", SALES_KEYS)
        offer = await events.wait_for("offer_created", within=15)
        assert offer["queue"] == "sales"
        await bob.post(f"/api/agents/bob/offers/{offer['offer_id']}/accept")
        await events.wait_for("interaction_connected", within=10)

        caller.keys.append("5")
        site.peer.agent_hangs_up("PJSIP/bob")
        await events.wait_for("wrapup_started", within=10)
        await caller.finished()
        await bob.post("/api/agents/bob/wrapup/end", {"disposition": "resolved"})
        await events.wait_for("wrapup_ended", within=5)

    call_id = f"asterisk-{caller.leg.unique_id}"
    await until(lambda: bool(site.of("call_ended")))
    assert [getattr(e, "score", None) for e in site.of("survey_answered")] == [5]
    assert [getattr(e, "outcome", None) for e in site.of("call_ended")] == ["answered"]
    assert 'EXEC Dial "PJSIP/bob,' in " ".join(caller.commands)
    assert caller.closed_by_santral.is_set()
    record = await stored_record(site, call_id)
    assert record["outcome"] == "answered"
    assert record["connector"] == "asterisk"
    assert record["agent_id"] == "bob"
    assert record["queue"] == "sales"
    assert record["survey_score"] == 5
    for stamp in ("arrived_at", "enqueued_at", "answered_at", "ended_at", "wrapup_started_at"):
        assert record[stamp] is not None, stamp


async def test_asterisk_caller_hangs_up_in_queue(site: Site) -> None:
    caller = await site.peer.call(site.connector.fastagi_address[1], "ivr?lang=en", SALES_KEYS)
    await until(lambda: bool(site.of("interaction_queued")))
    await until(lambda: 'EXEC StartMusicOnHold "default"' in caller.commands)
    await caller.hang_up()
    await caller.finished()

    await until(lambda: bool(site.of("interaction_ended")))
    assert [getattr(e, "outcome", None) for e in site.of("interaction_ended")] == [
        "abandoned_in_queue"
    ]
    record = await stored_record(site, f"asterisk-{caller.leg.unique_id}")
    assert record["outcome"] == "abandoned_in_queue"


async def test_unregistered_phone_pauses_agent(site: Site) -> None:
    await site.engine.acd.set_status("bob", "available")
    site.peer.register("PJSIP/bob", False)

    await until(
        lambda: (
            bool(site.of("agent_status_changed"))
            and any(getattr(e, "new", "") == "not_ready" for e in site.of("agent_status_changed"))
        )
    )
    changes = [e for e in site.of("endpoint_state_changed") if getattr(e, "agent_id", "") == "bob"]
    assert [getattr(e, "available", None) for e in changes][-1] is False


async def test_ami_secret_comes_from_the_engine_environ(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(SECRET_ENV, raising=False)
    ami = AmiServer(secret="s3cret")
    await ami.start()
    environ = engine_environ(tmp_path, ami.port)
    config = load_config(REPOSITORY / "config.yaml", environ=environ)
    engine = Engine(config, clock=ShiftedClock(OPEN_HOURS), environ=environ)
    try:
        await engine.start()
        connector = engine.connectors["asterisk"]
        assert isinstance(connector, AsteriskConnector)
        assert connector.ami is not None
        await connector.ami.wait_logged_in(5.0)
    finally:
        await engine.stop()
        await ami.stop()

    assert ami.logins == 1
