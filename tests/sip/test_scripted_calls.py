"""Inbound call handling against a scripted proxy: CANCEL, hold, retransmission, answer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ivr.actions import Action, CallInfo, DigitsCollected, QueueResult
from santral.clock import SystemClock
from santral.telephony.base import CallControl, QueueStatus
from santral.telephony.sip.connector import SipConnector
from santral.telephony.sip.legs import LegState
from santral.telephony.sip.rtp import RtpPacket
from santral.telephony.sip.sdp import parse_sdp
from tests.sip.conftest import connector_settings
from tests.sip.flows import ScriptedFlow
from tests.sip.scripted_proxy import ScriptedProxy
from tests.sip.transcripts import message, rtp_packets

INVITE = message("invite_via_kamailio.sip")
SIP_CALL_ID = "1-19834@127.0.0.1"


class HeldFlow(ScriptedFlow):
    """Keeps ``start_call`` waiting until ``release`` is set, so the call stays ringing."""

    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()
        self.prompt_requests: list[tuple[str, bool]] = []
        self.connector: SipConnector | None = None
        self.status: QueueStatus | None = None

    def queue_status(self, call_id: str) -> QueueStatus | None:
        return self.status

    async def start_call(
        self, info: CallInfo, control: CallControl, *, entry: str | None = None
    ) -> list[Action]:
        actions = await super().start_call(info, control, entry=entry)
        await self.release.wait()
        return actions

    def prompt_file(self, language: str, name: str) -> Path | None:
        assert self.connector is not None
        sent = [
            data.split(b" ", 2)[1]
            for direction, data in self.connector.trace or []
            if direction == "out"
        ]
        self.prompt_requests.append((name, b"200" in sent))
        return super().prompt_file(language, name)


@pytest.fixture
async def proxy() -> AsyncIterator[ScriptedProxy]:
    peer = ScriptedProxy()
    await peer.start()
    try:
        yield peer
    finally:
        peer.close()


@pytest.fixture
async def held() -> HeldFlow:
    return HeldFlow()


@pytest.fixture
async def sip(proxy: ScriptedProxy, held: HeldFlow) -> AsyncIterator[SipConnector]:
    assert proxy.endpoint is not None
    settings = connector_settings(proxy.endpoint.local_address[1], registration=False)
    connector = SipConnector(settings, held, clock=SystemClock())
    connector.trace = []
    held.connector = connector
    await connector.start()
    try:
        yield connector
    finally:
        held.release.set()
        await connector.stop()


def in_dialog(
    request: bytes, to_tag: str, *, method: str, cseq: int, branch: str, sdp: str = ""
) -> bytes:
    """Turn the recorded INVITE into a later request of the same dialog."""
    head, _, _ = request.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    lines[0] = f"{method} sip:ivr@127.0.0.1 SIP/2.0"
    result = []
    for line in lines:
        if line.startswith("To:"):
            line = f"{line};tag={to_tag}"
        elif line.startswith("CSeq:"):
            line = f"CSeq: {cseq} {method}"
        elif line.startswith("Via: SIP/2.0/UDP 127.0.0.1:52536"):
            line = f"Via: SIP/2.0/UDP 127.0.0.1:52536;branch={branch}"
        elif line.startswith("Content-Length") or line.startswith("Content-Type"):
            continue
        result.append(line)
    if sdp:
        result.append("Content-Type: application/sdp")
    result.append(f"Content-Length: {len(sdp)}")
    return ("\r\n".join(result) + "\r\n\r\n" + sdp).encode()


def hold_offer(direction: str) -> str:
    body = INVITE.partition(b"\r\n\r\n")[2].decode()
    return body.replace("a=sendrecv", f"a={direction}")


async def answered_call(sip: SipConnector, proxy: ScriptedProxy, held: HeldFlow) -> str:
    proxy.send(INVITE, sip.local_port)
    await proxy.response(180)
    held.release.set()
    ok = await proxy.response(200)
    tag = str(ok.headers["To"]["tag"])
    proxy.send(in_dialog(INVITE, tag, method="ACK", cseq=1, branch="z9hG4bKack"), sip.local_port)
    return tag


async def test_cancel_before_answer_gets_487(
    sip: SipConnector, proxy: ScriptedProxy, held: HeldFlow
) -> None:
    proxy.send(INVITE, sip.local_port)
    await proxy.response(180)
    cancel = INVITE.replace(b"INVITE sip", b"CANCEL sip").replace(
        b"CSeq: 1 INVITE", b"CSeq: 1 CANCEL"
    )

    proxy.send(cancel, sip.local_port)

    assert (await proxy.response(200)).cseq == (1, "CANCEL")
    assert (await proxy.response(487)).cseq == (1, "INVITE")
    await asyncio.sleep(0)
    assert list(held.hung_up.values()) == ["cancel"]
    held.release.set()
    await asyncio.sleep(0.05)
    sent = [data.split(b"\r\n", 1)[0] for direction, data in sip.trace or [] if direction == "out"]
    assert b"SIP/2.0 200 OK" not in [line for line in sent if line != sent[-2]]
    assert sip.callers == {}


async def test_retransmitted_invite_gets_last_response(
    sip: SipConnector, proxy: ScriptedProxy, held: HeldFlow
) -> None:
    proxy.send(INVITE, sip.local_port)
    ringing = await proxy.response(180)

    proxy.send(INVITE, sip.local_port)

    again = await proxy.next()
    assert again.raw == ringing.raw
    assert len(held.started) == 1


async def test_hold_is_not_hangup(sip: SipConnector, proxy: ScriptedProxy, held: HeldFlow) -> None:
    tag = await answered_call(sip, proxy, held)

    proxy.send(
        in_dialog(
            INVITE, tag, method="INVITE", cseq=2, branch="z9hG4bKhold", sdp=hold_offer("sendonly")
        ),
        sip.local_port,
    )
    on_hold = await proxy.response(200)
    proxy.send(
        in_dialog(
            INVITE, tag, method="INVITE", cseq=3, branch="z9hG4bKresume", sdp=hold_offer("sendrecv")
        ),
        sip.local_port,
    )
    resumed = await proxy.response(200)

    assert parse_sdp(on_hold.sdp).direction == "recvonly"
    assert parse_sdp(resumed.sdp).direction == "sendrecv"
    assert held.hung_up == {}
    call = sip.callers[SIP_CALL_ID]
    assert call.state is LegState.ANSWERED
    assert call.rtp.sending


async def test_inactive_stops_sending(
    sip: SipConnector, proxy: ScriptedProxy, held: HeldFlow
) -> None:
    tag = await answered_call(sip, proxy, held)

    proxy.send(
        in_dialog(
            INVITE, tag, method="INVITE", cseq=2, branch="z9hG4bKidle", sdp=hold_offer("inactive")
        ),
        sip.local_port,
    )
    answer = await proxy.response(200)

    assert parse_sdp(answer.sdp).direction == "inactive"
    assert not sip.callers[SIP_CALL_ID].rtp.sending


async def test_answer_follows_engine_at_once(
    sip: SipConnector, proxy: ScriptedProxy, held: HeldFlow
) -> None:
    await answered_call(sip, proxy, held)
    await asyncio.sleep(0.05)

    assert held.prompt_requests
    assert held.prompt_requests[0][1], "the 200 OK must go out before the first prompt is fetched"


async def test_bye_reports_hangup(sip: SipConnector, proxy: ScriptedProxy, held: HeldFlow) -> None:
    tag = await answered_call(sip, proxy, held)

    proxy.send(in_dialog(INVITE, tag, method="BYE", cseq=2, branch="z9hG4bKbye"), sip.local_port)

    assert (await proxy.response(200)).cseq == (2, "BYE")
    await asyncio.sleep(0.05)
    assert list(held.hung_up.values()) == ["bye"]
    assert sip.callers == {}


async def test_key_interrupts_prompt(
    sip: SipConnector, proxy: ScriptedProxy, held: HeldFlow
) -> None:
    await answered_call(sip, proxy, held)
    call = sip.callers[SIP_CALL_ID]
    for _ in range(100):
        if call.rtp.playback is not None:
            break
        await asyncio.sleep(0.01)
    playback = call.rtp.playback
    assert playback is not None
    media = parse_sdp(INVITE.partition(b"\r\n\r\n")[2].decode())
    assert media.port == 59922
    keys = rtp_packets("dtmf_2833_1.rtp.hex") + rtp_packets("dtmf_2833_pound.rtp.hex")

    for packet in keys:
        call.rtp.datagram_received(packet, ("127.0.0.1", media.port))
    await asyncio.sleep(0.1)

    assert playback.done.done()
    assert playback.done.result() is False
    call_id = held.started[0].call_id
    assert held.events[call_id] == [DigitsCollected(digits="1", reason="terminator")]


def key_packet(event: int, timestamp: int, sequence: int) -> bytes:
    """An RFC 4733 end packet for key ``event`` (10 is ``*``) on payload type 101."""
    payload = bytes([event, 0x8A, 0x03, 0x20])
    return RtpPacket(101, sequence, timestamp, 0x1234, payload, marker=True).serialize()


async def test_exit_key_leaves_queue(
    sip: SipConnector, proxy: ScriptedProxy, held: HeldFlow
) -> None:
    held.queue = True
    held.status = QueueStatus(
        interaction_id="i-1",
        queue="support",
        position=3,
        estimated_wait=120.0,
        waited=0.0,
        announce_position=True,
        announce_wait=True,
        periodic_prompts=(),
        announce_every=30.0,
        exit_key="*",
    )
    await answered_call(sip, proxy, held)
    call = sip.callers[SIP_CALL_ID]
    source = ("127.0.0.1", 59922)
    call.rtp.datagram_received(key_packet(1, 1000, 1), source)
    call.rtp.datagram_received(key_packet(11, 2000, 2), source)
    call_id = held.started[0].call_id
    for _ in range(200):
        if (
            held.queue_results
            and call.rtp.playback is not None
            and not call.rtp.playback.done.done()
        ):
            break
        await asyncio.sleep(0.01)
    assert held.queue_results, "the caller did not reach the queue"

    call.rtp.datagram_received(key_packet(10, 3000, 3), source)

    bye = await proxy.next()
    assert bye.method == "BYE"
    assert held.events[call_id] == [
        DigitsCollected(digits="1", reason="terminator"),
        QueueResult(outcome="left"),
    ]


async def test_answer_resent_until_ack(
    sip: SipConnector, proxy: ScriptedProxy, held: HeldFlow
) -> None:
    proxy.send(INVITE, sip.local_port)
    await proxy.response(180)
    held.release.set()
    first = await proxy.response(200)

    again = await proxy.response(200, limit=2.0)
    tag = str(first.headers["To"]["tag"])
    proxy.send(in_dialog(INVITE, tag, method="ACK", cseq=1, branch="z9hG4bKack"), sip.local_port)

    assert again.raw == first.raw
    with pytest.raises(TimeoutError):
        await proxy.response(200, limit=1.5)
