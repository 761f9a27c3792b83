"""Fixtures of the SIP tests: a Kamailio per test module and a connector on free ports."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from santral.clock import SystemClock
from santral.telephony.sip.connector import SipConnector
from santral.telephony.sip.settings import SipSettings
from santral.testing.sip_peers import Kamailio, free_udp_port
from tests.conftest import require_program
from tests.sip.flows import ScriptedFlow

HERE = Path(__file__).resolve().parent
SCENARIOS = HERE / "scenarios"
TRANSCRIPTS = HERE / "transcripts"


@pytest.fixture
def kamailio(tmp_path: Path) -> Iterator[Kamailio]:
    require_program("kamailio")
    require_program("kamcmd")
    peer = Kamailio(HERE / "kamailio.cfg", tmp_path / "kamailio")
    peer.start()
    try:
        yield peer
    finally:
        peer.stop()


def connector_settings(proxy_port: int, **overrides: object) -> SipSettings:
    rtp_low = 30000 + (free_udp_port() % 200) * 100
    values: dict[str, object] = {
        "enabled": True,
        "server": "127.0.0.1",
        "port": proxy_port,
        "extensions": ["ivr"],
        "local_address": "127.0.0.1",
        "local_port": free_udp_port(),
        "rtp_port_min": rtp_low,
        "rtp_port_max": rtp_low + 98,
        "register_timeout": 2.0,
    }
    values.update(overrides)
    return SipSettings.model_validate(values)


@pytest.fixture
def flow() -> ScriptedFlow:
    return ScriptedFlow()


@pytest.fixture
async def connector(kamailio: Kamailio, flow: ScriptedFlow) -> AsyncIterator[SipConnector]:
    sip = SipConnector(connector_settings(kamailio.port), flow, clock=SystemClock())
    await sip.start()
    try:
        yield sip
    finally:
        await sip.stop()
