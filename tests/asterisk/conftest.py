"""Fixtures that start the scripted Asterisk and the connector on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime

import pytest

from santral.clock import VirtualClock
from santral.events import Event, EventBus
from santral.telephony.asterisk.connector import AsteriskConnector
from santral.telephony.asterisk.settings import AmiSettings, AsteriskSettings, FastAgiSettings
from santral.telephony.base import AgentEndpoint
from santral.testing.asterisk_peer import AmiServer, AsteriskPeer
from tests.asterisk.flow import InterpreterFlow

SECRET_ENV = "SANTRAL_TEST_AMI_SECRET"
# A Monday at 10:00 in Istanbul: the sample dialplan's business hours are open.
OPEN_HOURS = datetime.fromisoformat("2026-12-07T10:00:00+03:00").timestamp()
ALICE = AgentEndpoint(agent_id="alice", address="PJSIP/alice", display_name="Alice")
BOB = AgentEndpoint(agent_id="bob", address="PJSIP/bob", display_name="Bob")


def asterisk_settings(ami_port: int | None, **extra: object) -> AsteriskSettings:
    ami = AmiSettings()
    if ami_port is not None:
        ami = AmiSettings(
            host="127.0.0.1",
            port=ami_port,
            username="santral",
            secret_env=SECRET_ENV,
            reconnect_min=0.01,
            reconnect_max=0.05,
            ping_interval=5.0,
        )
    return AsteriskSettings(
        fastagi=FastAgiSettings(port=0, header_timeout=1.0, reply_timeout=5.0),
        ami=ami,
        queue_poll_interval=0.02,
        **extra,  # type: ignore[arg-type]
    )


@dataclass
class Rig:
    """A running connector, its engine side, the scripted Asterisk and the bus events."""

    connector: AsteriskConnector
    flow: InterpreterFlow
    peer: AsteriskPeer
    ami: AmiServer
    published: list[Event]

    @property
    def port(self) -> int:
        return self.connector.fastagi_address[1]

    def published_of(self, kind: type[Event]) -> list[Event]:
        return [event for event in self.published if isinstance(event, kind)]


async def start_rig(
    agents: list[AgentEndpoint],
    *,
    with_ami: bool = True,
    exit_key: str = "",
    environ: dict[str, str] | None = None,
) -> Rig:
    ami = AmiServer(secret="s3cret")
    ami_port = await ami.start()
    peer = AsteriskPeer(ami)
    clock = VirtualClock(OPEN_HOURS)
    bus = EventBus(clock)
    published: list[Event] = []
    bus.subscribe(published.append)
    flow = InterpreterFlow(clock, agents, exit_key=exit_key)
    endpoints = {agent.address: agent.agent_id for agent in agents}
    settings = asterisk_settings(ami_port if with_ami else None)
    connector = AsteriskConnector(
        settings, flow, clock=clock, bus=bus, agents=endpoints, environ=environ
    )
    await connector.start()
    if connector.ami is not None:
        await connector.ami.wait_logged_in(5.0)
    return Rig(connector, flow, peer, ami, published)


@pytest.fixture
def ami_secret(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(SECRET_ENV, "s3cret")
    return "s3cret"


@pytest.fixture
async def rig(ami_secret: str) -> AsyncIterator[Rig]:
    started = await start_rig([ALICE, BOB])
    started.peer.add_phone("PJSIP/alice")
    started.peer.add_phone("PJSIP/bob")
    yield started
    await started.connector.stop()
    await started.ami.stop()
