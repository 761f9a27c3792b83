"""The sans-I/O wire layer on recorded transcripts: SIP, SDP, RTP, RFC 4733 keys, G.711."""

from __future__ import annotations

import contextlib
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ivr.actions import Prompt
from santral.telephony.sip import rtp
from santral.telephony.sip.errors import SipParseError
from santral.telephony.sip.prompts import PromptLibrary, check_media_settings, check_prompt_sources
from santral.telephony.sip.pyvoip_fixes import parse_message
from santral.telephony.sip.sdp import build_sdp, parse_sdp
from santral.telephony.sip.telephone_events import KeyPressDetector, parse_telephone_event
from tests.conftest import require_program
from tests.sip.transcripts import message, rtp_packets, with_payload_type


def test_invite_via_proxy_parses() -> None:
    invite = parse_message(message("invite_via_kamailio.sip"))

    assert invite.method == "INVITE"
    assert invite.call_id == "1-19834@127.0.0.1"
    assert invite.cseq == (1, "INVITE")
    assert len(invite.header_values("Via")) == 2
    assert invite.branch.startswith("z9hG4bKccfd")
    assert invite.header_values("Record-Route") == ["<sip:127.0.0.1:52536;lr;ftag=19834SIPpTag1>"]
    assert invite.headers["From"]["tag"] == "19834SIPpTag1"
    assert parse_sdp(invite.sdp).port == 59922


def test_response_parses() -> None:
    answer = parse_message(message("answer_from_baresip.sip"))

    assert answer.status_code == 200
    assert answer.reason == "Answering"
    assert answer.headers["To"]["tag"] == "c30fe9c4c181562c"


@pytest.mark.parametrize("cut", [10, 200, 500, -20])
def test_truncated_message_rejected(cut: int) -> None:
    with pytest.raises(SipParseError):
        parse_message(message("invite_via_kamailio.sip")[:cut])


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (b"CSeq: 1 INVITE\r\n", b""),
        (b"SIP/2.0\r\n", b"SIP/3.0\r\n"),
        (b"Max-Forwards: 69\r\n", b"Max-Forwards 69\r\n"),
        (b"From: caller <sip:caller@127.0.0.1:39364>", b"From: caller"),
    ],
)
def test_invalid_message_rejected(old: bytes, new: bytes) -> None:
    data = message("invite_via_kamailio.sip").replace(old, new, 1)

    with pytest.raises(SipParseError):
        parse_message(data)


def test_compact_and_lowercase_headers() -> None:
    data = message("bye_via_kamailio.sip").replace(b"Call-ID:", b"i:").replace(b"CSeq:", b"cseq:")

    bye = parse_message(data)

    assert bye.call_id == "1-19834@127.0.0.1"
    assert bye.cseq[1] == "BYE"


@given(st.binary(max_size=300))
@settings(max_examples=200, deadline=None)
def test_garbage_raises_only_parse_error(data: bytes) -> None:
    with contextlib.suppress(SipParseError):
        parse_message(data)


# SDP


def test_sdp_answer_mirrors_hold_direction() -> None:
    offer = parse_sdp(
        build_sdp(
            session_id=1,
            version=1,
            address="127.0.0.1",
            port=4000,
            codec=(8, "PCMA"),
            telephone_event_type=96,
            direction="sendonly",
        )
    )

    assert offer.on_hold
    assert offer.telephone_event_type == 96
    assert offer.choose_codec(["PCMU", "PCMA"]) == (8, "PCMA")


def test_sdp_without_audio_rejected() -> None:
    with pytest.raises(SipParseError):
        parse_sdp("v=0\r\nc=IN IP4 127.0.0.1\r\nm=video 4000 RTP/AVP 31\r\n")


def test_sdp_old_style_hold_address() -> None:
    offer = parse_sdp("v=0\r\nc=IN IP4 0.0.0.0\r\nm=audio 4000 RTP/AVP 0\r\n")

    assert offer.on_hold


# RTP and RFC 4733


def test_rtp_round_trip() -> None:
    for data in rtp_packets("dtmf_2833_1.rtp.hex"):
        packet = rtp.parse_rtp(data)
        assert packet.serialize() == data


@pytest.mark.parametrize("data", [b"", b"\x80\x00", b"\x40" + bytes(15), b"\x8f" + bytes(15)])
def test_invalid_rtp_rejected(data: bytes) -> None:
    with pytest.raises(SipParseError):
        rtp.parse_rtp(data)


@pytest.mark.parametrize("payload_type", [101, 96, 100])
def test_one_key_per_press(payload_type: int) -> None:
    detector = KeyPressDetector(payload_type)
    packets = rtp_packets("dtmf_2833_1.rtp.hex") + rtp_packets("dtmf_2833_pound.rtp.hex")

    keys = [detector.feed(rtp.parse_rtp(with_payload_type(data, payload_type))) for data in packets]

    assert [key for key in keys if key] == ["1", "#"]


def test_key_without_marker_counted_once() -> None:
    detector = KeyPressDetector(101)
    packets = [rtp.parse_rtp(data) for data in rtp_packets("dtmf_2833_1.rtp.hex")[1:]]

    keys = [detector.feed(packet) for packet in packets]

    assert [key for key in keys if key] == ["1"]


def test_replayed_capture_counts_twice() -> None:
    detector = KeyPressDetector(101)
    packets = rtp_packets("dtmf_2833_1.rtp.hex") * 2

    keys = [detector.feed(rtp.parse_rtp(data)) for data in packets]

    assert [key for key in keys if key] == ["1", "1"]


def test_other_payload_type_ignored() -> None:
    detector = KeyPressDetector(96)

    keys = [detector.feed(rtp.parse_rtp(data)) for data in rtp_packets("dtmf_2833_1.rtp.hex")]

    assert keys == [None] * len(keys)


def test_truncated_event_rejected() -> None:
    with pytest.raises(SipParseError):
        parse_telephone_event(b"\x01\x0a")


# G.711


@pytest.mark.parametrize("codec", ["PCMU", "PCMA"])
def test_g711_matches_reference(codec: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import audioop
    pcm = np.arange(-32768, 32768, dtype=np.int16).tobytes()
    encode = audioop.lin2ulaw if codec == "PCMU" else audioop.lin2alaw
    decode = audioop.ulaw2lin if codec == "PCMU" else audioop.alaw2lin

    assert rtp.encode(codec, pcm) == encode(pcm, 2)
    assert rtp.decode(codec, bytes(range(256))) == decode(bytes(range(256)), 2)


def test_check_reports_missing_music(tmp_path: Path) -> None:
    problems = check_media_settings(tmp_path / "missing.wav")

    assert any("missing.wav is not a file" in problem for problem in problems)


def test_check_without_espeak(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("shutil.which", lambda name: None)

    assert check_prompt_sources(["welcome"]) == [
        "prompt file 'welcome' is missing and espeak-ng is not installed for the TTS fallback; "
        "add the recording or install espeak-ng"
    ]
    assert any("espeak-ng is not installed" in problem for problem in check_media_settings(None))


async def test_tts_fallback_renders_frames(tmp_path: Path) -> None:
    require_program("espeak-ng")
    require_program("sox")
    library = PromptLibrary(lambda language, name: None, tmp_path)

    frames = await library.prompt_frames(Prompt(type="file", value="missing", text="Hello"))

    assert len(frames) > 10
    assert all(len(frame) == rtp.FRAME_BYTES for frame in frames)
