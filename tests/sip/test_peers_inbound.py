"""An inbound call from sipp through Kamailio: prompt, RFC 2833 keys, hang-up."""

from __future__ import annotations

from pathlib import Path

import pytest

from ivr.actions import DigitsCollected
from santral.telephony.sip.connector import SipConnector
from santral.testing.sip_peers import Kamailio, run_sipp
from tests.conftest import require_program
from tests.sip.conftest import SCENARIOS
from tests.sip.flows import ScriptedFlow

pytestmark = [pytest.mark.peer]


async def test_sipp_keys_reach_ivr(
    kamailio: Kamailio, connector: SipConnector, flow: ScriptedFlow, tmp_path: Path
) -> None:
    require_program("sipp")
    assert kamailio.is_registered("ivr")

    result = await run_sipp(
        SCENARIOS / "caller_dtmf.xml",
        proxy_port=kamailio.port,
        service="ivr",
        workdir=tmp_path / "sipp",
        time_limit=30,
    )

    assert result.returncode == 0, result.output[-2000:]
    call_id = flow.started[0].call_id
    assert flow.events[call_id] == [DigitsCollected(digits="12", reason="terminator")]


@pytest.mark.slow
async def test_twenty_concurrent_calls(
    kamailio: Kamailio, connector: SipConnector, flow: ScriptedFlow, tmp_path: Path
) -> None:
    require_program("sipp")

    result = await run_sipp(
        SCENARIOS / "caller_dtmf.xml",
        proxy_port=kamailio.port,
        service="ivr",
        workdir=tmp_path / "sipp",
        time_limit=45,
        calls=20,
        rate=20,
    )

    assert result.returncode == 0, result.output[-2000:]
    assert len(flow.started) == 20
    for info in flow.started:
        assert flow.events[info.call_id] == [DigitsCollected(digits="12", reason="terminator")]
    assert connector.callers == {}
    assert connector.ports.in_use == 0
