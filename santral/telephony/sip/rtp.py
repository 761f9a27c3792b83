"""RTP packets (RFC 3550) and G.711 audio (ITU-T G.711), without I/O.

Audio inside santral is 8 kHz 16-bit signed mono PCM in 20 ms frames of 160 samples.
The G.711 tables follow the ITU-T reference algorithm, so PCMA is A-law on the wire.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from santral.telephony.sip.errors import SipParseError

SAMPLE_RATE = 8000
FRAME_SAMPLES = 160
FRAME_SECONDS = FRAME_SAMPLES / SAMPLE_RATE
FRAME_BYTES = FRAME_SAMPLES * 2
HEADER = struct.Struct("!BBHII")


@dataclass(frozen=True)
class RtpPacket:
    """One RTP packet; ``payload`` excludes the header, CSRC list, extension and padding."""

    payload_type: int
    sequence: int
    timestamp: int
    ssrc: int
    payload: bytes
    marker: bool = False

    def serialize(self) -> bytes:
        """Return the packet as sent on the wire (version 2, no CSRC, no extension)."""
        second = (0x80 if self.marker else 0) | (self.payload_type & 0x7F)
        header = HEADER.pack(
            0x80,
            second,
            self.sequence & 0xFFFF,
            self.timestamp & 0xFFFFFFFF,
            self.ssrc & 0xFFFFFFFF,
        )
        return header + self.payload


def parse_rtp(data: bytes) -> RtpPacket:
    """Parse an RTP packet; raise ``SipParseError`` if it is truncated or not version 2."""
    if len(data) < HEADER.size:
        raise SipParseError(f"RTP packet of {len(data)} bytes is shorter than its 12-byte header")
    first, second, sequence, timestamp, ssrc = HEADER.unpack_from(data)
    if first >> 6 != 2:
        raise SipParseError(f"RTP version {first >> 6} is not supported; expected 2")
    offset = HEADER.size + 4 * (first & 0x0F)
    if first & 0x10:
        offset = _skip_extension(data, offset)
    end = len(data)
    if first & 0x20:
        end -= data[-1] if data else 0
    if offset > end:
        raise SipParseError(f"RTP packet of {len(data)} bytes is truncated (payload at {offset})")
    return RtpPacket(
        payload_type=second & 0x7F,
        sequence=sequence,
        timestamp=timestamp,
        ssrc=ssrc,
        payload=data[offset:end],
        marker=bool(second & 0x80),
    )


def _skip_extension(data: bytes, offset: int) -> int:
    if len(data) < offset + 4:
        raise SipParseError("RTP header extension is truncated")
    (words,) = struct.unpack_from("!H", data, offset + 2)
    return offset + 4 + 4 * int(words)


# G.711


def _ulaw_encode_table() -> npt.NDArray[np.uint8]:
    pcm = np.arange(-32768, 32768, dtype=np.int32) >> 2
    mask = np.where(pcm >= 0, 0xFF, 0x7F)
    magnitude = np.minimum(np.abs(pcm), 8159) + 0x21
    segment_ends = np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF])
    segment = np.searchsorted(segment_ends, magnitude, side="left")
    value = (np.minimum(segment, 7) << 4) | ((magnitude >> (segment + 1)) & 0x0F)
    value = np.where(segment >= 8, 0x7F, value)
    return _index_by_uint16((value ^ mask).astype(np.uint8))


def _ulaw_decode_table() -> npt.NDArray[np.int16]:
    code = ~np.arange(256, dtype=np.int32) & 0xFF
    exponent = (code >> 4) & 0x07
    magnitude = (((code & 0x0F) << 3) + 0x84 << exponent) - 0x84
    return np.where(code & 0x80, -magnitude, magnitude).astype(np.int16)


def _alaw_encode_table() -> npt.NDArray[np.uint8]:
    pcm = np.arange(-32768, 32768, dtype=np.int32) >> 3
    mask = np.where(pcm >= 0, 0xD5, 0x55)
    magnitude = np.where(pcm >= 0, pcm, -pcm - 1)
    segment_ends = np.array([0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF])
    segment = np.searchsorted(segment_ends, magnitude, side="left")
    shift = np.where(segment < 2, 1, segment)
    value = (np.minimum(segment, 7) << 4) | ((magnitude >> shift) & 0x0F)
    value = np.where(segment >= 8, 0x7F, value)
    return _index_by_uint16((value ^ mask).astype(np.uint8))


def _alaw_decode_table() -> npt.NDArray[np.int16]:
    code = np.arange(256, dtype=np.int32) ^ 0x55
    segment = (code & 0x70) >> 4
    value = ((code & 0x0F) << 4) + np.where(segment == 0, 8, 0x108)
    value = np.where(segment > 1, value << np.maximum(segment - 1, 0), value)
    return np.where(code & 0x80, value, -value).astype(np.int16)


def _index_by_uint16(table: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """Reorder a table built for samples -32768..32767 so a uint16 view of a sample indexes it."""
    return np.roll(table, -32768)


_ENCODE = {"PCMU": _ulaw_encode_table(), "PCMA": _alaw_encode_table()}
_DECODE = {"PCMU": _ulaw_decode_table(), "PCMA": _alaw_decode_table()}


def encode(codec: str, pcm: bytes) -> bytes:
    """Encode 16-bit signed native-endian PCM as G.711 ``codec`` (PCMU or PCMA)."""
    samples = np.frombuffer(pcm, dtype=np.int16).view(np.uint16)
    return bytes(_ENCODE[codec][samples].tobytes())


def decode(codec: str, payload: bytes) -> bytes:
    """Decode a G.711 ``codec`` payload to 16-bit signed native-endian PCM."""
    codes = np.frombuffer(payload, dtype=np.uint8)
    return bytes(_DECODE[codec][codes].tobytes())


SILENCE_FRAME = bytes(FRAME_BYTES)
