"""RFC 4733 telephone events (DTMF over RTP), without I/O.

A key press is sent as several packets that share one RTP timestamp: the first (usually
with the marker bit), updates with a growing duration, and the end packet, often three
times. ``KeyPressDetector`` turns such a run into exactly one digit, whether or not the
marker bit arrived and however many updates and end packets follow.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from santral.telephony.sip.errors import SipParseError
from santral.telephony.sip.rtp import RtpPacket

EVENT_KEYS = "0123456789*#ABCD"
_PAYLOAD = struct.Struct("!BBH")


@dataclass(frozen=True)
class TelephoneEvent:
    """One RFC 4733 event payload: the key, whether it ended, and its duration in samples."""

    key: str
    end: bool
    volume: int
    duration: int


def parse_telephone_event(payload: bytes) -> TelephoneEvent:
    """Parse a 4-byte event payload; raise ``SipParseError`` if truncated or not a key."""
    if len(payload) < _PAYLOAD.size:
        raise SipParseError(f"telephone event payload of {len(payload)} bytes; expected 4")
    event, flags, duration = _PAYLOAD.unpack_from(payload)
    if event >= len(EVENT_KEYS):
        raise SipParseError(f"telephone event {event} is not a DTMF key (0-15)")
    return TelephoneEvent(EVENT_KEYS[event], bool(flags & 0x80), flags & 0x3F, duration)


class KeyPressDetector:
    """Report each key press once.

    A press is identified by its RTP source and timestamp. Packets of the current press are
    ignored, including repeated end packets. A packet without the end bit that follows the
    end of a press with the same identity starts a new press. That happens when a capture
    of one key is replayed twice in a row, because every packet repeats byte for byte.
    """

    def __init__(self, payload_type: int) -> None:
        self.payload_type = payload_type
        self._current: tuple[int, int] | None = None
        self._ended = False

    def feed(self, packet: RtpPacket) -> str | None:
        """Return the key of a press seen for the first time, or None for any other packet."""
        if packet.payload_type != self.payload_type:
            return None
        event = parse_telephone_event(packet.payload)
        identity = (packet.ssrc, packet.timestamp)
        if identity == self._current and not (self._ended and not event.end):
            self._ended = self._ended or event.end
            return None
        self._current = identity
        self._ended = event.end
        return event.key
