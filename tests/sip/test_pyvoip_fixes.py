"""Each pyVoIP 1.6.8 defect santral works around, pinned against the stock class.

A test runs on santral's class and, marked as a strict expected failure, on pyVoIP's own
class: if a pyVoIP release fixes a defect, the strict mark fails and the workaround can go.
"""

from __future__ import annotations

import math
import subprocess
import sys
from typing import Any

import numpy as np
import pytest
import pyVoIP.VoIP
from pyVoIP import RTP, SIP

from santral.errors import ConnectorError
from santral.telephony.sip import rtp
from santral.telephony.sip.pyvoip_fixes import SantralSIPClient, SantralSIPMessage, parse_message
from santral.telephony.sip.settings import SipSettings
from tests.sip.transcripts import message

STOCK = pytest.mark.xfail(strict=True, reason="defect of pyVoIP 1.6.8")


def santral_client() -> Any:
    return SantralSIPClient("127.0.0.1", 5060, "ivr", "", address="127.0.0.1", sip_port=5080)


def stock_client() -> Any:
    return SIP.SIPClient("127.0.0.1", 5060, "ivr", "", phone=None, myIP="127.0.0.1", myPort=5080)


@pytest.mark.parametrize("parser", [SantralSIPMessage, pytest.param(SIP.SIPMessage, marks=STOCK)])
def test_empty_header_value_accepted(parser: Any) -> None:
    data = message("invite_via_kamailio.sip").replace(
        b"Max-Forwards", b"Supported:\r\nMax-Forwards"
    )

    invite = parser(data)

    assert invite.headers["Call-ID"] == "1-19834@127.0.0.1"
    assert invite.headers["Supported"] == []


@pytest.mark.parametrize("make_client", [santral_client, pytest.param(stock_client, marks=STOCK)])
def test_bye_carries_own_via(make_client: Any) -> None:
    client = make_client()
    invite = parse_message(message("invite_via_kamailio.sip"))
    client.gen_ringing(invite)

    bye = parse_message(client.gen_bye(invite).encode())

    vias = bye.header_values("Via")
    assert len(vias) == 1
    assert vias[0].startswith("SIP/2.0/UDP 127.0.0.1:5080;")
    assert bye.branch != invite.branch


@pytest.mark.parametrize("make_client", [santral_client, pytest.param(stock_client, marks=STOCK)])
def test_ack_carries_response_to_tag(make_client: Any) -> None:
    client = make_client()
    media = {4000: {0: RTP.PayloadType.PCMU, 101: RTP.PayloadType.EVENT}}
    client.gen_invite("alice", "1", media, RTP.TransmitType.SENDRECV, "z9hG4bKtest", "call-1@test")
    answer = message("answer_from_baresip.sip").replace(
        b"65f4b7c796584855a622fdd2cfe4dbbf@127.0.0.1", b"call-1@test"
    )

    ack = parse_message(client.gen_ack(parse_message(answer)).encode())

    assert ack.headers["To"]["tag"] == "c30fe9c4c181562c"


@pytest.mark.parametrize("make_client", [santral_client, pytest.param(stock_client, marks=STOCK)])
def test_ringing_carries_own_contact(make_client: Any) -> None:
    client = make_client()
    invite = parse_message(message("invite_via_kamailio.sip"))

    ringing = parse_message(client.gen_ringing(invite).encode())

    assert ringing.header("Contact") == "<sip:ivr@127.0.0.1:5080>"


def _invite_line(client: SantralSIPClient, target: str) -> bytes:
    media = {4000: {0: RTP.PayloadType.PCMU}}
    invite = client.gen_invite(target, "1", media, None, "z9hG4bKport", "port@test")
    return parse_message(invite.encode()).heading


def test_invite_to_user_names_server_port() -> None:
    other = SantralSIPClient("127.0.0.1", 5070, "ivr", "", address="127.0.0.1", sip_port=5080)

    assert _invite_line(santral_client(), "7001") == b"INVITE sip:7001@127.0.0.1 SIP/2.0"
    assert _invite_line(other, "7001") == b"INVITE sip:7001@127.0.0.1:5070 SIP/2.0"
    assert _invite_line(other, "sip:bob@example:1") == b"INVITE sip:bob@example:1 SIP/2.0"


def test_cancel_reuses_invite_branch() -> None:
    client = santral_client()
    client.gen_invite(
        "alice",
        "1",
        {4000: {0: RTP.PayloadType.PCMU}},
        RTP.TransmitType.SENDRECV,
        "z9hG4bKring",
        "call-2@test",
    )

    cancel = parse_message(client.gen_cancel("call-2@test").encode())

    assert cancel.method == "CANCEL"
    assert cancel.branch == "z9hG4bKring"
    assert cancel.cseq == (1, "CANCEL")
    assert cancel.headers["To"]["tag"] == ""


class _SentDatagrams:
    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def sendto(self, data: bytes, address: object) -> None:
        self.sent.append(data)


def test_stock_cancel_sends_no_487() -> None:
    """pyVoIP answers a CANCEL with 200 only; santral also sends the 487 (see scripted tests)."""
    client = stock_client()
    client.out = _SentDatagrams()
    client.callCallback = lambda request: None
    cancel = message("invite_via_kamailio.sip").replace(b"INVITE", b"CANCEL")

    client.parse_message(SIP.SIPMessage(cancel))

    assert [data.split(b"\r\n", 1)[0] for data in client.out.sent] == [b"SIP/2.0 200 OK"]


def test_stock_answer_waits_one_second() -> None:
    """pyVoIP hands an inbound call to the application on a 1 s timer; santral does not."""
    phone = pyVoIP.VoIP.VoIPPhone(
        "127.0.0.1", 5060, "ivr", "", myIP="127.0.0.1", callCallback=lambda call: None
    )
    phone.sip.out = _SentDatagrams()
    invite = SIP.SIPMessage(message("invite_via_kamailio.sip"))
    try:
        phone._callback_MSG_Invite(invite)
        assert phone.threads[0].interval == 1
    finally:
        for thread in phone.threads:
            thread.cancel()
        for call in phone.calls.values():
            for client in call.RTPClients:
                client.NSD = False


def _alaw_error(encoded: bytes, pcm: np.ndarray[Any, Any]) -> float:
    decoded = np.frombuffer(rtp.decode("PCMA", encoded), dtype=np.int16).astype(np.float64)
    return float(np.abs(decoded - pcm).mean())


def _santral_pcma(pcm: np.ndarray[Any, Any]) -> bytes:
    return rtp.encode("PCMA", pcm.astype(np.int16).tobytes())


def _stock_pcma(pcm: np.ndarray[Any, Any]) -> bytes:
    client = RTP.RTPClient(
        {8: RTP.PayloadType.PCMA}, "127.0.0.1", 4000, "127.0.0.1", 4002, RTP.TransmitType.SENDRECV
    )
    unsigned = ((pcm.astype(np.int32) >> 8) + 128).astype(np.uint8).tobytes()
    return bytes(client.encode_packet(unsigned))


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("encoder", [_santral_pcma, pytest.param(_stock_pcma, marks=STOCK)])
def test_pcma_is_alaw_on_wire(encoder: Any) -> None:
    pcm = np.array([8000 * math.sin(2 * math.pi * 440 * n / 8000) for n in range(160)])

    error = _alaw_error(encoder(pcm), pcm)

    assert error < 300


@pytest.mark.parametrize("make_client", [santral_client, pytest.param(stock_client, marks=STOCK)])
def test_contact_never_unspecified(make_client: Any) -> None:
    client = make_client()
    client.myIP = "0.0.0.0" if make_client is stock_client else client.myIP
    media = {4000: {0: RTP.PayloadType.PCMU}}

    invite = client.gen_invite("alice", "1", media, RTP.TransmitType.SENDRECV, "z9hG4bKx", "c@t")

    assert "0.0.0.0" not in invite


def test_unspecified_address_rejected() -> None:
    with pytest.raises(ConnectorError):
        SantralSIPClient("127.0.0.1", 5060, "ivr", "", address="0.0.0.0", sip_port=5080)
    with pytest.raises(ValueError, match="not an address peers can reach"):
        SipSettings(local_address="0.0.0.0")


def test_blocking_socket_api_refused() -> None:
    client = santral_client()

    with pytest.raises(ConnectorError):
        client.start()
    with pytest.raises(ConnectorError):
        client.register()


@pytest.mark.parametrize(
    ("statement", "works"),
    [("import santral.telephony.sip.pyvoip_fixes", True), ("from pyVoIP import SIP", False)],
)
def test_import_order(statement: str, works: bool) -> None:
    result = subprocess.run(
        [sys.executable, "-c", statement], capture_output=True, timeout=60, check=False
    )

    assert (result.returncode == 0) is works
