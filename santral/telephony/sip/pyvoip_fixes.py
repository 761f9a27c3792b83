"""santral's layer over pyVoIP 1.6.8: its SIP message parser and builders, fixed.

pyVoIP's ``SIPMessage`` and ``SIPClient`` are the base classes. Each override fixes one
behaviour seen on the wire with pyVoIP 1.6.8, and a test in ``tests/sip`` pins each:

- A header with an empty value (``Supported:``) made the parser raise, so the whole INVITE
  was dropped. Header names are also matched case-insensitively and in compact form
  (RFC 3261 section 7.3), and every ``Via`` and ``Record-Route`` value is kept.
- The BYE copied the peer's ``Via`` headers, so its 200 OK went back to the peer. It now
  carries one ``Via`` of santral's own with a new branch (RFC 3261 section 8.1.1.7).
- The ACK for a 2xx carried a random To-tag, so the peer kept retransmitting its 200 OK.
  It now carries the To-tag of the response (RFC 3261 section 13.2.2.4).
- Responses to an INVITE carried the caller's ``Contact``, and a 200 OK to a BYE or a
  CANCEL carried a new random To-tag; they now carry santral's Contact and dialog tag.
- A CANCEL got no 487 for its INVITE; ``gen_response`` builds the 487, and ``gen_cancel``
  cancels an outbound INVITE, which pyVoIP could not do.
- ``myIP`` defaulted to 0.0.0.0, which ended up in Contact and in the SDP ``c=`` line.
- ``start()``, ``register()`` and ``invite()`` read the socket synchronously (up to 30 s).
  santral's asyncio transport sends what these builders return and never calls them.

``import pyVoIP.SIP`` alone fails with a circular import in 1.6.8, so this module imports
``pyVoIP.VoIP`` first.
"""

from __future__ import annotations

import ipaddress
import uuid
from dataclasses import dataclass, field
from typing import Any

import pyVoIP.VoIP  # noqa: F401  (must come before pyVoIP.SIP: circular import in 1.6.8)
from pyVoIP import SIP

from santral.errors import ConnectorError
from santral.telephony.sip.errors import SipParseError

USER_AGENT = "santral"
ALLOW = "INVITE, ACK, BYE, CANCEL, OPTIONS"

_CANONICAL_NAMES = {
    "call-id": "Call-ID",
    "i": "Call-ID",
    "cseq": "CSeq",
    "via": "Via",
    "v": "Via",
    "from": "From",
    "f": "From",
    "to": "To",
    "t": "To",
    "contact": "Contact",
    "m": "Contact",
    "content-length": "Content-Length",
    "l": "Content-Length",
    "content-type": "Content-Type",
    "c": "Content-Type",
    "record-route": "Record-Route",
    "route": "Route",
    "supported": "Supported",
    "k": "Supported",
    "allow": "Allow",
    "www-authenticate": "WWW-Authenticate",
    "authorization": "Authorization",
    "max-forwards": "Max-Forwards",
    "user-agent": "User-Agent",
    "expires": "Expires",
}
_REQUIRED = ("Call-ID", "CSeq", "From", "To", "Via")
_MULTI_VALUE = ("Via", "Record-Route", "Route")


def canonical_header_name(name: str) -> str:
    """Return the RFC 3261 spelling of a header name given in any case or compact form."""
    return _CANONICAL_NAMES.get(name.strip().lower(), name.strip())


class SantralSIPMessage(SIP.SIPMessage):  # type: ignore[misc]
    """pyVoIP's ``SIPMessage`` that accepts every valid message and rejects truncated ones.

    Besides pyVoIP's ``headers`` dict it keeps ``header_lines`` (name, value) in wire order,
    ``sdp`` (the body as text), ``request_uri`` for requests and ``reason`` for responses.
    Raises ``SipParseError`` for a message that is truncated or lacks a required header.
    """

    def parse(self, data: bytes) -> None:
        head, body = _split_message(data)
        lines = head.decode("utf-8", errors="replace").split("\r\n")
        self.heading = lines[0].encode()
        self._parse_start_line(lines[0])
        self.header_lines = _header_lines(lines[1:])
        self._check_length(body)
        self.sdp = body.decode("utf-8", errors="replace")
        self._apply_headers()

    def _parse_start_line(self, line: str) -> None:
        parts = line.split(" ", 2)
        if len(parts) < 3:
            raise SipParseError(f"invalid SIP start line {line!r}")
        if parts[0] == "SIP/2.0":
            self.type = SIP.SIPMessageType.RESPONSE
            self.version = parts[0]
            self.reason = parts[2]
            self.status = _status(parts[1], line)
        elif parts[2] == "SIP/2.0":
            self.type = SIP.SIPMessageType.MESSAGE
            self.version = parts[2]
            self.method = parts[0]
            self.request_uri = parts[1]
        else:
            raise SipParseError(f"unsupported SIP version in {line!r}; expected SIP/2.0")

    def _check_length(self, body: bytes) -> None:
        declared = self.header("Content-Length")
        if declared and declared.isdigit() and int(declared) > len(body):
            raise SipParseError(
                f"SIP message is truncated: Content-Length {declared}, body of {len(body)} bytes"
            )

    def _apply_headers(self) -> None:
        present = {name for name, _ in self.header_lines}
        missing = [name for name in _REQUIRED if name not in present]
        if missing:
            raise SipParseError(f"SIP message lacks required headers {missing}")
        self.headers = {"Via": []}
        vias = [value for name, value in self.header_lines if name == "Via"]
        try:
            self.parse_header("Via", vias)  # type: ignore[arg-type]
            for name, value in self.header_lines:
                if name not in self.headers:
                    self._parse_one(name, value)
        except (IndexError, ValueError, KeyError) as error:
            raise SipParseError(f"invalid SIP header value: {error}") from None

    def _parse_one(self, name: str, value: str) -> None:
        if value == "" and name in ("Allow", "Supported"):
            self.headers[name] = []
        elif value == "" and name == "Content-Length":
            self.headers[name] = 0
        else:
            self.parse_header(name, value)

    def header(self, name: str) -> str:
        """Return the first value of header ``name`` (any spelling), or "" if absent."""
        wanted = canonical_header_name(name)
        return next((value for key, value in self.header_lines if key == wanted), "")

    def header_values(self, name: str) -> list[str]:
        """Return every value of header ``name`` in wire order."""
        wanted = canonical_header_name(name)
        return [value for key, value in self.header_lines if key == wanted]

    @property
    def call_id(self) -> str:
        return str(self.headers["Call-ID"])

    @property
    def cseq(self) -> tuple[int, str]:
        """The CSeq number and method."""
        return int(self.headers["CSeq"]["check"]), str(self.headers["CSeq"]["method"])

    @property
    def branch(self) -> str:
        """The branch of the top Via, which names the transaction."""
        return str(self.headers["Via"][0].get("branch", ""))

    @property
    def status_code(self) -> int:
        return int(self.status) if self.type == SIP.SIPMessageType.RESPONSE else 0


def _split_message(data: bytes) -> tuple[bytes, bytes]:
    head, separator, body = data.partition(b"\r\n\r\n")
    if not separator:
        raise SipParseError("SIP message is truncated: no empty line after the headers")
    return head, body


def _header_lines(lines: list[str]) -> list[tuple[str, str]]:
    result: list[tuple[str, str]] = []
    for line in lines:
        if line[:1] in (" ", "\t") and result:
            name, value = result[-1]
            result[-1] = (name, f"{value} {line.strip()}")
            continue
        name, separator, value = line.partition(":")
        if not separator:
            raise SipParseError(f"invalid SIP header line {line!r}: no colon")
        canonical = canonical_header_name(name)
        values = _split_values(value.strip()) if canonical in _MULTI_VALUE else [value.strip()]
        result += [(canonical, item) for item in values]
    return result


def _split_values(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def _status(code: str, line: str) -> Any:
    try:
        return SIP.SIPStatus(int(code))
    except ValueError:
        raise SipParseError(f"unknown SIP status in {line!r}") from None


def parse_message(data: bytes) -> SantralSIPMessage:
    """Parse one datagram; raise ``SipParseError`` if it is not a valid SIP message."""
    try:
        return SantralSIPMessage(data)
    except SipParseError:
        raise
    except (SIP.SIPParseError, ValueError, IndexError, UnicodeError) as error:
        raise SipParseError(f"invalid SIP message: {error}") from None


@dataclass
class Dialog:
    """State of one SIP dialog (RFC 3261 section 12) kept for the requests santral sends."""

    call_id: str
    local_uri: str
    local_tag: str
    remote_uri: str
    remote_tag: str = ""
    remote_target: str = ""
    route_set: list[str] = field(default_factory=list)
    local_cseq: int = 1
    invite_branch: str = ""
    invite_request_uri: str = ""


class SantralSIPClient(SIP.SIPClient):  # type: ignore[misc]
    """pyVoIP's ``SIPClient`` used as a message builder for one extension, with fixes.

    ``dialogs`` contains the dialog state of every call of that extension. It never opens
    a socket: ``start``, ``register`` and ``invite`` raise, because pyVoIP's versions read
    the socket synchronously.
    """

    def __init__(
        self,
        server: str,
        port: int,
        username: str,
        password: str,
        *,
        address: str,
        sip_port: int,
    ) -> None:
        if ipaddress.ip_address(address).is_unspecified:
            raise ConnectorError(
                f"local address {address} cannot be used in Contact or SDP; set sip.local_address"
            )
        no_phone: Any = None  # pyVoIP reads the phone only in register(), which is replaced
        super().__init__(
            server, port, username, password, phone=no_phone, myIP=address, myPort=sip_port
        )
        self.dialogs: dict[str, Dialog] = {}

    # pyVoIP's blocking socket API is replaced by the asyncio transport.

    def start(self) -> None:
        raise ConnectorError("SantralSIPClient builds messages only; use the SIP connector")

    def register(self) -> bool:
        raise ConnectorError("SantralSIPClient builds messages only; use the SIP connector")

    def invite(self, *args: object, **kwargs: object) -> Any:
        raise ConnectorError("SantralSIPClient builds messages only; use gen_invite")

    # Dialog state

    def contact(self) -> str:
        return f"<sip:{self.username}@{self.myIP}:{self.myPort}>"

    def own_via(self, branch: str | None = None) -> str:
        branch = branch or self.gen_branch()
        return f"Via: SIP/2.0/UDP {self.myIP}:{self.myPort};branch={branch};rport\r\n"

    def accept_dialog(self, invite: SantralSIPMessage) -> Dialog:
        """Create (or return) the dialog of an inbound INVITE, with santral's To-tag."""
        existing = self.dialogs.get(invite.call_id)
        if existing is not None:
            return existing
        tag = self.gen_tag()
        self.tagLibrary[invite.call_id] = tag
        dialog = Dialog(
            call_id=invite.call_id,
            local_uri=str(invite.headers["To"]["raw"]).strip(),
            local_tag=tag,
            remote_uri=str(invite.headers["From"]["raw"]).strip(),
            remote_tag=str(invite.headers["From"]["tag"]),
            remote_target=_uri_of(invite.header("Contact")),
            route_set=invite.header_values("Record-Route"),
        )
        self.dialogs[invite.call_id] = dialog
        return dialog

    # Responses

    def gen_response(
        self,
        request: SantralSIPMessage,
        code: int,
        reason: str,
        *,
        body: str = "",
        contact: bool = False,
    ) -> str:
        """Build a response that copies Via, From, Call-ID and CSeq and carries the dialog tag."""
        lines = [f"SIP/2.0 {code} {reason}\r\n"]
        lines += [f"Via: {value}\r\n" for value in request.header_values("Via")]
        if request.cseq[1] == "INVITE" and code < 300 and code > 100:
            lines += [
                f"Record-Route: {value}\r\n" for value in request.header_values("Record-Route")
            ]
        lines.append(f"From: {request.header('From')}\r\n")
        lines.append(f"To: {self._response_to(request, code)}\r\n")
        lines.append(f"Call-ID: {request.call_id}\r\n")
        lines.append(f"CSeq: {request.header('CSeq')}\r\n")
        if contact:
            lines.append(f"Contact: {self.contact()}\r\n")
        lines.append(f"User-Agent: {USER_AGENT}\r\nAllow: {ALLOW}\r\n")
        if body:
            lines.append("Content-Type: application/sdp\r\n")
        lines.append(f"Content-Length: {len(body.encode())}\r\n\r\n{body}")
        return "".join(lines)

    def _response_to(self, request: SantralSIPMessage, code: int) -> str:
        to = request.header("To")
        if request.headers["To"]["tag"] or code == 100:
            return to
        dialog = self.dialogs.get(request.call_id)
        tag = dialog.local_tag if dialog is not None else self.tagLibrary.get(request.call_id)
        return f"{to};tag={tag or self.gen_tag()}"

    def gen_ringing(self, request: SantralSIPMessage) -> str:  # type: ignore[override]
        self.accept_dialog(request)
        return self.gen_response(request, 180, "Ringing", contact=True)

    def gen_answer(  # type: ignore[override]
        self, request: SantralSIPMessage, sdp: str
    ) -> str:
        self.accept_dialog(request)
        return self.gen_response(request, 200, "OK", body=sdp, contact=True)

    def gen_ok(self, request: SantralSIPMessage) -> str:  # type: ignore[override]
        return self.gen_response(request, 200, "OK")

    def gen_busy(self, request: SantralSIPMessage) -> str:  # type: ignore[override]
        return self.gen_response(request, 486, "Busy Here")

    # Requests

    def gen_bye(self, request: SantralSIPMessage) -> str:  # type: ignore[override]
        """Build a BYE for the dialog of ``request``'s Call-ID with santral's own Via."""
        return self.bye_for(request.call_id)

    def gen_in_dialog(self, method: str, dialog: Dialog, *, body: str = "") -> str:
        """Build a request inside ``dialog`` (BYE, re-INVITE), advancing its local CSeq."""
        dialog.local_cseq += 1
        lines = [f"{method} {dialog.remote_target} SIP/2.0\r\n", self.own_via()]
        lines += [f"Route: {route}\r\n" for route in dialog.route_set]
        lines += self._dialog_headers(dialog, dialog.local_cseq, method)
        if body:
            lines.append("Content-Type: application/sdp\r\n")
        lines.append(f"Content-Length: {len(body.encode())}\r\n\r\n{body}")
        return "".join(lines)

    def _dialog_headers(self, dialog: Dialog, cseq: int, method: str) -> list[str]:
        remote = (
            f"{dialog.remote_uri};tag={dialog.remote_tag}"
            if dialog.remote_tag
            else dialog.remote_uri
        )
        return [
            "Max-Forwards: 70\r\n",
            f"From: {dialog.local_uri};tag={dialog.local_tag}\r\n",
            f"To: {remote}\r\n",
            f"Call-ID: {dialog.call_id}\r\n",
            f"CSeq: {cseq} {method}\r\n",
            f"Contact: {self.contact()}\r\n",
            f"User-Agent: {USER_AGENT}\r\n",
        ]

    def gen_invite(  # type: ignore[override]
        self,
        number: str,
        sess_id: str,
        ms: Any,
        sendtype: Any,
        branch: str,
        call_id: str,
        *,
        sdp: str | None = None,
    ) -> str:
        """Build an INVITE to ``number`` (a user at the server, or a full SIP URI).

        A user's URI names the server's port unless it is 5060, because a proxy on another
        port (Kamailio's ``uri==myself``) would not take the request as its own.
        """
        server = self.server if self.port == 5060 else f"{self.server}:{self.port}"
        uri = number if number.startswith("sip:") else f"sip:{number}@{server}"
        body = sdp if sdp is not None else self._sdp_from_media(sess_id, ms, sendtype)
        dialog = Dialog(
            call_id=call_id,
            local_uri=f"<sip:{self.username}@{self.myIP}>",
            local_tag=self.gen_tag(),
            remote_uri=f"<{uri}>",
            remote_target=uri,
            invite_branch=branch,
            invite_request_uri=uri,
        )
        self.tagLibrary[call_id] = dialog.local_tag
        self.dialogs[call_id] = dialog
        lines = [f"INVITE {uri} SIP/2.0\r\n", self.own_via(branch)]
        lines += self._dialog_headers(dialog, dialog.local_cseq, "INVITE")
        lines.append(f"Allow: {ALLOW}\r\nContent-Type: application/sdp\r\n")
        lines.append(f"Content-Length: {len(body.encode())}\r\n\r\n{body}")
        return "".join(lines)

    def _sdp_from_media(self, sess_id: str, ms: Any, sendtype: Any) -> str:
        from santral.telephony.sip.sdp import build_sdp

        port, formats = next(iter(ms.items()))
        codec = next(
            (pt, str(kind)) for pt, kind in formats.items() if str(kind) != "telephone-event"
        )
        event = next((pt for pt, kind in formats.items() if str(kind) == "telephone-event"), None)
        return build_sdp(
            session_id=int(sess_id),
            version=1,
            address=self.myIP,
            port=port,
            codec=codec,
            telephone_event_type=event,
            direction=str(sendtype),
        )

    def gen_ack(self, request: SantralSIPMessage) -> str:  # type: ignore[override]
        """Build the ACK for a final response to santral's INVITE.

        For a 2xx the ACK is a new transaction inside the dialog, with the response's To-tag.
        For a 3xx-6xx it belongs to the INVITE transaction and reuses its branch.
        """
        dialog = self.dialogs[request.call_id]
        dialog.remote_tag = str(request.headers["To"]["tag"])
        cseq = request.cseq[0]
        if 200 <= request.status_code < 300:
            self.confirm_dialog(dialog, request)
            lines = [f"ACK {dialog.remote_target} SIP/2.0\r\n", self.own_via()]
            lines += [f"Route: {route}\r\n" for route in dialog.route_set]
        else:
            lines = [
                f"ACK {dialog.invite_request_uri} SIP/2.0\r\n",
                self.own_via(dialog.invite_branch),
            ]
        lines += self._dialog_headers(dialog, cseq, "ACK")
        lines.append("Content-Length: 0\r\n\r\n")
        return "".join(lines)

    def confirm_dialog(self, dialog: Dialog, response: SantralSIPMessage) -> None:
        """Take the remote target and route set from a 2xx to santral's INVITE."""
        dialog.remote_tag = str(response.headers["To"]["tag"])
        contact = _uri_of(response.header("Contact"))
        if contact:
            dialog.remote_target = contact
        dialog.route_set = list(reversed(response.header_values("Record-Route")))

    def gen_cancel(self, call_id: str) -> str:
        """Build a CANCEL for santral's pending INVITE of ``call_id`` (same branch and CSeq)."""
        dialog = self.dialogs[call_id]
        remote_tagless = Dialog(**{**dialog.__dict__, "remote_tag": ""})
        lines = [
            f"CANCEL {dialog.invite_request_uri} SIP/2.0\r\n",
            self.own_via(dialog.invite_branch),
        ]
        lines += self._dialog_headers(remote_tagless, 1, "CANCEL")
        lines.append("Content-Length: 0\r\n\r\n")
        return "".join(lines)

    def gen_branch(self, length: int = 32) -> str:
        return f"z9hG4bK{uuid.uuid4().hex[: length - 7]}"

    def gen_tag(self) -> str:
        """Return a random tag; pyVoIP's kept every tag ever made in a list, a slow leak."""
        return uuid.uuid4().hex[:16]

    def gen_call_id(self) -> str:
        """Return a random Call-ID; pyVoIP's repeated across clients with the same address."""
        return f"{uuid.uuid4().hex}@{self.myIP}"

    def bye_for(self, call_id: str) -> str:
        """Build a BYE for the dialog of ``call_id``."""
        return self.gen_in_dialog("BYE", self.dialogs[call_id])

    def forget(self, call_id: str) -> None:
        """Drop the dialog state of a call that ended."""
        self.dialogs.pop(call_id, None)
        self.tagLibrary.pop(call_id, None)


def _uri_of(name_addr: str) -> str:
    """Return the URI inside ``<...>`` of a Contact or Route value, or the value itself."""
    value = name_addr.strip()
    if "<" in value and ">" in value:
        return value[value.index("<") + 1 : value.index(">")]
    return value.split(";")[0].strip()
