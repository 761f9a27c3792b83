"""Webhook requests and replies as the connector handles them, without I/O."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

from twilio.twiml.voice_response import VoiceResponse

from santral.telephony.twilio.form import Form

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


def request_key(hook: Webhook, form: Form) -> str:
    """Return a digest of everything Twilio sends, so a retried request is recognised."""
    digest = hashlib.sha256(hook.kind.encode() + b"\0" + hook.raw_target.encode())
    for name in sorted(form):
        for value in form[name]:
            digest.update(b"\0" + name.encode() + b"=" + value.encode())
    return digest.hexdigest()


def hangup_xml() -> str:
    """Return the TwiML document that ends the call."""
    response = VoiceResponse()
    response.hangup()
    return str(response.to_xml())
