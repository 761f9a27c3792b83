"""Loading the recorded SIP messages and RTP packets kept under ``transcripts/``."""

from __future__ import annotations

from pathlib import Path

FOLDER = Path(__file__).resolve().parent / "transcripts"


def message(name: str) -> bytes:
    """Return a recorded SIP message with CRLF line ends, as it was on the wire."""
    return (FOLDER / name).read_bytes()


def rtp_packets(name: str) -> list[bytes]:
    """Return the RTP packets of a ``.rtp.hex`` transcript (one packet per line)."""
    lines = (FOLDER / name).read_text(encoding="ascii").split()
    return [bytes.fromhex(line) for line in lines]


def with_payload_type(packet: bytes, payload_type: int) -> bytes:
    """Return ``packet`` with its RTP payload type replaced (marker bit kept)."""
    return packet[:1] + bytes([(packet[1] & 0x80) | payload_type]) + packet[2:]
