"""Webhook requests and replies as the connector handles them, without I/O."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from twilio.twiml.voice_response import VoiceResponse

TWIML = "text/xml"


@dataclass(frozen=True)
class Webhook:
    """One request from Twilio as the HTTP layer received it.

    ``body`` is the form body of a POST, or the raw query string of a GET.
    """

    kind: str
    method: str
    raw_target: str
    query: Mapping[str, str]
    body: bytes
    signature: str
    peer_address: str = ""
    forwarded_proto: str = ""
    forwarded_host: str = ""


@dataclass(frozen=True)
class Reply:
    """The HTTP response to a webhook."""

    status: int
    body: str | bytes = ""
    content_type: str = TWIML


def request_key(hook: Webhook) -> str:
    """Return a key that is equal for a retried request and differs for any other.

    Call it only after the signature was validated. The signature is an HMAC-SHA1 over the
    URL and every parameter Twilio sends, so it already is a digest of the whole request.
    """
    return f"{hook.kind}:{hook.signature}"


def hangup_xml() -> str:
    """Return the TwiML document that ends the call."""
    response = VoiceResponse()
    response.hangup()
    return str(response.to_xml())
