"""Agent legs to a baresip phone: answer with audio relay, busy, caller gone, cancel."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import wave
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from santral.clock import SystemClock
from santral.telephony.base import AgentEndpoint, AgentLegResult
from santral.telephony.sip.connector import SipConnector
from santral.testing.sip_peers import Baresip, Kamailio, SippResult, run_sipp
from tests.conftest import require_program
from tests.sip import phones
from tests.sip.conftest import SCENARIOS, connector_settings
from tests.sip.flows import SOUNDS, ScriptedFlow
from tests.sip.phones import wait_until

pytestmark = [pytest.mark.peer, pytest.mark.slow]


def alice(kamailio: Kamailio) -> AgentEndpoint:
    return AgentEndpoint(agent_id="alice", address=f"sip:alice@127.0.0.1:{kamailio.port}")


def padded_source(tmp_path: Path) -> Path:
    """A prompt padded with 30 s of silence: baresip hangs up when its source file ends."""
    target = tmp_path / "agent-source.wav"
    subprocess.run(
        ["sox", str(SOUNDS / "vm-goodbye.wav"), str(target), "pad", "0", "30"],
        check=True,
        timeout=10,
    )
    return target


async def start_phone(kamailio: Kamailio, tmp_path: Path, *, answer: str = "auto") -> Baresip:
    require_program("sox")
    return await phones.start_phone(
        kamailio, tmp_path / "baresip", "alice", padded_source(tmp_path), answer=answer
    )


def save_transcript(trace: list[tuple[str, bytes]] | None) -> None:
    """Write each SIP message to ``$SANTRAL_SIP_TRANSCRIPTS`` when set, to refresh test data."""
    folder = os.environ.get("SANTRAL_SIP_TRANSCRIPTS")
    if not folder or trace is None:
        return
    Path(folder).mkdir(parents=True, exist_ok=True)
    for index, (direction, data) in enumerate(trace):
        (Path(folder) / f"{index:03d}-{direction}.sip").write_bytes(data)


def speech_seconds(path: Path) -> float:
    """Seconds of a recording whose 20 ms frames are louder than silence."""
    with wave.open(str(path), "rb") as reader:
        samples = np.frombuffer(reader.readframes(reader.getnframes()), dtype=np.int16)
        rate = reader.getframerate()
    frame = rate // 50
    frames = samples[: len(samples) // frame * frame].reshape(-1, frame).astype(np.float64)
    loud = np.sqrt((frames**2).mean(axis=1)) > 300
    return float(loud.sum()) / 50


@dataclass
class QueuedCall:
    """A sipp caller waiting in the scripted queue, a connector and (optionally) alice's phone."""

    flow: ScriptedFlow
    connector: SipConnector
    call_id: str
    caller: asyncio.Task[SippResult]
    phone: Baresip | None


@contextlib.asynccontextmanager
async def queued_call(
    kamailio: Kamailio, tmp_path: Path, *, answer: str | None = "auto"
) -> AsyncIterator[QueuedCall]:
    """Start alice's phone (unless ``answer`` is None), the connector and a queued caller."""
    require_program("sipp")
    flow = ScriptedFlow(queue=True)
    phone = await start_phone(kamailio, tmp_path, answer=answer) if answer else None
    connector = SipConnector(connector_settings(kamailio.port), flow, clock=SystemClock())
    connector.trace = []
    await connector.start()
    try:
        scenario = SCENARIOS / "caller_queue.xml"
        workdir = tmp_path / "sipp"
        caller = asyncio.create_task(
            run_sipp(
                scenario, proxy_port=kamailio.port, service="ivr", workdir=workdir, time_limit=40
            )
        )
        await wait_until(lambda: bool(flow.queue_results))
        yield QueuedCall(flow, connector, flow.started[0].call_id, caller, phone)
    finally:
        await connector.stop()
        if phone is not None:
            phone.stop()


async def test_caller_audio_reaches_agent(kamailio: Kamailio, tmp_path: Path) -> None:
    async with queued_call(kamailio, tmp_path) as call:
        result = await call.connector.connect_agent(call.call_id, alice(kamailio), ring_timeout=10)

        assert result is AgentLegResult.ANSWERED
        outcome = await call.caller
        assert outcome.returncode == 0, outcome.output[-2000:]
        assert call.flow.hung_up[call.call_id] == "bye"
    save_transcript(call.connector.trace)
    assert call.phone is not None
    received = [path for path in call.phone.recordings() if path.name.endswith("-dec.wav")]
    assert received, f"baresip recorded nothing in {call.phone.workdir}"
    assert speech_seconds(received[0]) > 3.0


async def test_agent_busy_is_a_miss(kamailio: Kamailio, tmp_path: Path) -> None:
    async with queued_call(kamailio, tmp_path, answer="manual") as call:
        connector = call.connector
        attempt = asyncio.create_task(
            connector.connect_agent(call.call_id, alice(kamailio), ring_timeout=10)
        )
        await wait_until(
            lambda: attempt.done() or any(leg.ringing for leg in connector.agent_legs.values())
        )
        assert call.phone is not None

        await asyncio.to_thread(call.phone.command, "hangup")

        assert await attempt is AgentLegResult.BUSY
        assert connector.agent_legs == {}
        await call.caller


async def test_no_answer_cancels_invite(kamailio: Kamailio, tmp_path: Path) -> None:
    async with queued_call(kamailio, tmp_path, answer="manual") as call:
        result = await call.connector.connect_agent(call.call_id, alice(kamailio), ring_timeout=1.0)

        assert result is AgentLegResult.NO_ANSWER
        trace = call.connector.trace or []
        sent = [data.split(b" ", 1)[0] for direction, data in trace if direction == "out"]
        assert b"CANCEL" in sent
        received = [data.split(b"\r\n", 1)[0] for direction, data in trace if direction == "in"]
        assert any(b" 487 " in line for line in received)
        await call.caller


async def test_absent_agent_fails_cleanly(kamailio: Kamailio, tmp_path: Path) -> None:
    nobody = AgentEndpoint(agent_id="bob", address=f"sip:bob@127.0.0.1:{kamailio.port}")
    async with queued_call(kamailio, tmp_path, answer=None) as call:
        result = await call.connector.connect_agent(call.call_id, nobody, ring_timeout=5)

        assert result is AgentLegResult.FAILED
        assert call.connector.agent_legs == {}
        await call.caller


async def test_caller_cancel_while_ringing(kamailio: Kamailio, tmp_path: Path) -> None:
    require_program("sipp")
    flow = ScriptedFlow()
    release = asyncio.Event()
    original = flow.start_call

    async def slow_start(*args: object, **kwargs: object) -> object:
        actions = await original(*args, **kwargs)  # type: ignore[arg-type]
        await release.wait()
        return actions

    flow.start_call = slow_start  # type: ignore[method-assign]
    connector = SipConnector(connector_settings(kamailio.port), flow, clock=SystemClock())
    await connector.start()
    try:
        result = await run_sipp(
            SCENARIOS / "caller_cancel.xml",
            proxy_port=kamailio.port,
            service="ivr",
            workdir=tmp_path / "sipp",
            time_limit=20,
        )

        assert result.returncode == 0, result.output[-2000:]
        call_id = flow.started[0].call_id
        assert flow.hung_up[call_id] == "cancel"
        assert connector.callers == {}
    finally:
        release.set()
        await connector.stop()


async def test_caller_hangup_cancels_ringing_agent(kamailio: Kamailio, tmp_path: Path) -> None:
    async with queued_call(kamailio, tmp_path, answer="manual") as call:
        result = await call.connector.connect_agent(call.call_id, alice(kamailio), ring_timeout=30)

        assert result is AgentLegResult.CALLER_GONE
        trace = call.connector.trace or []
        sent = [data.split(b" ", 1)[0] for direction, data in trace if direction == "out"]
        assert b"CANCEL" in sent
        assert call.connector.agent_legs == {}
        assert call.flow.hung_up[call.call_id] == "bye"
        outcome = await call.caller
        assert outcome.returncode == 0, outcome.output[-2000:]
