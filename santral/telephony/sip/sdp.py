"""SDP offers and answers for one audio stream (RFC 4566, RFC 3264), without I/O.

santral offers and accepts G.711 (PCMU, PCMA) with RFC 4733 telephone events on whatever
dynamic payload type the peer negotiates. The direction attribute carries hold: an offer
with ``a=sendonly`` or ``a=inactive`` (or the RFC 2543 ``c=0.0.0.0``) puts the call on hold.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from santral.telephony.sip.errors import SipParseError

STATIC_PAYLOAD_TYPES = {0: "PCMU", 8: "PCMA"}
TELEPHONE_EVENT = "telephone-event"
DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")
ANSWER_DIRECTION = {
    "sendrecv": "sendrecv",
    "sendonly": "recvonly",
    "recvonly": "sendonly",
    "inactive": "inactive",
}


@dataclass(frozen=True)
class MediaDescription:
    """The audio stream of a session description: where to send RTP and in which format."""

    address: str
    port: int
    payload_types: tuple[int, ...]
    rtpmap: dict[int, str] = field(default_factory=dict)
    direction: str = "sendrecv"
    ptime: int = 20

    @property
    def on_hold(self) -> bool:
        """True when the peer sends no audio or requests not to receive any."""
        return self.direction in ("sendonly", "inactive") or self.address == "0.0.0.0"

    def codec_name(self, payload_type: int) -> str:
        """Return the encoding name of ``payload_type`` (upper case), or "" if unknown."""
        name = self.rtpmap.get(payload_type) or STATIC_PAYLOAD_TYPES.get(payload_type, "")
        return name.upper() if name.lower() != TELEPHONE_EVENT else TELEPHONE_EVENT

    @property
    def telephone_event_type(self) -> int | None:
        """The payload type the peer negotiated for RFC 4733 events, if any."""
        for payload_type in self.payload_types:
            if self.codec_name(payload_type) == TELEPHONE_EVENT:
                return payload_type
        return None

    def choose_codec(self, supported: list[str]) -> tuple[int, str] | None:
        """Return the first payload type of the offer that santral supports, in offer order."""
        for payload_type in self.payload_types:
            name = self.codec_name(payload_type)
            if name in supported:
                return payload_type, name
        return None


def parse_sdp(text: str) -> MediaDescription:
    """Parse the first audio stream of an SDP body; raise ``SipParseError`` if there is none."""
    session_address = ""
    session_direction = "sendrecv"
    media: dict[str, object] | None = None
    for raw_line in text.replace("\r\n", "\n").split("\n"):
        line = raw_line.strip()
        if len(line) < 2 or line[1] != "=":
            continue
        kind, value = line[0], line[2:]
        if kind == "m":
            if media is not None:
                break
            media = _parse_media_line(value)
        elif kind == "c":
            address = _parse_connection(value)
            if media is None:
                session_address = address
            else:
                media["address"] = address
        elif kind == "a":
            target: dict[str, object] = media if media is not None else {}
            _apply_attribute(target, value)
            if media is None and value in DIRECTIONS:
                session_direction = value
    if media is None or media.get("skip"):
        raise SipParseError("the SDP body has no audio stream (m=audio line)")
    address = str(media.get("address") or session_address)
    if not address:
        raise SipParseError("the SDP body has no connection address (c= line)")
    return MediaDescription(
        address=address,
        port=int(str(media["port"])),
        payload_types=tuple(media["payload_types"]),  # type: ignore[call-overload, arg-type]
        rtpmap=dict(media.get("rtpmap", {})),  # type: ignore[call-overload]
        direction=str(media.get("direction", session_direction)),
        ptime=int(str(media.get("ptime", 20))),
    )


def _parse_media_line(value: str) -> dict[str, object]:
    parts = value.split()
    if len(parts) < 4:
        raise SipParseError(f"invalid SDP media line 'm={value}': expected media port proto fmt")
    if parts[0] != "audio":
        return {"skip": True, "port": 0, "payload_types": ()}
    try:
        port = int(parts[1].split("/")[0])
        payload_types = tuple(int(item) for item in parts[3:])
    except ValueError:
        raise SipParseError(
            f"invalid SDP media line 'm={value}': non-numeric port or format"
        ) from None
    return {"port": port, "payload_types": payload_types, "rtpmap": {}}


def _parse_connection(value: str) -> str:
    parts = value.split()
    if len(parts) != 3 or parts[0] != "IN":
        raise SipParseError(f"invalid SDP connection line 'c={value}': expected 'IN IP4 address'")
    return parts[2].split("/")[0]


def _apply_attribute(media: dict[str, object], value: str) -> None:
    if value in DIRECTIONS:
        media["direction"] = value
        return
    name, _, argument = value.partition(":")
    if name == "rtpmap":
        payload_type, _, encoding = argument.partition(" ")
        rtpmap = media.setdefault("rtpmap", {})
        if payload_type.isdigit() and isinstance(rtpmap, dict):
            rtpmap[int(payload_type)] = encoding.split("/")[0]
    elif name == "ptime" and argument.isdigit():
        media["ptime"] = int(argument)


def build_sdp(
    *,
    session_id: int,
    version: int,
    address: str,
    port: int,
    codec: tuple[int, str],
    telephone_event_type: int | None,
    direction: str = "sendrecv",
    extra_codecs: tuple[tuple[int, str], ...] = (),
) -> str:
    """Serialise an SDP body offering or answering one G.711 audio stream."""
    codecs = (codec, *extra_codecs)
    formats = [str(payload_type) for payload_type, _ in codecs]
    if telephone_event_type is not None:
        formats.append(str(telephone_event_type))
    lines = [
        "v=0",
        f"o=santral {session_id} {version} IN IP4 {address}",
        "s=santral",
        f"c=IN IP4 {address}",
        "t=0 0",
        f"m=audio {port} RTP/AVP {' '.join(formats)}",
    ]
    lines += [f"a=rtpmap:{payload_type} {name}/8000" for payload_type, name in codecs]
    if telephone_event_type is not None:
        lines.append(f"a=rtpmap:{telephone_event_type} {TELEPHONE_EVENT}/8000")
        lines.append(f"a=fmtp:{telephone_event_type} 0-16")
    lines += ["a=ptime:20", f"a={direction}"]
    return "\r\n".join(lines) + "\r\n"
